package node_test

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestUsersChangeWarnsAndFlushPrivileges: an edited users: is named in
// a warning by SSL_RELOAD (SHOW WARNINGS); FLUSH PRIVILEGES, sent by
// mariadb-admin reload, applies it: the old password is refused with 1045,
// the new one accepted, and a session logged in before goes on.
func TestUsersChangeWarnsAndFlushPrivileges(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	adminBin := testenv.LookPath(t, "mariadb-admin")
	tn := nodetest.New(t, "")
	logs := &testenv.LogBuffer{}
	tn.Restart(slog.New(slog.NewTextHandler(logs, nil)))
	ctx := nodetest.Ctx(t)
	before, err := tn.SocketDB("admin", nodetest.AdminPW).Conn(ctx)
	require.NoError(t, err)
	defer before.Close()
	require.NoError(t, before.PingContext(ctx))

	const newPW = "admin-rotated"
	cfg, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	edited := strings.Replace(string(cfg), "password: "+nodetest.AdminPW, "password: "+newPW, 1)
	require.NotEqual(t, string(cfg), edited)
	edited += "max_connections: 50\n"
	// listen and cluster_listen too: the listeners stay where they are
	// bound, and the reload still applies the TLS material.
	edited = strings.Replace(edited, config.DevLayoutConfig("127.0.0.1:0"), config.DevLayoutConfig("127.0.0.1:3999"), 1)
	edited += "cluster_listen: 127.0.0.1:3998\n"
	require.True(t, strings.HasPrefix(edited, config.DevLayoutConfig("127.0.0.1:3999")), edited)
	newSerial := tn.Rotate()
	require.NoError(t, os.WriteFile(tn.Config, []byte(edited), 0o600))

	// SSL_RELOAD succeeds and names every start-up-only key that changed.
	_, err = before.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	warnings := nodetest.WarningMessages(t, before)
	require.Len(t, warnings, 4, "%q", warnings)
	assert.Contains(t, warnings[0], "users changed in "+tn.Config+" but is read only at start-up: not applied by this reload; run FLUSH PRIVILEGES")
	assert.NotContains(t, warnings[0], newPW, "users values are never printed")
	assert.Contains(t, warnings[1], "cluster_listen changed from  to 127.0.0.1:3998 in "+tn.Config)
	assert.Contains(t, warnings[2], "max_connections changed from 151 to 50 in "+tn.Config)
	assert.Contains(t, warnings[2], "restart ssld to apply it")
	assert.Contains(t, warnings[3], "listen changed from 127.0.0.1:0 to 127.0.0.1:3999 in "+tn.Config)
	assert.Contains(t, warnings[3], "restart ssld to apply it")
	assert.Equal(t, newSerial, tn.ServedSerial(), "the new certificate is served on the listener bound at start")
	// The log says it too, with who reloaded.
	assert.Regexp(t, `level=WARN msg="tls reload warning" warning="users changed in `+regexp.QuoteMeta(tn.Config)+
		` but is read only at start-up: [^"]*" trigger="sql admin@localhost"`, logs.String())
	assert.Regexp(t, `level=WARN msg="tls reload warning" warning="max_connections changed from 151 to 50 in `, logs.String())
	assert.NotContains(t, logs.String(), newPW, "users values are never logged")

	sockCLI := func(pw string, args ...string) (string, error) {
		return nodetest.MySQLSocket(mysqlBin, tn.Socket, "admin", pw, append([]string{"--batch", "--skip-column-names"}, args...)...)
	}
	// Not applied yet: the old password still works.
	out, err := sockCLI(nodetest.AdminPW, "-e", "SELECT 1")
	require.NoError(t, err, out)

	// A non-SUPER account may not flush.
	monitor, err := tn.SocketDB("monitor", nodetest.MonitorPW).Conn(ctx)
	require.NoError(t, err)
	defer monitor.Close()
	_, err = monitor.ExecContext(ctx, "FLUSH PRIVILEGES")
	assert.Equal(t, uint16(1227), nodetest.SQLErr(t, err).Number)

	// mariadb-admin reload sends FLUSH PRIVILEGES.
	ad, err := nodetest.MySQLSocket(adminBin, tn.Socket, "admin", nodetest.AdminPW, "reload")
	require.NoError(t, err, ad)

	out, err = sockCLI(nodetest.AdminPW, "-e", "SELECT 1")
	require.Error(t, err, out)
	assert.Contains(t, out, "ERROR 1045 (28000): Access denied for user 'admin'@'localhost'")
	out, err = sockCLI(newPW, "-e", "SELECT CURRENT_USER()")
	require.NoError(t, err, out)
	assert.Contains(t, out, "admin@")
	assert.Regexp(t, `level=INFO msg="users reload" result=ok trigger="sql admin@localhost" users=\d+`, logs.String())

	// The session from before goes on, and the users warning is gone;
	// max_connections still needs a restart.
	_, err = before.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	warnings = nodetest.WarningMessages(t, before)
	require.Len(t, warnings, 3, "%q", warnings)
	assert.Contains(t, warnings[0], "cluster_listen changed")
	assert.Contains(t, warnings[1], "max_connections changed")
	assert.Contains(t, warnings[2], "listen changed")

	// All or nothing: a broken entry changes nothing.
	require.NoError(t, os.WriteFile(tn.Config, []byte(strings.Replace(edited, "users:\n", "users:\n  - name: broken\n    password_hash: nope\n", 1)), 0o600))
	_, err = before.ExecContext(ctx, "FLUSH PRIVILEGES")
	me := nodetest.SQLErr(t, err)
	assert.Equal(t, uint16(1105), me.Number)
	assert.Contains(t, me.Message, "FLUSH PRIVILEGES failed: config file "+tn.Config+": users[0] (broken): password_hash must be")
	assert.Contains(t, me.Message, "the previous accounts remain in use")
	assert.Regexp(t, `level=ERROR msg="users reload" result=failed trigger="sql admin@localhost" error=".*users\[0\] \(broken\): password_hash must be`, logs.String())
	out, err = sockCLI(newPW, "-e", "SELECT 1")
	require.NoError(t, err, out)
}
