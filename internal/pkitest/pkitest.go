// Package pkitest is internal/pki for tests: the same CAs and certificates,
// failing the test instead of returning an error. It imports "testing", so
// only tests import it; internal/pki itself is also used by `ssld serve
// --dev` and ssld-bench.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/ssld/ssld/internal/pki"
)

// MustCA is pki.NewCA for tests: it fails tb on error. Safe for concurrent
// use.
func MustCA(tb testing.TB, cn string, opts ...pki.Option) *pki.CA {
	tb.Helper()
	ca, err := pki.NewCA(cn, opts...)
	if err != nil {
		tb.Fatalf("pki: new CA %q: %v", cn, err)
	}
	return ca
}

// MustIssue is ca.Issue for tests: it fails tb on error.
func MustIssue(tb testing.TB, ca *pki.CA, o pki.LeafOptions) *pki.Leaf {
	tb.Helper()
	l, err := ca.Issue(o)
	if err != nil {
		tb.Fatalf("pki: issue %q: %v", o.CN, err)
	}
	return l
}

// Chain is a root CA, an intermediate CA under it and a leaf issued by the
// intermediate.
type Chain struct {
	Root, Intermediate *pki.CA
	Leaf               *pki.Leaf
}

// MustChain mints a root CA named "short root" valid until rootNotAfter, an
// intermediate "short intermediate" under it valid until interNotAfter, and
// a localhost leaf (pki.DevServerOptions) from the intermediate valid until
// leafNotAfter: a chain whose CAs can expire before its leaf, in either
// order.
func MustChain(tb testing.TB, rootNotAfter, interNotAfter, leafNotAfter time.Time) Chain {
	tb.Helper()
	notBefore := time.Now().Add(-time.Hour)
	root := MustCA(tb, "short root", pki.WithValidity(notBefore, rootNotAfter))
	inter, err := root.Intermediate("short intermediate", pki.WithValidity(notBefore, interNotAfter))
	if err != nil {
		tb.Fatalf("pki: intermediate: %v", err)
	}
	o := pki.DevServerOptions()
	o.NotAfter = leafNotAfter
	return Chain{Root: root, Intermediate: inter, Leaf: MustIssue(tb, inter, o)}
}

// LegacyEncryptedKey returns l's ECDSA key as a legacy PEM-encrypted block
// (Proc-Type: 4,ENCRYPTED, AES-256): what many deployments still ship with
// ssl_key_passphrase.
func LegacyEncryptedKey(tb testing.TB, l *pki.Leaf, pass string) []byte {
	tb.Helper()
	ec, ok := l.Key.(*ecdsa.PrivateKey)
	if !ok {
		tb.Fatalf("pkitest: LegacyEncryptedKey needs an ECDSA key, got %T", l.Key)
	}
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		tb.Fatalf("pkitest: %v", err)
	}
	//lint:ignore SA1019 tests must produce what operators still deploy.
	b, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(pass), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		tb.Fatalf("pkitest: %v", err)
	}
	return pem.EncodeToMemory(b)
}
