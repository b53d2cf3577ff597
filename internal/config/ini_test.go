package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestINISections: keys before any section are read (as in my.cnf), and a
// file whose settings are all in sections ssld ignores is refused, naming
// them.
func TestINISections(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssld.cnf")
	require.NoError(t, os.WriteFile(p, []byte("listen = 127.0.0.1:4000\nrole = leaf\n"), 0o600))
	c, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4000", c.Listen)
	assert.Equal(t, "leaf", c.Role)

	require.NoError(t, os.WriteFile(p, []byte("[client]\nuser = admin\n[mysql]\nport = 3307\n"), 0o600))
	_, err = Load(p)
	require.ErrorContains(t, err, "no [ssld] or [mysqld] section")
	assert.ErrorContains(t, err, "[client], [mysql]")
}
