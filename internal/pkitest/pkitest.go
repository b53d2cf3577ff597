// Package pkitest is internal/pki for tests: the same CAs and certificates,
// failing the test instead of returning an error. It imports "testing", so
// only tests import it; internal/pki itself is also used by `ssld serve
// --dev` and ssld-bench.
package pkitest

import (
	"testing"

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
