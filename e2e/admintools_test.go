package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestAdminTools runs mariadb-admin, mariadb-dump and the mysql CLI's
// status command against a node over verified TLS, as an operator would:
// each must exit 0 and print what it prints for MariaDB.
func TestAdminTools(t *testing.T) {
	admin := testenv.LookPath(t, "mariadb-admin")
	dump := testenv.LookPath(t, "mariadb-dump")
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, "")
	tool := func(bin, user, pw string, args ...string) (string, error) {
		t.Helper()
		return tn.MySQLTLS(t, bin, user, pw, args...)
	}
	ok := func(bin string, args ...string) string {
		t.Helper()
		out, err := tool(bin, "admin", adminPW, args...)
		require.NoError(t, err, "%s %v:\n%s", filepath.Base(bin), args, out)
		return out
	}

	out := ok(admin, "status")
	assert.Regexp(t, `^Uptime: \d+  Threads: \d+  Questions: \d+  Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  Queries per second avg: \d+\.\d{3}\n$`, out)
	// The same over the Unix socket (no TLS: the hook sits above vitess's
	// reader on every transport).
	sock, err := mysqlSocket(admin, tn.Socket, "admin", adminPW, "status")
	require.NoError(t, err, sock)
	assert.Regexp(t, `^Uptime: \d+  Threads: \d+  Questions: \d+`, sock)
	out = ok(admin, "version")
	assert.Regexp(t, `Server version\s+8\.0\.\d+`, out)
	assert.Regexp(t, `Uptime:\s+\d+ sec`, out)
	assert.Contains(t, out, "Threads: ")

	// processlist shows this connection, and a second one that the test
	// holds open, with the user and the client's address.
	db := tn.DB("monitor", monitorPW, "skip-verify")
	var monitorID int
	require.NoError(t, db.QueryRow("SELECT CONNECTION_ID()").Scan(&monitorID))
	out = ok(admin, "processlist")
	assert.Regexp(t, `\|\s*`+strconv.Itoa(monitorID)+`\s*\|\s*monitor\s*\|\s*127\.0\.0\.1:\d+\s*\|`, out)
	assert.Regexp(t, `\|\s*admin\s*\|.*\|\s*Query\s*\|.*processlist`, out)

	newSerial := tn.Rotate()
	ok(admin, "flush-ssl")
	assert.Equal(t, newSerial, tn.ServedSerial(), "flush-ssl is FLUSH SSL: the new certificate is served")
	ok(admin, "flush-status")
	ok(admin, "refresh") // COM_REFRESH
	ok(admin, "reload")  // FLUSH PRIVILEGES

	// A user without SUPER may not refresh, nor kill others.
	out, err = tool(admin, "monitor", monitorPW, "refresh")
	require.Error(t, err)
	assert.Contains(t, out, "SUPER")
	ok(admin, "kill", strconv.Itoa(monitorID))
	testenv.Eventually(t, 5*time.Second, func() bool {
		var id int
		return db.QueryRow("SELECT CONNECTION_ID()").Scan(&id) != nil || id != monitorID
	}, "the killed connection must be gone")
	out, err = tool(admin, "admin", adminPW, "kill", "999999")
	require.Error(t, err)
	assert.Contains(t, out, "Unknown thread id: 999999")

	// KILL of the connection itself: MySQL's 1317, then the connection is
	// closed (the client's next statement finds it gone).
	self := tn.DB("monitor", monitorPW, "skip-verify")
	sc, err := self.Conn(ctxT(t))
	require.NoError(t, err)
	var selfID int
	require.NoError(t, sc.QueryRowContext(ctxT(t), "SELECT CONNECTION_ID()").Scan(&selfID))
	_, err = sc.ExecContext(ctxT(t), "KILL QUERY "+strconv.Itoa(selfID))
	assert.Equal(t, uint16(1317), sqlErr(t, err).Number)
	require.NoError(t, sc.PingContext(ctxT(t)), "KILL QUERY leaves the connection open")
	_, err = sc.ExecContext(ctxT(t), "KILL "+strconv.Itoa(selfID))
	assert.Equal(t, uint16(1317), sqlErr(t, err).Number)
	assert.Error(t, sc.PingContext(ctxT(t)), "KILL CONNECTION closed it")
	sc.Close()

	// mariadb-dump --no-data --all-databases: exits 0 and says nothing on
	// stderr (the tablespace query on information_schema.FILES included).
	c := exec.Command(dump, append(mysqlTLSArgs(t, tn.Addr, tn.Dir, "admin", adminPW), "--no-data", "--all-databases")...)
	var stderr strings.Builder
	c.Stderr = &stderr
	dumped, err := c.Output()
	require.NoError(t, err, stderr.String())
	assert.Empty(t, stderr.String())
	assert.Contains(t, string(dumped), "-- Dump completed")

	// The mysql CLI's status command reads COM_STATISTICS for its Uptime line.
	out = ok(mysqlBin, "-e", `\s`)
	assert.Regexp(t, regexp.MustCompile(`(?m)^Uptime:\s+\d+ sec`), out)
	assert.Regexp(t, `Threads: \d+  Questions: \d+`, out)
}
