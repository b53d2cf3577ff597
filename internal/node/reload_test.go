package node_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestReloadGoDriver drives SSL_RELOAD with go-sql-driver under both auth
// plugins: the reload is OK, a new connection is served the new
// certificate, and a connection opened before keeps working.
func TestReloadGoDriver(t *testing.T) {
	tn := nodetest.New(t, "")
	for _, tc := range []struct{ name, user, pw string }{
		{"mysql_native_password", "admin", nodetest.AdminPW},
		{"caching_sha2_password", "sha", nodetest.ShaPW},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := nodetest.Ctx(t)
			var seen nodetest.Serials
			before := tn.DB(tc.user, tc.pw, tn.TLSName(&seen))
			old, err := before.Conn(ctx) // pinned: opened before the reload
			require.NoError(t, err)
			defer old.Close()
			require.NoError(t, old.PingContext(ctx))
			oldSerial := tn.ServedSerial()
			require.Equal(t, oldSerial, seen.Last())

			newSerial := tn.Rotate()
			require.NotEqual(t, oldSerial, newSerial)
			_, err = old.ExecContext(ctx, "SSL_RELOAD")
			require.NoError(t, err)
			require.Equal(t, newSerial, tn.ServedSerial())

			var seen2 nodetest.Serials
			fresh := tn.DB(tc.user, tc.pw, tn.TLSName(&seen2))
			require.NoError(t, fresh.PingContext(ctx))
			assert.Equal(t, newSerial, seen2.Last(), "a new connection must get the new certificate")
			assert.Equal(t, newSerial, nodetest.Variable(t, fresh, "ssl_server_serial"))

			// The connection from before the reload still works.
			var one int
			require.NoError(t, old.QueryRowContext(ctx, "SELECT 1").Scan(&one))
			assert.Equal(t, 1, one)
		})
	}
}

// TestReloadMySQLCLI drives SSL_RELOAD with the mysql command line client
// and reads the served certificate with openssl s_client as an independent
// witness.
func TestReloadMySQLCLI(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	tn := nodetest.New(t, "")
	cli := func(args ...string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", nodetest.AdminPW, append([]string{"--batch", "--skip-column-names"}, args...)...)
	}
	oldSerial := tn.ServedSerial()
	require.Equal(t, oldSerial, nodetest.OpenSSLSerial(t, tn.Addr))

	newSerial := tn.Rotate()
	out, err := cli("-e", "SSL_RELOAD")
	require.NoError(t, err, out)

	assert.Equal(t, newSerial, nodetest.OpenSSLSerial(t, tn.Addr), "openssl s_client must see the new certificate")
	out, err = cli("-e", "SHOW VARIABLES LIKE 'ssl%'")
	require.NoError(t, err, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^ssl_server_serial\s+`+newSerial+`$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^ssl_last_successful_reload_time\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^ssl_key_passphrase\s*`), out)

	// The same client on the Unix socket works without TLS.
	sock, err := nodetest.MySQLSocket(mysqlBin, tn.Socket, "admin", nodetest.AdminPW, "--batch", "--skip-column-names", "-e", "SELECT @@version_comment")
	require.NoError(t, err, sock)
	assert.Contains(t, sock, "ssld")
}

// TestReloadTimestamps: both empty at start; after a success both set;
// after a failure only the attempt time moves, ssl_last_reload_error holds
// the reason, and a new handshake still gets the old certificate.
func TestReloadTimestamps(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	var seen nodetest.Serials
	db := tn.DB("admin", nodetest.AdminPW, tn.TLSName(&seen))
	assert.Equal(t, "", nodetest.Variable(t, db, "ssl_last_reload_attempt_time"))
	assert.Equal(t, "", nodetest.Variable(t, db, "ssl_last_successful_reload_time"))
	assert.Equal(t, "", nodetest.Variable(t, db, "ssl_last_reload_error"))

	good := tn.Rotate()
	_, err := db.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	attempt1 := nodetest.Variable(t, db, "ssl_last_reload_attempt_time")
	success1 := nodetest.Variable(t, db, "ssl_last_successful_reload_time")
	require.NotEmpty(t, attempt1)
	require.Equal(t, attempt1, success1)
	gen1 := nodetest.Variable(t, db, "ssl_reload_generation")

	// A truncated certificate file.
	crt := filepath.Join(tn.Dir, "certs/server.crt")
	require.NoError(t, os.WriteFile(crt, tn.Leaf.CertPEM[:len(tn.Leaf.CertPEM)/2], 0o644))
	_, err = db.ExecContext(ctx, "SSL_RELOAD")
	me := nodetest.SQLErr(t, err)
	assert.EqualValues(t, 3888, me.Number) // ER_DA_SSL_LIBRARY_ERROR
	assert.Equal(t, "HY000", string(me.SQLState[:]))
	nodetest.Contains(t, me.Message, "ssl_cert", crt, "previous TLS contexts remain in use")

	attempt2 := nodetest.Variable(t, db, "ssl_last_reload_attempt_time")
	assert.Greater(t, attempt2, attempt1, "the attempt time moves")
	assert.Equal(t, success1, nodetest.Variable(t, db, "ssl_last_successful_reload_time"), "the success time does not")
	lastErr := nodetest.Variable(t, db, "ssl_last_reload_error")
	nodetest.Contains(t, lastErr, "ssl_cert", crt)
	assert.Equal(t, gen1, nodetest.Variable(t, db, "ssl_reload_generation"))
	assert.Equal(t, good, nodetest.Variable(t, db, "ssl_server_serial"))

	var seen2 nodetest.Serials
	fresh := tn.DB("admin", nodetest.AdminPW, tn.TLSName(&seen2))
	require.NoError(t, fresh.PingContext(ctx))
	assert.Equal(t, good, seen2.Last(), "the old certificate keeps being served")

	// Fixing the file recovers and clears the error.
	fixed := tn.Rotate()
	_, err = db.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	assert.Equal(t, "", nodetest.Variable(t, db, "ssl_last_reload_error"))
	assert.Equal(t, fixed, nodetest.Variable(t, db, "ssl_server_serial"))
}
