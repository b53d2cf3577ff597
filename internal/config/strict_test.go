package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigStrictStrings: a number or boolean where a string goes is an
// error naming the file, the line, the key and what was found, in every
// format; viper decoded weakly (`password: 0123` became "83", 0x1F "31",
// 1e3 "1000", true "1") and `ssld check` said ok. Quoted, the same text is
// the string it looks like; INI and SSLD_* values are strings and still
// read into numbers, booleans and durations.
func TestConfigStrictStrings(t *testing.T) {
	users := "users:\n  - name: admin\n    password: %s\n    privileges: [SUPER]\n"
	for _, tc := range []struct{ name, body, want string }{
		{"octal.yaml", "listen: 127.0.0.1:0\n" + sprintf(users, "0123"), " line 4: users[0].password: a number where a string goes"},
		{"hex.yaml", sprintf(users, "0x1F"), " line 3: users[0].password: a number where a string goes"},
		{"exp.yaml", sprintf(users, "1e3"), " line 3: users[0].password: a number where a string goes"},
		{"bool.yaml", sprintf(users, "true"), " line 3: users[0].password: a boolean where a string goes"},
		{"date.yaml", sprintf(users, "2024-01-01"), " line 3: users[0].password: a date where a string goes"},
		{"top.yaml", "role: leaf\nssl_key_passphrase: 0123\n", " line 2: ssl_key_passphrase: a number where a string goes"},
		{"list.yaml", "ssl_ca: [a, b]\n", " line 1: ssl_ca: a list where a string goes"},
		{"priv.yaml", "users:\n  - name: a\n    privileges: [1]\n", " line 3: users[0].privileges[0]: a number where a string goes"},
		{"num.toml", "role = \"leaf\"\n\n[[users]]\nname = \"admin\"\npassword = 123\n", " line 5: users[0].password: a number where a string goes"},
		{"inline.toml", "users = [{name = \"a\", password = true}]\n", " line 1: users[0].password: a boolean where a string goes"},
		{"num.json", `{"users": [{"name": "a", "password": 123}]}`, ": users[0].password: a number where a string goes"},
		{"dur.yaml", "reload_timeout: soon\n", " line 1: reload_timeout: cannot be read as a duration"},
		{"int.yaml", "max_connections: lots\n", " line 1: max_connections: cannot be read as a whole number"},
		{"bool.cnf", "[client]\nuser = x\n\n[ssld]\nmax-connections = 10\n\n[user a]\npassword = x\nrequire_ssl = maybe\n",
			" line 9: users[0].require_ssl: cannot be read as a boolean (true or false)"},
		{"int.cnf", "[mysqld]\nmax-connections = lots\n", " line 2: max_connections: cannot be read as a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.name)
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			_, err := Load(p)
			require.Error(t, err)
			contains(t, err.Error(), "config file "+p+tc.want)
			assert.NotContains(t, err.Error(), "soon")
			assert.NotContains(t, err.Error(), "lots")
			assert.NotContains(t, err.Error(), "maybe")
		})
	}

	for _, tc := range []struct{ name, body string }{
		{"quoted.yaml", sprintf(users, `"0123"`)},
		{"quoted.toml", "[[users]]\nname = \"admin\"\npassword = \"0123\"\nprivileges = [\"SUPER\"]\n"},
		{"my.cnf", "[user admin]\npassword = 0123\nprivileges = SUPER\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.name)
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			c, err := Load(p)
			require.NoError(t, err)
			require.Len(t, c.Users, 1)
			assert.Equal(t, "0123", c.Users[0].Password)
		})
	}

	t.Run("environment", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "ssld.yaml")
		require.NoError(t, os.WriteFile(p, []byte("role: leaf\n"), 0o600))
		t.Setenv("SSLD_MAX_CONNECTIONS", "12")
		t.Setenv("SSLD_SSL_KEY_PASSPHRASE", "0123")
		c, err := Load(p)
		require.NoError(t, err)
		assert.Equal(t, 12, c.MaxConnections)
		assert.Equal(t, "0123", c.SSLKeyPassphrase)
	})
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
