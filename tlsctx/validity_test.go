package tlsctx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

// TestErrOutsideValidity: an expired or not yet valid leaf is a
// *ReloadError that wraps ErrOutsideValidity, from Check and from Reload;
// other problems with the same file (a key that does not match, a leaf
// unfit for server auth) do not.
func TestErrOutsideValidity(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name    string
		leaf    pki.LeafOptions
		badKey  bool
		outside bool
	}{
		{name: "expired", leaf: pki.LeafOptions{CN: "old", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, outside: true},
		{name: "not yet valid", leaf: pki.LeafOptions{CN: "new", NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}, outside: true},
		{name: "expired and key does not match", leaf: pki.LeafOptions{CN: "old", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, badKey: true},
		{name: "CA certificate as leaf", leaf: pki.LeafOptions{CN: "ca-ish", IsCA: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager()
			m.pairTries, m.pairWait = 2, time.Millisecond
			f.writeLeaf("server", f.issue(tc.leaf))
			if tc.badKey {
				f.write("server.key", f.issue(pki.LeafOptions{}).KeyPEM, 0o600)
			}
			_, err := m.Reload(context.Background())
			require.Error(t, err)
			var re *ReloadError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.outside, errors.Is(err, ErrOutsideValidity), err.Error())

			rep, err := Check(context.Background(), f)
			require.NoError(t, err)
			require.Error(t, rep.Err())
			assert.Equal(t, tc.outside, errors.Is(rep.Err(), ErrOutsideValidity), rep.Err().Error())
		})
	}
}
