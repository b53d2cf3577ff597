package e2e

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestReloadTrigger: ssl_last_reload_trigger, SHOW SSL STATUS and the
// reload log line name what caused the last reload: startup, then
// `sql user@host`, SIGHUP (signal) and the file watcher (watch), on a real
// process driven with the mysql CLI.
func TestReloadTrigger(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	n := newChildNode(t, goodLeaf)
	cfg, err := os.ReadFile(n.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(n.config, append(cfg, "watch: true\n"...), 0o600))
	cmd := n.start(t)
	n.waitSocket(t)
	sock := func(q string) string {
		t.Helper()
		out, err := mysqlSocket(mysqlBin, n.socket, "admin", adminPW, "--batch", "--skip-column-names", "-e", q)
		require.NoError(t, err, out)
		return strings.TrimSpace(out)
	}
	trigger := func() string { return sock("SELECT @@ssl_last_reload_trigger") }
	assert.Equal(t, "startup", trigger())

	// SQL: the account and where it came from. The files stay as they are
	// until the watch step: a change here would also wake the watcher
	// (watch: true), whose reload could land between SSL_RELOAD and the
	// read of the trigger.
	sock("SSL_RELOAD")
	assert.Equal(t, "sql admin@localhost", trigger())
	status := sock("SHOW SSL STATUS")
	assert.Regexp(t, `(?m)^client\t.*\tsql admin@localhost$`, status)
	assert.Regexp(t, `(?m)^cluster\t.*\tsql admin@localhost$`, status)
	assert.Regexp(t, `msg="tls reload" result=unchanged channel=client .*trigger="sql admin@localhost"`, n.log.String())

	// SIGHUP, then the watcher. Both are asynchronous: poll, bounded.
	waitTrigger := func(want string) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, func() bool { return trigger() == want },
			"ssl_last_reload_trigger never became %q:\n%s", want, n.log)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	waitTrigger("signal")
	assert.Regexp(t, `msg="tls reload" result=\w+ channel=client .*trigger=signal`, n.log.String())

	n.write(t, goodLeaf(n.ca))
	waitTrigger("watch")
	assert.Regexp(t, `msg="tls reload" result=ok channel=client .*trigger=watch`, n.log.String())
}

// TestExpiryWarningOverWire: a start and a reload with a leaf inside
// ssl_expiry_warning succeed with a warning naming the channel and the date.
// The node serves the cluster channel on the same files: one finding.
func TestExpiryWarningOverWire(t *testing.T) {
	tn := newTestNode(t, "ssl_expiry_warning: 240h\ncluster_listen: 127.0.0.1:0\n")
	logs := &lockedBuffer{}
	tn.RotateFor(5 * 24 * time.Hour)
	tn.Restart(slogTo(logs))
	date := tn.Leaf.Cert.NotAfter.UTC().Format(time.RFC3339)
	assert.Regexp(t, `level=WARN msg="tls material warning" channel=client warning=".*certificate expires at `+regexp.QuoteMeta(date)+` \(in 5d, within ssl_expiry_warning 10d\)`, logs.String())

	ctx := ctxT(t)
	c, err := tn.SocketDB("admin", adminPW).Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	tn.RotateFor(3 * 24 * time.Hour)
	_, err = c.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err, "an expiring certificate still reloads")
	date = tn.Leaf.Cert.NotAfter.UTC().Format(time.RFC3339)
	ws := nodetest.WarningMessages(t, c)
	// Both channels serve this file (cluster_ssl_* unset), so it is one
	// finding naming both channels, the setting and the file; a channel's
	// own file would be prefixed with "channel NAME: ".
	require.Len(t, ws, 1, "%q", ws)
	assert.Equal(t, `channels client, cluster: ssl_cert "`+filepath.Join(tn.Dir, "certs/server.crt")+`": certificate expires at `+date+` (in 3d, within ssl_expiry_warning 10d); renew it`, ws[0])
	assert.Equal(t, serialOf(tn.Leaf.Cert), tn.ServedSerial())
}

// TestReloadStatementsOverWire: ALTER INSTANCE RELOAD TLS FOR CHANNEL
// client and FLUSH SSL succeed with the mysql CLI, and a new handshake
// (openssl s_client) gets the new certificate after each.
func TestReloadStatementsOverWire(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, "")
	cli := func(q string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", q)
	}
	for _, q := range []string{"ALTER INSTANCE RELOAD TLS FOR CHANNEL client", "FLUSH SSL"} {
		want := tn.Rotate()
		out, err := cli(q)
		require.NoError(t, err, "%s: %s", q, out)
		assert.Empty(t, strings.TrimSpace(out), q)
		assert.Equal(t, want, opensslSerial(t, tn.Addr), q)
		out, err = cli("SELECT @@ssl_server_serial, @@ssl_last_reload_trigger")
		require.NoError(t, err, out)
		assert.Equal(t, want+"\tsql admin@127.0.0.1", strings.TrimSpace(out), q)
	}
}

func slogTo(w *lockedBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
