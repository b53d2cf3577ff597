//go:build cgo && unix

package tlsctx

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// The benchmarks behind docs/performance.md's "signature and reload
// validation" table:
//
//	go test -run '^$' -bench 'BenchmarkSign|BenchmarkReloadValidation|BenchmarkReloadChanged' -benchtime 2s ./tlsctx/

var keyTypes = []pki.KeyType{pki.RSA2048, pki.ECDSAP256}

// signOpts is what crypto/tls passes for a TLS 1.3 handshake signature.
func signOpts(kt pki.KeyType) crypto.SignerOpts {
	if kt == pki.RSA2048 {
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	return crypto.SHA256
}

// BenchmarkSign is one handshake signature with each backend.
func BenchmarkSign(b *testing.B) {
	requireOpenSSL(b)
	ca := pkitest.MustCA(b, "bench")
	for _, kt := range keyTypes {
		leaf := pkitest.MustIssue(b, ca, pki.LeafOptions{CN: "localhost", KeyType: kt})
		ossl, err := newOpenSSLSigner(leaf.Key)
		if err != nil {
			b.Fatal(err)
		}
		for _, bc := range []struct {
			backend CryptoBackend
			s       crypto.Signer
		}{{BackendGo, leaf.Key}, {BackendOpenSSL, ossl}} {
			b.Run(kt.String()+"/"+string(bc.backend), func(b *testing.B) {
				opts := signOpts(kt)
				for b.Loop() {
					if _, err := bc.s.Sign(rand.Reader, probeDigest[:], opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReloadValidation splits the key work of one changed reload:
// parsing the key (Go's parser checks the key's consistency), the
// key/certificate match check, and building the OpenSSL signer (import into
// libcrypto plus the probe signature that Go verifies).
func BenchmarkReloadValidation(b *testing.B) {
	requireOpenSSL(b)
	ca := pkitest.MustCA(b, "bench")
	for _, kt := range keyTypes {
		leaf := pkitest.MustIssue(b, ca, pki.LeafOptions{CN: "localhost", KeyType: kt})
		key, err := parsePrivateKey(leaf.KeyPEM, "")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kt.String()+"/parse", func(b *testing.B) {
			for b.Loop() {
				if _, err := parsePrivateKey(leaf.KeyPEM, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kt.String()+"/match", func(b *testing.B) {
			for b.Loop() {
				if !keyMatches(leaf.Cert, key) {
					b.Fatal("no match")
				}
			}
		})
		b.Run(kt.String()+"/openssl-signer", func(b *testing.B) {
			for b.Loop() {
				if _, err := newOpenSSLSigner(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReloadChanged is a whole Reload whose key and certificate
// changed (two pairs, alternated), with each backend.
func BenchmarkReloadChanged(b *testing.B) {
	requireOpenSSL(b)
	for _, kt := range keyTypes {
		for _, backend := range []CryptoBackend{BackendGo, BackendOpenSSL} {
			b.Run(kt.String()+"/"+string(backend), func(b *testing.B) {
				f := newFixture(b)
				f.writeLeaf("a", f.issue(pki.LeafOptions{KeyType: kt}))
				f.writeLeaf("b", f.issue(pki.LeafOptions{KeyType: kt}))
				f.set(func(s *Settings) { s.SSLCert, s.SSLKey = f.path("a.crt"), f.path("a.key") })
				m := f.manager(WithCryptoBackend(backend))
				ctx := context.Background()
				i := 0
				for b.Loop() {
					base := "a"
					if i%2 == 0 {
						base = "b"
					}
					i++
					f.set(func(s *Settings) { s.SSLCert, s.SSLKey = f.path(base+".crt"), f.path(base+".key") })
					res, err := m.Reload(ctx)
					if err != nil || !res.Changed {
						b.Fatal(err, res.Changed)
					}
				}
			})
		}
	}
}
