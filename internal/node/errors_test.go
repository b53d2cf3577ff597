package node_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestErrorNumbersOverWire pins the error numbers, SQLSTATEs and texts that
// clients see, over real connections.
func TestErrorNumbersOverWire(t *testing.T) {
	tn := nodetest.New(t, "")
	tlsName := tn.TLSName(nil)
	admin := tn.DB("admin", nodetest.AdminPW, tlsName)
	monitor := tn.DB("monitor", nodetest.MonitorPW, tlsName)
	ctx := nodetest.Ctx(t)

	for _, tc := range []struct {
		name    string
		run     func() error
		num     uint16
		state   string
		message string
	}{
		{"non-SUPER SSL_RELOAD", func() error { _, err := monitor.ExecContext(ctx, "SSL_RELOAD"); return err },
			1227, "42000", "Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation"},
		{"non-SUPER ALTER INSTANCE", func() error { _, err := monitor.ExecContext(ctx, "ALTER INSTANCE RELOAD TLS"); return err },
			1227, "42000", "Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation"},
		{"non-SUPER FLUSH SSL", func() error { _, err := monitor.ExecContext(ctx, "FLUSH SSL"); return err },
			1227, "42000", "Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation"},
		{"wrong password", func() error { return tn.DB("admin", "nope", tlsName).PingContext(ctx) },
			1045, "28000", "Access denied for user 'admin'@'127.0.0.1' (using password: YES)"},
		{"unknown user looks the same", func() error { return tn.DB("ghost", "nope", tlsName).PingContext(ctx) },
			1045, "28000", "Access denied for user 'ghost'@'127.0.0.1' (using password: YES)"},
		// As MySQL: NO when the client sent no password at all (a hook
		// run without its password), known user or not, either plugin.
		{"no password", func() error { return tn.DB("admin", "", tlsName).PingContext(ctx) },
			1045, "28000", "Access denied for user 'admin'@'127.0.0.1' (using password: NO)"},
		{"no password, caching_sha2_password user", func() error { return tn.DB("sha", "", tlsName).PingContext(ctx) },
			1045, "28000", "Access denied for user 'sha'@'127.0.0.1' (using password: NO)"},
		{"no password, unknown user", func() error { return tn.DB("ghost", "", tlsName).PingContext(ctx) },
			1045, "28000", "Access denied for user 'ghost'@'127.0.0.1' (using password: NO)"},
		{"require_ssl user over plain TCP", func() error { return tn.DB("admin", nodetest.AdminPW, "false").PingContext(ctx) },
			1045, "28000", "Access denied for user 'admin'@'127.0.0.1'"},
		{"unknown variable", func() error { var s string; return admin.QueryRowContext(ctx, "SELECT @@no_such_var").Scan(&s) },
			1193, "HY000", "Unknown system variable 'no_such_var'"},
		{"syntax", func() error { _, err := admin.ExecContext(ctx, "SELEKT 1"); return err },
			1064, "42000", "syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			me := nodetest.SQLErr(t, tc.run())
			assert.Equal(t, tc.num, me.Number)
			assert.Equal(t, tc.state, string(me.SQLState[:]))
			assert.Contains(t, me.Message, tc.message)
		})
	}

	// The plain user (no require_ssl) may use plain TCP.
	require.NoError(t, tn.DB("plain", nodetest.PlainPW, "false").PingContext(ctx))
}

// TestUnixSocketWithoutTLS: the Unix socket serves the admin without TLS,
// also with caching_sha2_password, and SSL_RELOAD works there.
func TestUnixSocketWithoutTLS(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	fi, err := os.Stat(tn.Socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	for _, u := range []struct{ user, pw string }{{"admin", nodetest.AdminPW}, {"sha", nodetest.ShaPW}} {
		db := tn.SocketDB(u.user, u.pw)
		newSerial := tn.Rotate()
		_, err := db.ExecContext(ctx, "SSL_RELOAD")
		require.NoError(t, err, u.user)
		assert.Equal(t, newSerial, tn.ServedSerial())
		var cipher, name string
		require.NoError(t, db.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher))
		assert.Equal(t, "", cipher, "no TLS on the socket")
	}
}

// TestRestartRequiredOverWire: shape changes are refused with a message
// naming the setting and the old contexts keep serving.
func TestRestartRequiredOverWire(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(string) string
		setting string
	}{
		{"ssl_ca removed", func(c string) string { return strings.Replace(c, "ssl_ca: certs/ca.crt\n", "", 1) }, "ssl_ca"},
		{"ssl_cert and ssl_key removed", func(c string) string {
			c = strings.Replace(c, "ssl_cert: certs/server.crt\n", "", 1)
			return strings.Replace(c, "ssl_key: certs/server.key\n", "", 1)
		}, "ssl_cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := nodetest.New(t, "")
			ctx := nodetest.Ctx(t)
			db := tn.DB("admin", nodetest.AdminPW, tn.TLSName(nil))
			before := tn.ServedSerial()
			require.NoError(t, os.WriteFile(tn.Config, []byte(tc.edit(nodetest.ConfigYAML(""))), 0o600))
			_, err := db.ExecContext(ctx, "SSL_RELOAD")
			me := nodetest.SQLErr(t, err)
			assert.Contains(t, me.Message, tc.setting)
			assert.Contains(t, strings.ToLower(me.Message), "restart")
			assert.Equal(t, before, tn.ServedSerial())
			assert.Contains(t, nodetest.Variable(t, db, "ssl_last_reload_error"), tc.setting)
		})
	}
}

// TestInitDBOverWire: the mysql CLI's `use` sends COM_INIT_DB, which goes
// through the same USE as the statement: information_schema is accepted,
// any other database is 1049.
func TestInitDBOverWire(t *testing.T) {
	tn := nodetest.New(t, "")
	mysqlBin := testenv.LookPath(t, "mysql")
	cli := func(script string) (string, error) {
		return nodetest.MySQLSocket(mysqlBin, tn.Socket, "plain", nodetest.PlainPW, "--batch", "--skip-column-names", "-e", script)
	}
	out, err := cli("use information_schema\nSELECT DATABASE()")
	require.NoError(t, err, out)
	assert.Equal(t, "information_schema", strings.TrimSpace(out))
	out, err = cli("use mysql")
	require.Error(t, err)
	assert.Contains(t, out, "ERROR 1049 (42000)")
	assert.Contains(t, out, "Unknown database 'mysql'")
}
