package config

import (
	"os"
	"path/filepath"
	"testing"

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
			c, err := Load(p)
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
			c, err = Load(p)
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
			_, err := Load(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), p)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
