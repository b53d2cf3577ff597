package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigFormats: YAML, TOML, my.cnf-style INI and JSON describe the
// same node; relative paths resolve against the file's folder; SSLD_* overrides.
func TestConfigFormats(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"ssld.yaml": `listen: 127.0.0.1:4000
role: leaf
ssl_cert: certs/server.crt
ssl_key: /abs/server.key
require_secure_transport: true
connect_timeout: 3s
users:
  - name: admin
    password_hash: "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"
    privileges: [SUPER]
    require_ssl: true
cluster:
  aggregators: [10.0.0.1:3307]
  leaves: [10.0.0.2:3307, 10.0.0.3:3307]
`,
		"ssld.toml": `listen = "127.0.0.1:4000"
role = "leaf"
ssl_cert = "certs/server.crt"
ssl_key = "/abs/server.key"
require_secure_transport = true
connect_timeout = "3s"

[[users]]
name = "admin"
password_hash = "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"
privileges = ["SUPER"]
require_ssl = true

[cluster]
aggregators = ["10.0.0.1:3307"]
leaves = ["10.0.0.2:3307", "10.0.0.3:3307"]
`,
		"my.cnf": `[client]
user = someone-else

[ssld]
listen = 127.0.0.1:4000
role = leaf
ssl-cert = certs/server.crt
ssl_key = /abs/server.key
require-secure-transport = true
connect_timeout = 3s
cluster_aggregators = 10.0.0.1:3307
cluster_leaves = 10.0.0.2:3307, 10.0.0.3:3307

[user admin]
password_hash = *6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9
privileges = SUPER
require_ssl = true
`,
		"ssld.json": `{"listen": "127.0.0.1:4000", "role": "leaf", "ssl_cert": "certs/server.crt", "ssl_key": "/abs/server.key",
	"require_secure_transport": true, "connect_timeout": "3s",
	"users": [{"name": "admin", "password_hash": "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9", "privileges": ["SUPER"], "require_ssl": true}],
	"cluster": {"aggregators": ["10.0.0.1:3307"], "leaves": ["10.0.0.2:3307", "10.0.0.3:3307"]}}
`,
	}
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
			c, err := loadConfig(p)
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1:4000", c.Listen)
			assert.Equal(t, "leaf", c.Role)
			assert.Equal(t, filepath.Join(dir, "certs/server.crt"), c.SSLCert, "relative to the config's folder")
			assert.Equal(t, "/abs/server.key", c.SSLKey)
			assert.True(t, c.RequireSecureTransport)
			assert.Equal(t, "3s", c.ConnectTimeout.String())
			assert.Equal(t, "TLSv1.2,TLSv1.3", c.TLSVersion, "default")
			require.Len(t, c.Users, 1)
			assert.Equal(t, "admin", c.Users[0].Name)
			assert.Equal(t, []string{"SUPER"}, c.Users[0].Privileges)
			assert.True(t, c.Users[0].RequireSSL)
			assert.Equal(t, []string{"10.0.0.1:3307"}, c.Cluster.Aggregators)
			assert.Equal(t, []string{"10.0.0.2:3307", "10.0.0.3:3307"}, c.Cluster.Leaves)

			t.Setenv("SSLD_SSL_CERT", "/env/override.crt")
			t.Setenv("SSLD_LISTEN", "127.0.0.1:5000")
			c, err = loadConfig(p)
			require.NoError(t, err)
			assert.Equal(t, "/env/override.crt", c.SSLCert)
			assert.Equal(t, "127.0.0.1:5000", c.Listen)
		})
	}

	for _, tc := range []struct{ name, body, want string }{
		{"missing.yaml", "", "does not exist"},
		{"bad.yaml", "listen: [unclosed\n", "cannot parse"},
		{"role.yaml", "role: boss\n", "role"},
		{"maxconn.yaml", "max_connections: 0\n", "max_connections 0: must be at least 1"},
		{"ssld.env", "LISTEN=127.0.0.1:0\n", "unknown format: the name must end in .yaml, .yml, .toml, .json, .cnf, .ini or .conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if tc.body != "" {
				require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			}
			_, err := loadConfig(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), p)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

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
	c, err := loadConfig(y)
	require.NoError(t, err)
	assert.Equal(t, []string{"cluster.leafs", "ssl_certificate", "users[0].require_tls"}, c.unknown)
	rep := runCheck(t.Context(), y, 0, time.Now())
	assert.Contains(t, rep.Warnings, `config file `+y+`: unknown key "ssl_certificate" is ignored`)

	tm := write("ssld.toml", "ssl_crt = \"x\"\n")
	c, err = loadConfig(tm)
	require.NoError(t, err)
	assert.Equal(t, []string{"ssl_crt"}, c.unknown)

	ini := write("my.cnf", "[mysqld]\ndatadir = /var/lib/mysql\nlisten = 127.0.0.1:4000\n")
	c, err = loadConfig(ini)
	require.NoError(t, err)
	assert.Empty(t, c.unknown)

	for body, want := range map[string]string{
		"read_timeout: -1s\n":              "read_timeout -1s: must not be negative",
		"connect_timeout: -5s\n":           "connect_timeout -5s: must not be negative",
		"write_timeout: -1ms\n":            "write_timeout -1ms: must not be negative",
		"max_allowed_packet: 100\n":        "max_allowed_packet 100: must be between 1024 and 1073741824 bytes",
		"max_allowed_packet: 2147483648\n": "max_allowed_packet 2147483648: must be between",
	} {
		_, err := loadConfig(write("r.yaml", body))
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want)
		assert.Contains(t, err.Error(), filepath.Join(dir, "r.yaml"))
	}
	c, err = loadConfig(write("ok.yaml", "max_allowed_packet: 1024\nread_timeout: 0s\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(1024), c.MaxAllowedPacket)
	assert.Empty(t, c.unknown)
}

// TestConfigErrorNamesEnvironment: a bad value that came from SSLD_<KEY>
// names the variable, not only the file that does not hold it.
func TestConfigErrorNamesEnvironment(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssld.yaml")
	require.NoError(t, os.WriteFile(p, []byte("listen: 127.0.0.1:0\nrole: leaf\n"), 0o600))
	t.Setenv("SSLD_ROLE", "boss")
	_, err := loadConfig(p)
	require.EqualError(t, err, `SSLD_ROLE (overriding config file `+p+`): role "boss": must be aggregator or leaf`)
	t.Setenv("SSLD_ROLE", "")
	t.Setenv("SSLD_LOG_LEVEL", "loud")
	rep := runCheck(t.Context(), p, 0, time.Now())
	assert.Equal(t, []string{`SSLD_LOG_LEVEL (overriding config file ` + p + `): log_level "loud": want debug, info, warn or error`}, rep.Problems)
}
