package e2e

import (
	"net"
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

	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestServeDev runs the README's first command as a process (ssld serve
// --dev, in a scratch folder, with --listen 127.0.0.1:0 so that a busy 3307
// does not matter), then every line of the README's "From another
// terminal" block as written, through sh in that folder (`go run
// ./cmd/ssld` is the test's binary): SSL_RELOAD over verified TLS and SHOW
// VARIABLES with the mysql CLI, SHOW SSL STATUS over the Unix socket,
// SIGHUP through the pid file, `ssld reload` with the kept password; then
// SIGTERM.
func TestServeDev(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql") // the README's lines run it from PATH
	bin := ssldBinary(t)
	dir, err := os.MkdirTemp("", "ssld-dev")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, ".ssld-dev") // the README's default --state-dir

	var out lockedBuffer
	cmd := exec.Command(bin, "serve", "--dev", "--listen", "127.0.0.1:0")
	cmd.Dir = dir
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
	// The printed plain mysql line verifies the node's certificate: it
	// works with the dev CA and is refused with a CA that did not sign it.
	pwBytes, err := os.ReadFile(filepath.Join(state, "admin.password"))
	require.NoError(t, err)
	var plain string
	for _, l := range strings.Split(printed, "\n") {
		if strings.Contains(l, " -u admin -p ") {
			plain = strings.Replace(strings.TrimSpace(l), " -p ", " -p"+strings.TrimSpace(string(pwBytes))+" ", 1)
		}
	}
	require.NotEmpty(t, plain, "the printed mysql -u admin -p line:\n%s", printed)
	b, err := exec.Command("sh", "-c", plain).CombinedOutput()
	require.NoError(t, err, "%s\n%s", plain, b)
	assert.Contains(t, string(b), "ssl_server_serial")
	foreign := filepath.Join(t.TempDir(), "foreign.crt")
	require.NoError(t, os.WriteFile(foreign, pkitest.MustCA(t, "foreign").CertPEM, 0o644))
	b, err = exec.Command("sh", "-c", strings.Replace(plain, filepath.Join(state, "certs/ca.crt"), foreign, 1)).CombinedOutput()
	require.Error(t, err, "a CA that did not sign the node's certificate must be refused: %s", b)

	for _, f := range []string{"admin.password", "client.cnf", "socket.cnf"} {
		st, err := os.Stat(filepath.Join(state, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}

	cnfText, err := os.ReadFile(filepath.Join(state, "client.cnf"))
	require.NoError(t, err)
	assert.Contains(t, string(cnfText), "\nssl-verify-server-cert=1\n", "libmariadb's option reader ignores the bare form")
	// libmariadb's option-file reader (Python MySQLdb's read_default_file)
	// logs in with client.cnf as it is, and a copy naming a CA that did not
	// sign the node's certificate is refused.
	py := "/usr/bin/python3" // Debian's python3-mysqldb lives there
	needModule(t, exec.Command(py, "-c", "import MySQLdb"), "python3-mysqldb")
	const mysqldb = `import sys, MySQLdb
c = MySQLdb.connect(read_default_file=sys.argv[1])
cur = c.cursor()
cur.execute("SELECT @@ssl_server_serial")
print("serial=%s" % cur.fetchone()[0])
`
	b, err = exec.Command(py, "-c", mysqldb, filepath.Join(state, "client.cnf")).CombinedOutput()
	require.NoError(t, err, "MySQLdb with client.cnf: %s", b)
	assert.Regexp(t, `^serial=[0-9A-F]+\n$`, string(b))
	foreignCnf := filepath.Join(t.TempDir(), "foreign.cnf")
	require.NoError(t, os.WriteFile(foreignCnf, []byte(strings.Replace(string(cnfText),
		"ssl-ca="+filepath.Join(state, "certs/ca.crt"), "ssl-ca="+foreign, 1)), 0o600))
	b, err = exec.Command(py, "-c", mysqldb, foreignCnf).CombinedOutput()
	require.Error(t, err, "MySQLdb connected with a foreign CA: %s", b)
	assert.Contains(t, string(b), "2026", "MySQLdb's TLS error")

	lines := readmeTerminalBlock(t)
	require.Len(t, lines, 5, "the README's block: %q", lines)
	for _, line := range lines {
		sh := exec.Command("sh", "-c", strings.ReplaceAll(line, "go run ./cmd/ssld ", bin+" "))
		sh.Dir = dir
		sh.Env = append(os.Environ(), "SSLD_PASSWORD=")
		b, err := sh.CombinedOutput()
		require.NoError(t, err, "%s\n%s", line, b)
		got := string(b)
		switch {
		case strings.Contains(line, "SHOW VARIABLES LIKE 'ssl%'"):
			assert.Contains(t, got, "ssl_server_serial", line)
		case strings.Contains(line, "SHOW SSL STATUS"):
			assert.Contains(t, got, "client", line)
		case strings.HasPrefix(line, "kill -HUP "):
			testenv.Eventually(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "trigger=signal") },
				"SIGHUP not logged:\n%s", &out)
		case strings.Contains(line, " reload "):
			assert.True(t, strings.HasPrefix(got, "ok: "), "%s: %s", line, got)
		default:
			assert.Contains(t, line, "SSL_RELOAD")
			assert.Empty(t, got, line)
		}
	}

	mysql := func(cnf string, args ...string) string {
		t.Helper()
		b, err := exec.Command(mysqlBin, append([]string{"--defaults-extra-file=" + filepath.Join(state, cnf), "--batch", "--skip-column-names"}, args...)...).CombinedOutput()
		require.NoError(t, err, string(b))
		return string(b)
	}
	assert.Contains(t, mysql("client.cnf", "-e", "SHOW STATUS LIKE 'Ssl_version'"), "TLSv1.")
	assert.Contains(t, mysql("socket.cnf", "-e", "SELECT USER()"), "admin@localhost")

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

// readmeTerminalBlock returns the command lines of the README's sh block
// that follows "From another terminal".
func readmeTerminalBlock(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "From\nanother terminal")
	if !ok {
		_, rest, ok = strings.Cut(string(b), "From another terminal")
	}
	require.True(t, ok, "README: no \"From another terminal\"")
	_, rest, ok = strings.Cut(rest, "```sh\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestServeDevPortInUse: when the dev node's address is taken (a second
// `serve --dev`, or anything on 3307), the error says how to pick another.
func TestServeDevPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, _, errOut := runCLI(t, "serve", "--dev", "--state-dir", filepath.Join(t.TempDir(), "st"), "--listen", ln.Addr().String())
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "address already in use")
	assert.Contains(t, errOut, "--listen HOST:PORT picks another address; port 0 a free one", errOut)
}
