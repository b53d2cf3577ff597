package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// parsedOK checks the error of one row of a parse table: with wantErr set
// the parse must fail with a message containing it; otherwise it must
// succeed, and parsedOK reports true so that the row's value is checked.
func parsedOK(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		require.ErrorContains(t, err, wantErr)
		return false
	}
	require.NoError(t, err)
	return true
}
