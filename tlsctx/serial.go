package tlsctx

import (
	"encoding/hex"
	"math/big"
	"strings"
)

// FormatSerial formats a certificate serial number the way `openssl x509
// -serial` prints it: the big-endian magnitude bytes, two upper-case hex
// digits per byte, so a leading zero nibble is kept (0FF5A8..., never
// FF5A8...). Zero prints as "00" and a negative serial (invalid, but
// parseable) with a leading "-", as OpenSSL does. Operators compare this
// string with openssl's output, so every place ssld shows a serial (system
// variables, SHOW SSL STATUS, logs, ssld status, fan-out rows) uses it.
func FormatSerial(n *big.Int) string {
	if n == nil {
		return ""
	}
	b := n.Bytes() // magnitude, no sign byte
	if len(b) == 0 {
		return "00"
	}
	s := strings.ToUpper(hex.EncodeToString(b))
	if n.Sign() < 0 {
		return "-" + s
	}
	return s
}
