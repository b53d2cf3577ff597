package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigReadableSecretsWarned: a config file that others can read
// and that holds a plain password or ssl_key_passphrase is named in a
// warning; hashes alone, or mode 0640, are quiet.
func TestConfigReadableSecretsWarned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.yaml")
	for _, tc := range []struct {
		body string
		mode os.FileMode
		want string
	}{
		{"users:\n  - name: a\n    password: pw\n", 0o644, "holds a plain password (users: password) and is readable by others (mode 0644)"},
		{"ssl_key_passphrase: pp\n", 0o604, "holds ssl_key_passphrase and is readable by others (mode 0604)"},
		{"users:\n  - name: a\n    password_hash: \"*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9\"\n", 0o644, ""},
		{"users:\n  - name: a\n    password: pw\n", 0o640, ""},
	} {
		require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\n"+tc.body), 0o600))
		require.NoError(t, os.Chmod(p, tc.mode))
		_, warnings, err := NewSource(p, SourceOptions{}).LoadWithWarnings(t.Context())
		require.NoError(t, err)
		if tc.want == "" {
			assert.Empty(t, warnings, tc.body)
			continue
		}
		require.Len(t, warnings, 1, tc.body)
		assert.Contains(t, warnings[0], "config file "+p+" "+tc.want)
		assert.NotContains(t, warnings[0], ": pw")
	}
}
