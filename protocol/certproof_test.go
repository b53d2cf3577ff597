package protocol_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
)

// nativeLoginReply sends a mysql_native_password handshake response for
// user/pw and returns the server's reply to it (OK or ERR payload).
func (w *wireClient) nativeLoginReply(user, pw string) []byte {
	w.t.Helper()
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(append([]byte{}, w.salt...), h2[:]...))
	for i := range h1 {
		h1[i] ^= h3[i]
	}
	w.send(wiretest.HandshakeResponse(w.flags(), user, h1[:], protocol.PluginNative))
	return w.read()
}

// okInfo is the info string of a login's OK packet (length-encoded after
// the status and warning count), nil when there is none.
func okInfo(t *testing.T, ok []byte) []byte {
	t.Helper()
	require.Equal(t, byte(0x00), ok[0], "an OK packet, got %q", ok)
	// 0x00, affected rows 0, last insert id 0 (one byte each at login),
	// status (2), warnings (2)
	rest := ok[1+1+1+2+2:]
	if len(rest) == 0 {
		return nil
	}
	require.Less(t, rest[0], byte(251), "a one-byte length")
	require.Len(t, rest, 1+int(rest[0]), "the info string is the rest of the packet")
	return rest[1:]
}

// TestCertProof: a mysql_native_password login over TLS ends with an OK
// packet whose info string is MariaDB's proof of the certificate the
// client got (MDEV-31855), computed here from what the client knows: the
// password, the scramble of the greeting and the certificate of its own TLS
// handshake. A wrong password gets an error and no proof; a
// caching_sha2_password login and a login without TLS get a plain OK.
func TestCertProof(t *testing.T) {
	srv := startServerWith(t, nil, []protocol.User{
		{Name: fuzzUser, Password: fuzzPW, Privileges: []string{"SUPER"}},
		{Name: sha2User, Password: sha2PW, Plugin: protocol.PluginCachingSHA},
	}, nil)
	addr := srv.Addr().String()

	t.Run("native over TLS", func(t *testing.T) {
		w := dialWire(t, "tcp", addr)
		w.startTLS()
		leaf := w.c.(*tls.Conn).ConnectionState().PeerCertificates[0]
		info := okInfo(t, w.nativeLoginReply(fuzzUser, fuzzPW))

		stage1 := sha1.Sum([]byte(fuzzPW))
		stored := sha1.Sum(stage1[:])
		fp := sha256.Sum256(leaf.Raw)
		want := sha256.Sum256(append(append(append([]byte{}, stored[:]...), w.salt...), fp[:]...))
		require.Len(t, w.salt, 20, "the greeting's scramble")
		require.NotEmpty(t, info, "the OK packet carries the proof")
		assert.Equal(t, byte(0x01), info[0], "marker: SHA-256")
		assert.Equal(t, hex.EncodeToString(want[:]), string(info[1:]))

		one := w.command(append([]byte{0x03}, "SELECT 1"...))
		assert.Equal(t, []byte{1}, one[0], "the session serves queries after the proof")
	})

	t.Run("wrong password", func(t *testing.T) {
		w := dialWire(t, "tcp", addr)
		w.startTLS()
		p := w.nativeLoginReply(fuzzUser, "not-"+fuzzPW)
		assert.Equal(t, uint16(1045), wiretest.ErrNum(p), "access denied, no proof: %q", p)
	})

	t.Run("caching_sha2_password over TLS", func(t *testing.T) {
		w := dialWire(t, "tcp", addr)
		w.startTLS()
		w.send(wiretest.HandshakeResponse(w.flags(), sha2User, make([]byte, 32), protocol.PluginCachingSHA))
		require.Equal(t, []byte{0x01, 0x04}, w.read(), "AuthMoreData: full authentication")
		w.send(append([]byte(sha2PW), 0))
		assert.Nil(t, okInfo(t, w.read()), "MariaDB defines no proof for caching_sha2_password")
	})

	t.Run("native without TLS", func(t *testing.T) {
		w := dialWire(t, "tcp", addr)
		assert.Nil(t, okInfo(t, w.nativeLoginReply(fuzzUser, fuzzPW)), "no certificate, no proof")
	})
}
