package protocol_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/binary"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
)

// TestNoReflectOrUnsafe: package protocol reaches nothing of vitess's by
// reflection or unsafe pointers (the command hook and the login packets
// vitess does not write are the transport's), so a vitess upgrade that
// renames an unexported field cannot break a feature at run time.
func TestNoReflectOrUnsafe(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			assert.NotContains(t, []string{"reflect", "unsafe"}, path, "%s imports %s", name, path)
		}
		checked++
	}
	assert.Greater(t, checked, 10, "the package's source files were found")
}

// wireClient is a hand-written MySQL client that checks the sequence id
// of every packet it reads.
type wireClient struct {
	t    *testing.T
	c    net.Conn
	seq  byte // the next sequence id, sent or expected
	salt []byte
}

// dialWire connects over network to addr and reads the greeting.
func dialWire(t *testing.T, network, addr string) *wireClient {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	w := &wireClient{t: t, c: c}
	g := w.read()
	require.Equal(t, byte(10), g[0], "HandshakeV10")
	nul := bytes.IndexByte(g[1:], 0) + 1
	pos := nul + 1 + 4
	w.salt = append([]byte{}, g[pos:pos+8]...)
	pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	w.salt = append(w.salt, g[pos:pos+12]...)
	return w
}

// read reads one packet and checks its sequence id.
func (w *wireClient) read() []byte {
	w.t.Helper()
	seq, p, err := wiretest.ReadPacket(w.c)
	require.NoError(w.t, err)
	require.Equal(w.t, w.seq, seq, "sequence id of %q", p)
	w.seq++
	return p
}

func (w *wireClient) send(payload []byte) {
	w.t.Helper()
	_, err := w.c.Write(wiretest.Packet(w.seq, payload))
	require.NoError(w.t, err)
	w.seq++
}

// startTLS sends the SSL request and runs the TLS handshake. The server's
// certificate is not what this client checks (its own CA is the fixture's).
func (w *wireClient) startTLS() {
	w.t.Helper()
	w.send(wiretest.SSLRequest())
	tc := tls.Client(w.c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // packet numbering is under test, not the certificate
	require.NoError(w.t, tc.Handshake())
	w.c = tc
}

func (w *wireClient) flags() uint32 {
	if _, ok := w.c.(*tls.Conn); ok {
		return wiretest.CapsBase | wiretest.CapSSL
	}
	return wiretest.CapsBase
}

// loginNative logs in with mysql_native_password.
func (w *wireClient) loginNative(user, pw string) {
	w.t.Helper()
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(append([]byte{}, w.salt...), h2[:]...))
	for i := range h1 {
		h1[i] ^= h3[i]
	}
	w.send(wiretest.HandshakeResponse(w.flags(), user, h1[:], protocol.PluginNative))
	p := w.read()
	require.Equal(w.t, byte(0x00), p[0], "OK of the login, got %q", p)
}

// loginSHA2Full logs in with caching_sha2_password's full authentication
// (a scramble that is no cached one, then the password in clear, which
// only TLS allows): the server writes an AuthMoreData packet that vitess
// does not write itself.
func (w *wireClient) loginSHA2Full(user, pw string) {
	w.t.Helper()
	w.send(wiretest.HandshakeResponse(w.flags(), user, make([]byte, 32), protocol.PluginCachingSHA))
	p := w.read()
	require.Equal(w.t, []byte{0x01, 0x04}, p, "AuthMoreData: full authentication")
	w.send(append([]byte(pw), 0))
	p = w.read()
	require.Equal(w.t, byte(0x00), p[0], "OK of the login, got %q", p)
}

// command sends a command and reads its whole answer (one packet, or a
// text result set up to its closing EOF), checking that the answer is
// numbered from 1. It returns the answer's packets.
func (w *wireClient) command(payload []byte) [][]byte {
	w.t.Helper()
	w.seq = 0
	w.send(payload)
	first := w.read()
	if first[0] == 0x00 || first[0] == 0xff || payload[0] == 0x09 {
		return [][]byte{first}
	}
	pkts := [][]byte{first}
	for eofs := 0; eofs < 2; {
		p := w.read()
		pkts = append(pkts, p)
		if p[0] == 0xfe && len(p) < 9 {
			eofs++
		}
		require.Less(w.t, len(pkts), 1000, "a result set of bounded size")
	}
	return pkts
}

// TestAdminCommandSequences: COM_STATISTICS, COM_PROCESS_INFO,
// COM_PROCESS_KILL and COM_REFRESH answered through the transport's command
// hook, numbered as MySQL numbers them (from 1, each packet one more), over
// TLS (after a login renumbered by the upgrade, with and without a
// caching_sha2_password exchange) and over the Unix socket; the connection
// serves a query afterwards.
func TestAdminCommandSequences(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ssld.sock")
	srv := startServerWith(t, nil, []protocol.User{
		{Name: fuzzUser, Password: fuzzPW, Privileges: []string{"SUPER"}},
		{Name: sha2User, Password: sha2PW, Plugin: protocol.PluginCachingSHA, Privileges: []string{"SUPER"}},
	}, func(c *protocol.Config) { c.Socket = sock })
	addr := srv.Addr().String()

	for _, tc := range []struct {
		name  string
		login func(t *testing.T) *wireClient
	}{
		{"tls native", func(t *testing.T) *wireClient {
			w := dialWire(t, "tcp", addr)
			w.startTLS()
			w.loginNative(fuzzUser, fuzzPW)
			return w
		}},
		{"tls caching_sha2_password", func(t *testing.T) *wireClient {
			w := dialWire(t, "tcp", addr)
			w.startTLS()
			w.loginSHA2Full(sha2User, sha2PW)
			return w
		}},
		{"socket", func(t *testing.T) *wireClient {
			w := dialWire(t, "unix", sock)
			w.loginNative(fuzzUser, fuzzPW)
			return w
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := tc.login(t)
			id := victim.command(append([]byte{0x03}, "SELECT CONNECTION_ID()"...))
			require.Len(t, id, 5, "one column, one row")
			victimID, err := strconv.ParseUint(string(id[3][1:]), 10, 32)
			require.NoError(t, err)

			w := tc.login(t)
			stats := w.command([]byte{0x09}) // COM_STATISTICS
			assert.Regexp(t, `^Uptime: \d+  Threads: \d+  Questions: \d+ `, string(stats[0]))

			list := w.command([]byte{0x0a}) // COM_PROCESS_INFO
			require.Equal(t, []byte{8}, list[0], "SHOW PROCESSLIST's eight columns")
			var ids []string
			for _, row := range list[1+8+1 : len(list)-1] {
				ids = append(ids, string(row[1:1+row[0]])) // Id, the first column
			}
			assert.Contains(t, ids, strconv.FormatUint(victimID, 10), "the other connection is listed")

			refresh := w.command([]byte{0x07, 0x04}) // COM_REFRESH(REFRESH_TABLES)
			assert.Equal(t, byte(0x00), refresh[0][0], "OK, got %q", refresh[0])
			refresh = w.command([]byte{0x07}) // no flags byte
			assert.Equal(t, uint16(1835), wiretest.ErrNum(refresh[0]), "malformed, got %q", refresh[0])

			kill := w.command([]byte{0x0c, 0xff, 0xff, 0xff, 0x7f}) // COM_PROCESS_KILL of no connection
			assert.Equal(t, uint16(1094), wiretest.ErrNum(kill[0]), "unknown thread id, got %q", kill[0])
			kill = w.command(binary.LittleEndian.AppendUint32([]byte{0x0c}, uint32(victimID)))
			assert.Equal(t, byte(0x00), kill[0][0], "OK, got %q", kill[0])
			_, _, err = wiretest.ReadPacket(victim.c)
			assert.Error(t, err, "the killed connection is closed")

			one := w.command(append([]byte{0x03}, "SELECT 1"...))
			assert.Equal(t, []byte{1}, one[0], "the connection still serves queries")
		})
	}
}
