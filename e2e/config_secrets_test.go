package e2e

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
)

// TestConfigErrorsQuoteNoValue: a typo next to a secret does not publish
// it. An unquoted `password_hash: *6BB4…` (a YAML alias) and an INI value
// with an unclosed backtick make the parser quote the text; the error that
// reaches ssl_last_reload_error (any account reads it), the SSL_RELOAD
// error, the log and `ssld check` names the file and the line, never the
// secret. A running node keeps its old contexts.
func TestConfigErrorsQuoteNoValue(t *testing.T) {
	const hash = "6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"
	const iniSecret = "s3cret-Backtick-Pw"
	n := newChildNode(t, goodLeaf)
	good, err := os.ReadFile(n.config)
	require.NoError(t, err)
	n.start(t)
	n.waitSocket(t)

	head, tail, ok := strings.Cut(string(good), "users:\n")
	require.True(t, ok)
	yamlBad := head + "users:\n  - name: typo\n    password_hash: *" + hash + "\n    privileges: [SUPER]\n" + tail
	wantLine := strings.Count(head, "\n") + 3
	iniPath := filepath.Join(n.dir, "my.cnf")
	iniBad := "[ssld]\nlisten = 127.0.0.1:0\n\n[user admin]\npassword = `" + iniSecret + "\nprivileges = SUPER\n"
	require.NoError(t, os.WriteFile(iniPath, []byte(iniBad), 0o600))

	// Every place a config error goes.
	require.NoError(t, os.WriteFile(n.config, []byte(yamlBad), 0o600))
	admin := childSocketDB(t, n, "admin", adminPW)
	_, err = admin.Exec("SSL_RELOAD")
	me := sqlErr(t, err)
	contains(t, me.Message, "config file "+n.config+" line "+strconv.Itoa(wantLine), "unknown anchor")
	assert.NotContains(t, me.Message, hash)
	warnings := showWarnings(t, admin)
	assert.Contains(t, warnings, "unknown anchor", "SHOW WARNINGS holds the error")
	assert.NotContains(t, warnings, hash)

	monitor := childSocketDB(t, n, "monitor", monitorPW)
	vars := allVariables(t, monitor)
	assert.Contains(t, vars, "unknown anchor", "ssl_last_reload_error says why")
	assert.NotContains(t, vars, hash)

	for _, tc := range []struct{ path, secret, want string }{
		{n.config, hash, "line " + strconv.Itoa(wantLine) + ": cannot parse YAML: unknown anchor"},
		{iniPath, iniSecret, "line 5: cannot parse INI: missing closing key quote"},
	} {
		_, err := config.Load(tc.path)
		require.Error(t, err)
		contains(t, err.Error(), "config file "+tc.path, tc.want)
		assert.NotContains(t, err.Error(), tc.secret)
		out, err := exec.Command(ssldBinary(t), "check", "--config", tc.path).CombinedOutput()
		require.Error(t, err, "%s", out)
		contains(t, string(out), tc.want)
		assert.NotContains(t, string(out), tc.secret)
		out, err = exec.Command(ssldBinary(t), "check", "--config", tc.path, "--format", "json").CombinedOutput()
		require.Error(t, err, "%s", out)
		assert.NotContains(t, string(out), tc.secret)
	}

	// SIGHUP logs the failure too.
	before := strings.Count(n.log.String(), "unknown anchor")
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGHUP))
	waitLog(t, n.log, "unknown anchor", before+1)
	assert.NotContains(t, n.log.String(), hash)
	assert.NotContains(t, n.log.String(), iniSecret)

	require.NoError(t, os.WriteFile(n.config, good, 0o600))
	_, err = admin.Exec("SSL_RELOAD")
	require.NoError(t, err)
}

// childSocketDB is a client of n over its Unix socket.
func childSocketDB(t *testing.T, n *childNode, user, pw string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "unix", n.socket
	cfg.Timeout = 5 * time.Second
	c, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// allVariables is every SHOW GLOBAL VARIABLES row, one "name=value" a line.
func allVariables(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SHOW GLOBAL VARIABLES")
	require.NoError(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		b.WriteString(k + "=" + v + "\n")
	}
	require.NoError(t, rows.Err())
	return b.String()
}

// waitLog waits until log holds sub at least count times.
func waitLog(t *testing.T, log *lockedBuffer, sub string, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(log.String(), sub) < count {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times:\n%s", sub, count, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// showWarnings is every SHOW WARNINGS row of db's (single) connection,
// one "level code message" a line.
func showWarnings(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SHOW WARNINGS")
	require.NoError(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var level, code, msg string
		require.NoError(t, rows.Scan(&level, &code, &msg))
		b.WriteString(level + " " + code + " " + msg + "\n")
	}
	require.NoError(t, rows.Err())
	return b.String()
}
