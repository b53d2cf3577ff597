package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevSourceAllowsIdentityChange: serve --dev's source turns the guard
// off (its generated certificate is nobody's identity); a config file's
// source keeps it on unless the file says otherwise.
func TestDevSourceAllowsIdentityChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte(DevLayoutConfig("127.0.0.1:0")), 0o600))
	for _, dev := range []bool{false, true} {
		st, _, err := NewSource(p, SourceOptions{AnyIdentity: dev}).LoadWithWarnings(t.Context())
		require.NoError(t, err)
		assert.Equal(t, dev, st.AllowIdentityChange)
	}
}
