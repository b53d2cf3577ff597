package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// unixSocketNode is a test node with a unix_socket account named after the
// OS user running the tests (root under CI), and one named after nobody.
func unixSocketNode(t *testing.T) (*testNode, string) {
	me, err := user.Current()
	require.NoError(t, err)
	tn := newTestNode(t, `  - name: `+me.Username+`
    plugin: unix_socket
    privileges: [SUPER]
  - name: not-this-os-user
    plugin: unix_socket
    privileges: [SUPER]
`)
	return tn, me.Username
}

// TestUnixSocketAuth: a unix_socket account logs in over the socket when
// the peer's OS user has its name, with the mariadb CLI, go-sql-driver and
// ssld reload/status with no password anywhere; never over TCP, and never
// for another OS user.
func TestUnixSocketAuth(t *testing.T) {
	mariadb := testenv.LookPath(t, "mariadb")
	tn, me := unixSocketNode(t)
	t.Setenv("SSLD_PASSWORD", "")
	host, port := splitAddr(t, tn.Addr)

	// The mariadb CLI, as in MariaDB: `mariadb -S SOCKET -u root`.
	out, err := exec.Command(mariadb, "--no-defaults", "-S", tn.Socket, "-u", me, "--batch", "--skip-column-names",
		"-e", "SELECT CURRENT_USER(); SSL_RELOAD").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), me+"@")

	// ssld reload and status pick the OS user with no password.
	newSerial := tn.Rotate()
	code, stdout, stderr := runCLI(t, "reload", "--config", tn.Config)
	require.Equal(t, 0, code, stdout+stderr)
	assert.True(t, strings.HasPrefix(stdout, "ok: reloaded, "), stdout)
	assert.Equal(t, newSerial, tn.ServedSerial())
	code, stdout, stderr = runCLI(t, "status", "--socket", tn.Socket)
	require.Equal(t, 0, code, stdout+stderr)

	// Another account name over the socket: MariaDB's 1698.
	out, err = exec.Command(mariadb, "--no-defaults", "-S", tn.Socket, "-u", "not-this-os-user", "-e", "SELECT 1").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "ERROR 1698")
	code, stdout, _ = runCLI(t, "reload", "--socket", tn.Socket, "-u", "not-this-os-user")
	assert.Equal(t, 2, code, stdout)
	me2 := sqlErr(t, tn.SocketDB("not-this-os-user", "").Ping())
	assert.Equal(t, uint16(1698), me2.Number)

	// Never over TCP, TLS or not, with or without a password: 1045 like a
	// wrong password.
	for _, args := range [][]string{
		{"--protocol=TCP", "-h", host, "-P", port, "-u", me, "--ssl", "--ssl-ca=" + filepath.Join(tn.Dir, "certs/ca.crt")},
		{"--protocol=TCP", "-h", host, "-P", port, "-u", me, "-pwhatever", "--ssl", "--ssl-ca=" + filepath.Join(tn.Dir, "certs/ca.crt")},
		{"--protocol=TCP", "-h", host, "-P", port, "-u", me, "--skip-ssl"},
	} {
		out, err := exec.Command(mariadb, append(append([]string{"--no-defaults"}, args...), "-e", "SELECT 1")...).CombinedOutput()
		require.Error(t, err, "%v: %s", args, out)
		assert.Contains(t, string(out), "ERROR 1045", "%v", args)
	}
	db := tn.OpenDB(me, "", tn.TLSName(nil))
	defer db.Close()
	assert.Equal(t, uint16(1045), sqlErr(t, db.Ping()).Number)
	code, stdout, _ = runCLI(t, "reload", "--host", host, "--port", port, "--ssl-ca", filepath.Join(tn.Dir, "certs/ca.crt"), "-u", me)
	assert.Equal(t, 2, code, stdout)
}

// TestUnixSocketAuthNonRootPeer: the peer's OS user decides, not the name
// the client sends. As root (CI), the test makes the socket reachable and
// runs the mariadb CLI as nobody: the nobody account logs in, and nobody
// claiming the root account gets MariaDB's 1698.
func TestUnixSocketAuthNonRootPeer(t *testing.T) {
	mariadb := testenv.LookPath(t, "mariadb")
	runuser := testenv.LookPath(t, "runuser")
	if os.Geteuid() != 0 {
		if testenv.CI() {
			t.Fatal("under CI this test runs as root (it switches to the user nobody)")
		}
		t.Skip("needs root to run a client as another OS user")
	}
	nobody, err := user.Lookup("nobody")
	require.NoError(t, err)
	tn := newTestNode(t, `  - name: root
    plugin: unix_socket
    privileges: [SUPER]
  - name: nobody
    plugin: unix_socket
    privileges: [SUPER]
`)
	// Test-only: let nobody reach the 0600 socket in its 0700 folder.
	require.NoError(t, os.Chmod(tn.Dir, 0o711))
	require.NoError(t, os.Chmod(tn.Socket, 0o666))
	as := func(name string) (string, error) {
		out, err := exec.Command(runuser, "-u", nobody.Username, "--", mariadb, "--no-defaults", "-S", tn.Socket,
			"-u", name, "--batch", "--skip-column-names", "-e", "SELECT CURRENT_USER()").CombinedOutput()
		return string(out), err
	}
	out, err := as("nobody")
	require.NoError(t, err, out)
	assert.Contains(t, out, "nobody@")
	out, err = as("root")
	require.Error(t, err, out)
	assert.Contains(t, out, "ERROR 1698")
}
