package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
)

// TestConfigUnknownKeysAndRanges: a misspelt key in a YAML or TOML file is
// named in a warning (ssld check, and the start-up log), not dropped
// silently; INI is not checked (its [mysqld] is mariadbd's too). Negative
// timeouts and a max_allowed_packet outside MySQL's range are refused,
// naming the key.
func TestConfigUnknownKeysAndRanges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	y := write("ssld.yaml", "ssl_certificate: x.crt\nusers:\n  - name: a\n    password: b\n    require_tls: true\ncluster:\n  leafs: [h:1]\n")
	c, err := config.Load(y)
	require.NoError(t, err)
	assert.Equal(t, []string{"cluster.leafs", "ssl_certificate", "users[0].require_tls"}, c.UnknownKeys())
	rep := runCheck(t, y, 0)
	assert.Contains(t, rep.Warnings, `config file `+y+`: unknown key "ssl_certificate" is ignored`)

	tm := write("ssld.toml", "ssl_crt = \"x\"\n")
	c, err = config.Load(tm)
	require.NoError(t, err)
	assert.Equal(t, []string{"ssl_crt"}, c.UnknownKeys())

	ini := write("my.cnf", "[mysqld]\ndatadir = /var/lib/mysql\nlisten = 127.0.0.1:4000\n")
	c, err = config.Load(ini)
	require.NoError(t, err)
	assert.Empty(t, c.UnknownKeys())

	for body, want := range map[string]string{
		"read_timeout: -1s\n":              "read_timeout -1s: must not be negative",
		"connect_timeout: -5s\n":           "connect_timeout -5s: must not be negative",
		"write_timeout: -1ms\n":            "write_timeout -1ms: must not be negative",
		"max_allowed_packet: 100\n":        "max_allowed_packet 100: must be between 1024 and 1073741824 bytes",
		"max_allowed_packet: 2147483648\n": "max_allowed_packet 2147483648: must be between",
	} {
		_, err := config.Load(write("r.yaml", body))
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want)
		assert.Contains(t, err.Error(), filepath.Join(dir, "r.yaml"))
	}
	c, err = config.Load(write("ok.yaml", "max_allowed_packet: 1024\nread_timeout: 0s\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(1024), c.MaxAllowedPacket)
	assert.Empty(t, c.UnknownKeys())
}

// TestConfigErrorNamesEnvironment: a bad value that came from SSLD_<KEY>
// names the variable, not only the file that does not hold it.
func TestConfigErrorNamesEnvironment(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\nrole: leaf\n"), 0o600))
	t.Setenv("SSLD_ROLE", "boss")
	_, err := config.Load(p)
	require.EqualError(t, err, `SSLD_ROLE (overriding config file `+p+`): role "boss": must be aggregator or leaf`)
	t.Setenv("SSLD_ROLE", "")
	t.Setenv("SSLD_LOG_LEVEL", "loud")
	rep := runCheck(t, p, 0)
	assert.Equal(t, []string{`SSLD_LOG_LEVEL (overriding config file ` + p + `): log_level "loud": want debug, info, warn or error`}, rep.Problems)
}
