// Package wiretest speaks the MySQL client protocol by hand, for tests that
// must send what no driver sends: packet framing, the SSL request, the
// HandshakeResponse41 and ERR packets. Only tests import it.
package wiretest

import (
	"encoding/binary"
	"io"
)

// Client capability flags.
const (
	CapLongPassword = 0x00000001
	CapProtocol41   = 0x00000200
	CapSSL          = 0x00000800
	CapSecureConn   = 0x00008000
	CapPluginAuth   = 0x00080000
	// CapPluginAuthLenenc (CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA): the
	// auth response is length-encoded (see HandshakeResponseLenenc).
	CapPluginAuthLenenc = 0x00200000
	// CapsBase are the flags of a HandshakeResponse41 here: long
	// password, protocol 4.1, secure connection, plugin auth (add CapSSL
	// after an SSL request).
	CapsBase = CapLongPassword | CapProtocol41 | CapSecureConn | CapPluginAuth
)

// Packet frames payload as one MySQL packet with sequence id seq.
func Packet(seq byte, payload []byte) []byte {
	h := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	h[3] = seq
	return append(h, payload...)
}

// ReadPacket reads one MySQL packet from r and returns its sequence id and
// payload.
func ReadPacket(r io.Reader) (seq byte, payload []byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err = io.ReadFull(r, payload)
	return h[3], payload, err
}

// fixedPart is the 32-byte start of an SSL request and a
// HandshakeResponse41: flags, a 16 MiB max packet, utf8mb4_general_ci and
// 23 reserved bytes.
func fixedPart(flags uint32) []byte {
	p := binary.LittleEndian.AppendUint32(nil, flags)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 0x21)
	return append(p, make([]byte, 23)...)
}

// SSLRequest is the packet payload that asks the server to start TLS.
func SSLRequest() []byte { return fixedPart(CapsBase | CapSSL) }

// HandshakeResponse is a HandshakeResponse41 with these flags, user, auth
// data (length-prefixed) and auth plugin.
func HandshakeResponse(flags uint32, user string, auth []byte, plugin string) []byte {
	p := fixedPart(flags)
	p = append(append(p, user...), 0)
	p = append(append(p, byte(len(auth))), auth...)
	return append(append(p, plugin...), 0)
}

// HandshakeResponseLenenc is a HandshakeResponse41 with
// CapPluginAuthLenenc added to flags, whose auth response is lenencAuth as
// given: its length-encoded length and the bytes, as a test wants them
// (right or wrong).
func HandshakeResponseLenenc(flags uint32, user string, lenencAuth []byte, plugin string) []byte {
	p := fixedPart(flags | CapPluginAuthLenenc)
	p = append(append(p, user...), 0)
	p = append(p, lenencAuth...)
	return append(append(p, plugin...), 0)
}

// ErrNum is the error number of an ERR packet, or 0 for any other packet.
func ErrNum(p []byte) uint16 {
	if len(p) >= 3 && p[0] == 0xff {
		return binary.LittleEndian.Uint16(p[1:3])
	}
	return 0
}
