package pki

import "testing"

// MustCA is NewCA for tests: it fails tb on error. Safe for concurrent use.
func MustCA(tb testing.TB, cn string, opts ...Option) *CA {
	tb.Helper()
	ca, err := NewCA(cn, opts...)
	if err != nil {
		tb.Fatalf("pki: new CA %q: %v", cn, err)
	}
	return ca
}

// MustIssue is CA.Issue for tests: it fails tb on error.
func (ca *CA) MustIssue(tb testing.TB, o LeafOptions) *Leaf {
	tb.Helper()
	l, err := ca.Issue(o)
	if err != nil {
		tb.Fatalf("pki: issue %q: %v", o.CN, err)
	}
	return l
}
