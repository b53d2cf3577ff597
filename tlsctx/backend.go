package tlsctx

import (
	"crypto"
	"fmt"
	"strings"
)

// CryptoBackend selects what performs the private-key operation of a
// channel's certificate (the handshake signature). crypto/tls stays the
// TLS stack with every backend: only the signature moves.
type CryptoBackend string

const (
	// BackendAuto uses OpenSSL when libcrypto.so.3 loads, else Go. It is
	// the default.
	BackendAuto CryptoBackend = "auto"
	// BackendOpenSSL signs with OpenSSL's libcrypto.so.3, loaded at run
	// time through github.com/golang-fips/openssl/v2. New fails when the
	// library cannot be loaded (or the binary was built with CGO_ENABLED=0).
	BackendOpenSSL CryptoBackend = "openssl"
	// BackendGo signs with Go's crypto/rsa and crypto/ecdsa.
	BackendGo CryptoBackend = "go"
)

// ParseCryptoBackend parses the crypto_backend setting: auto, openssl or go
// (case-insensitive); "" means auto.
func ParseCryptoBackend(s string) (CryptoBackend, error) {
	switch b := CryptoBackend(strings.ToLower(strings.TrimSpace(s))); b {
	case "":
		return BackendAuto, nil
	case BackendAuto, BackendOpenSSL, BackendGo:
		return b, nil
	default:
		return "", fmt.Errorf("unknown crypto backend %q (want auto, openssl or go)", s)
	}
}

// WithCryptoBackend chooses the backend that signs handshakes (default
// BackendAuto). The choice is made once, in New, and holds for the life
// of the Manager: every reload uses the same backend. A key the backend
// cannot take (OpenSSL: Ed25519, multi-prime RSA, an uncommon curve) is
// signed in Go instead, with a warning in the reload result; it never
// fails a reload.
func WithCryptoBackend(b CryptoBackend) Option {
	return func(o *options) { o.backend = b }
}

// CryptoBackend returns the backend the Manager resolved in New: BackendOpenSSL
// or BackendGo (never BackendAuto). Snapshot.KeyBackend says which one signs
// for a given snapshot.
func (m *Manager) CryptoBackend() CryptoBackend { return m.backend }

// CryptoBackendInfo describes the resolved backend for a start-up log line:
// the OpenSSL version text, or why Go is used.
func (m *Manager) CryptoBackendInfo() string { return m.backendInfo }

// loadOpenSSLFunc is a seam: tests replace it to simulate a machine
// without libcrypto.
var loadOpenSSLFunc = loadOpenSSL

// resolveBackend turns the requested backend into the one used, with a
// line of detail for the start-up log.
func resolveBackend(want CryptoBackend) (CryptoBackend, string, error) {
	if want == "" {
		want = BackendAuto
	}
	if _, err := ParseCryptoBackend(string(want)); err != nil {
		return "", "", err
	}
	if want == BackendGo {
		return BackendGo, "Go crypto (crypto_backend: go)", nil
	}
	version, err := loadOpenSSLFunc()
	if err == nil {
		return BackendOpenSSL, version, nil
	}
	if want == BackendOpenSSL {
		return "", "", fmt.Errorf("crypto_backend is openssl but %s cannot be loaded: %v", libcryptoName, err)
	}
	return BackendGo, fmt.Sprintf("Go crypto (%s not available: %v)", libcryptoName, err), nil
}

// keySigner returns the signer that handshakes use for key under backend,
// the backend actually used, and a warning when OpenSSL was asked for but
// cannot take the key (the Go key is used then). key must already match
// the certificate; the OpenSSL signer is checked against the same public
// key with a probe signature before it is used.
func keySigner(backend CryptoBackend, key crypto.Signer) (crypto.Signer, CryptoBackend, string) {
	if backend != BackendOpenSSL {
		return key, BackendGo, ""
	}
	s, err := newOpenSSLSigner(key)
	if err != nil {
		return key, BackendGo, fmt.Sprintf("crypto_backend openssl cannot take this key (%v); it is signed in Go", err)
	}
	return s, BackendOpenSSL, ""
}
