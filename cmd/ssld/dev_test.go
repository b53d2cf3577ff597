package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestServeDev runs the README's first command as a process (ssld serve
// --dev), then the commands it prints: SSL_RELOAD over TLS with the mysql
// CLI, SHOW SSL STATUS over the Unix socket, SIGHUP through the pid file,
// `ssld reload` with the kept password, and SIGTERM.
func TestServeDev(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	bin := ssldBinary(t)
	dir, err := os.MkdirTemp("", "ssld-dev")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, "st")

	var out lockedBuffer
	cmd := exec.Command(bin, "serve", "--dev", "--state-dir", state, "--listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })

	pidFile := filepath.Join(state, "ssld.pid")
	testenv.Eventually(t, 20*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil },
		"no pid file; output:\n%s", &out)
	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(cmd.Process.Pid), strings.TrimSpace(string(pid)))
	printed := out.String()
	assert.Contains(t, printed, "dev admin password (shown once")
	assert.Contains(t, printed, "mysql --defaults-extra-file="+filepath.Join(state, "client.cnf")+" -e 'SSL_RELOAD'")

	cnfText, err := os.ReadFile(filepath.Join(state, "client.cnf"))
	require.NoError(t, err)
	assert.Contains(t, string(cnfText), "\nssl-verify-server-cert=1\n", "libmariadb's option reader ignores the bare form")
	mysqldbHonoursClientCnf(t, filepath.Join(state, "client.cnf"), string(cnfText))

	mysql := func(cnf string, args ...string) string {
		t.Helper()
		b, err := exec.Command(mysqlBin, append([]string{"--defaults-extra-file=" + filepath.Join(state, cnf), "--batch", "--skip-column-names"}, args...)...).CombinedOutput()
		require.NoError(t, err, string(b))
		return string(b)
	}
	mysql("client.cnf", "-e", "SSL_RELOAD")
	assert.Contains(t, mysql("client.cnf", "-e", "SHOW STATUS LIKE 'Ssl_version'"), "TLSv1.")
	assert.Contains(t, mysql("socket.cnf", "-e", "SHOW SSL STATUS"), "client")
	assert.Contains(t, mysql("socket.cnf", "-e", "SELECT USER()"), "admin@localhost")

	require.NoError(t, syscall.Kill(cmd.Process.Pid, syscall.SIGHUP))
	testenv.Eventually(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "trigger=signal") },
		"SIGHUP not logged:\n%s", &out)

	pw, err := os.ReadFile(filepath.Join(state, "admin.password"))
	require.NoError(t, err)
	rc := exec.Command(bin, "reload", "--socket", filepath.Join(state, "ssld.sock"))
	rc.Env = append(os.Environ(), "SSLD_PASSWORD="+strings.TrimSpace(string(pw)))
	b, err := rc.CombinedOutput()
	require.NoError(t, err, string(b))
	assert.True(t, strings.HasPrefix(string(b), "ok: "), string(b))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, out.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", out.String())
	}
	_, err = os.Stat(pidFile)
	assert.True(t, os.IsNotExist(err), "pid file removed on exit")
	assert.Contains(t, out.String(), "msg=stopped")
}

// mysqldbHonoursClientCnf reads client.cnf with Python MySQLdb
// (read_default_file, libmariadb's option-file reader): it connects over TLS
// as written, and refuses when the host does not match the certificate
// (127.1 is 127.0.0.1, but not a name the certificate carries), which shows
// that ssl-verify-server-cert was honoured. With the bare
// "ssl-verify-server-cert" line libmariadb connected anyway.
func mysqldbHonoursClientCnf(t *testing.T, cnf, text string) {
	t.Helper()
	py := "/usr/bin/python3"
	needModule(t, exec.Command(py, "-c", "import MySQLdb"), "python3-mysqldb")
	const prog = `import sys, MySQLdb
try:
    c = MySQLdb.connect(read_default_file=sys.argv[1])
    cur = c.cursor()
    cur.execute("SHOW STATUS LIKE 'Ssl_version'")
    print("connected " + cur.fetchone()[1])
except MySQLdb.Error as e:
    print("refused %s" % (e,))
`
	out, err := exec.Command(py, "-c", prog, cnf).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "connected TLSv1.", "client.cnf as written")

	other := filepath.Join(t.TempDir(), "client-127.1.cnf")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "host=") {
			l = "host=127.1"
		}
		lines = append(lines, l)
	}
	require.NoError(t, os.WriteFile(other, []byte(strings.Join(lines, "\n")), 0o600))
	out, err = exec.Command(py, "-c", prog, other).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "refused", "host name checking must be on")
	assert.Contains(t, string(out), "Validation of SSL server certificate failed")
}
