package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerVersionChecked: a server_version clients cannot take stops
// start-up with an error naming the key and the file.
func TestServerVersionChecked(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.yaml")
	for _, tc := range []struct{ value, want string }{
		{`""`, "must not be empty"},
		{"MariaDB-11.4", "must start with the version number"},
		{"8.0." + strings.Repeat("x", 57), "at most 60"},
		{`"11.4.5\tMariaDB"`, "not printable ASCII"},
	} {
		require.NoError(t, os.WriteFile(p, []byte("server_version: "+tc.value+"\n"), 0o600))
		_, err := Load(p)
		require.Error(t, err, tc.value)
		assert.Contains(t, err.Error(), "server_version")
		assert.Contains(t, err.Error(), p)
		assert.Contains(t, err.Error(), tc.want)
	}
}
