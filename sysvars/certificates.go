package sysvars

import (
	"encoding/json"

	"github.com/ssld/ssld/tlsctx"
)

// ServedCertificate is one element of @@ssl_server_certificates: one
// certificate a channel serves, in the order of ssl_cert. Times are in
// TimeFormat (UTC), like @@ssl_server_not_after.
type ServedCertificate struct {
	Position    int      `json:"position"`
	KeyType     string   `json:"key_type"` // "ECDSA P-256", "RSA 2048", "Ed25519"
	KeyBackend  string   `json:"key_backend,omitempty"`
	Serial      string   `json:"serial"`      // as @@ssl_server_serial prints it
	Fingerprint string   `json:"fingerprint"` // SHA-256 of the DER, lower-case hex
	NotBefore   string   `json:"not_before"`
	NotAfter    string   `json:"not_after"`
	Subject     string   `json:"subject"`
	SANs        []string `json:"sans"`
	CertFile    string   `json:"cert_file"`
}

// ServedCertificates lists every certificate of s, first to last; nil
// when TLS is off.
func ServedCertificates(s *tlsctx.Snapshot) []ServedCertificate {
	certs := s.Served()
	if certs == nil {
		return nil
	}
	out := make([]ServedCertificate, 0, len(certs))
	for _, c := range certs {
		sans := c.SANs()
		if sans == nil {
			sans = []string{}
		}
		out = append(out, ServedCertificate{
			Position: c.Position, KeyType: c.KeyType(), KeyBackend: string(c.KeyBackend),
			Serial: c.Serial(), Fingerprint: c.Fingerprint(),
			NotBefore: FormatTime(c.Leaf.NotBefore), NotAfter: FormatTime(c.Leaf.NotAfter),
			Subject: c.Leaf.Subject.String(), SANs: sans, CertFile: c.CertFile,
		})
	}
	return out
}

// ServedCertificatesJSON is ServedCertificates as the JSON array
// @@ssl_server_certificates holds; "" when TLS is off.
func ServedCertificatesJSON(s *tlsctx.Snapshot) string {
	list := ServedCertificates(s)
	if list == nil {
		return ""
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "" // strings and ints only: cannot happen
	}
	return string(b)
}
