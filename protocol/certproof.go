package protocol

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
)

// MariaDB's zero-configuration TLS (MDEV-31855, MariaDB 11.4): a client
// that was given no CA accepts the server's certificate during the TLS
// handshake, and verifies it after the login instead. The server proves
// that it knows the account's password hash and that the certificate the
// client got is the one it served: the info string of the login's OK
// packet carries
//
//	0x01 (the digest is SHA-256), then in lower-case hex
//	SHA-256(password hash || scramble || SHA-256(DER of the served leaf))
//
// where the password hash is mysql_native_password's SHA1(SHA1(password))
// and the scramble is the 20 bytes the client answered. A man in the middle
// with its own certificate cannot produce it without the hash. The
// client-side rule is in MariaDB Connector/C and in the Node.js mariadb
// connector (validateFingerPrint in lib/cmd/handshake/authentication.js);
// those clients apply it to a server whose greeting says MariaDB 11.4.1 or
// later (server_version).
//
// MariaDB defines the proof for plugins whose stored secret the client can
// compute (mysql_native_password, ed25519, parsec), not for
// caching_sha2_password, which MariaDB does not have: its users get no
// proof, and a client without a CA refuses them as before. A failed login
// gets an error packet and so no proof either.

// certProofSHA256 is the first byte of the proof: the digest is SHA-256.
const certProofSHA256 = 0x01

// scrambleLen is the length of mysql_native_password's scramble.
const scrambleLen = 20

// certProof is the info string of the login's OK packet for a
// mysql_native_password login that answered scramble, for the account whose
// stored hash is nativeHash, on a connection that was served leaf.
func certProof(nativeHash, scramble []byte, leaf *x509.Certificate) []byte {
	// vitess hands the auth-switch scramble over with its NUL terminator.
	scramble = scramble[:min(len(scramble), scrambleLen)]
	fp := sha256.Sum256(leaf.Raw)
	h := sha256.New()
	h.Write(nativeHash)
	h.Write(scramble)
	h.Write(fp[:])
	out := make([]byte, 1, 1+2*sha256.Size)
	out[0] = certProofSHA256
	return hex.AppendEncode(out, h.Sum(nil))
}

// offerCertProof has the transport of c put the proof for this login in the
// OK packet that ends it. It does nothing when c has no TLS or the served
// certificate is not known. Called on the connection's goroutine after the
// login succeeded and before vitess writes the OK packet.
func offerCertProof(c net.Conn, nativeHash, scramble []byte) {
	g, ok := c.(*guardedConn)
	if !ok || g.tc.Load() == nil || g.served == nil || len(nativeHash) == 0 {
		return
	}
	g.wmu.Lock()
	g.okInfo = certProof(nativeHash, scramble, g.served)
	g.wmu.Unlock()
}

// addOKInfo appends info, length-encoded as MariaDB writes it, to the login's
// OK packet in the pending bytes b (vitess writes it without an info
// string: header, 0x00, affected rows 0, last insert id 0, status, warnings,
// 7 bytes of payload). Any other packet (an error from the initial
// database, say) is left as it is. It returns the new pending bytes.
func addOKInfo(b, info []byte) []byte {
	const okLen = 7
	for pos := 0; pos+4 <= len(b); {
		n := int(b[pos]) | int(b[pos+1])<<8 | int(b[pos+2])<<16
		if pos+4+n > len(b) {
			return b
		}
		if n == okLen && b[pos+4] == 0x00 && pos+4+n == len(b) && len(info) < 251 {
			out := make([]byte, 0, len(b)+1+len(info))
			out = append(out, b[:pos]...)
			m := n + 1 + len(info)
			out = append(out, byte(m), byte(m>>8), byte(m>>16), b[pos+3])
			out = append(out, b[pos+4:pos+4+n]...)
			out = append(out, byte(len(info)))
			return append(out, info...)
		}
		pos += 4 + n
	}
	return b
}
