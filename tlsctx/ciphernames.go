package tlsctx

import "crypto/tls"

// openSSLCipherNames maps every cipher suite crypto/tls can negotiate
// (tls.CipherSuites and tls.InsecureCipherSuites) to the name OpenSSL
// gives it, which is what MySQL and MariaDB report in Ssl_cipher and what
// dashboards and compliance scripts match. TLS 1.3 suites keep their IANA
// names in OpenSSL too. TestOpenSSLCipherNames checks the table against
// `openssl ciphers -stdname` and against crypto/tls's lists.
var openSSLCipherNames = map[uint16]string{
	// TLS 1.3
	tls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",

	// TLS 1.0-1.2, ECDHE
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",

	// TLS 1.0-1.2, RSA key exchange
	tls.TLS_RSA_WITH_RC4_128_SHA:        "RC4-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:   "DES-CBC3-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:    "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:    "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
}

// OpenSSLCipherName returns OpenSSL's name for the cipher suite id, as
// MySQL's Ssl_cipher reports it; a suite crypto/tls adds later and the
// table does not know yet keeps Go's (IANA) name.
func OpenSSLCipherName(id uint16) string {
	if n, ok := openSSLCipherNames[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}
