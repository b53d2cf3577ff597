package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ssld/ssld/internal/testenv"
)

// TestHostileOutOfFileDescriptors: an `ssld serve` process limited to 64
// file descriptors (ulimit -n 64) gets 100 connections at once. accept(2)
// fails with EMFILE; ssld logs it, backs off and keeps the listener: once
// the clients leave, a real TLS login works, /healthz stays 200 and the
// accept errors are counted. Before, the accept loop returned for good and
// nothing was logged.
func TestHostileOutOfFileDescriptors(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	n.startWithFileLimit(t, 64)

	conns := dialMany(t, n.addr, 100)
	testenv.Eventually(t, 10*time.Second, func() bool { return strings.Contains(n.log.String(), "too many open files") }, "EMFILE is logged:\n%s", n.log)
	for _, c := range conns {
		c.Close()
	}

	pool := x509.NewCertPool()
	pool.AddCert(n.ca.Cert)
	name := "emfile-" + strings.ReplaceAll(n.addr, ":", "-")
	require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost"}))
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.TLSConfig = "admin", adminPW, "tcp", n.addr, name
	cfg.Timeout = 2 * time.Second
	testenv.Eventually(t, 15*time.Second, func() bool {
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return false
		}
		db := sql.OpenDB(c)
		defer db.Close()
		return db.Ping() == nil
	}, "a login works again after the flood:\n%s", n.log)

	code, body := testenv.HTTPGet(t, "http://"+n.metrics+"/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	_, metrics := testenv.HTTPGet(t, "http://"+n.metrics+"/metrics")
	assert.Regexp(t, `ssld_accept_errors_total\{listener="client"\} [1-9]`, metrics)
	assert.Contains(t, metrics, `ssld_listener_up{listener="client"} 1`)
	assert.Contains(t, n.log.String(), "accept failed; retrying")
}

// listeningFD returns, in process pid, a duplicate (pidfd_getfd) of the
// file descriptor of its TCP socket listening on addr. The caller closes it.
func listeningFD(t *testing.T, pid int, addr string) int {
	t.Helper()
	_, port := splitAddr(t, addr)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	// /proc/PID/net/tcp: "sl local_address rem_address st ... inode"; the
	// local address is hex IP:port, state 0A is LISTEN.
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	require.NoError(t, err)
	inode := ""
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", p)) && f[3] == "0A" {
			inode = f[9]
		}
	}
	require.NotEmpty(t, inode, "no listening socket on %s in /proc/%d/net/tcp", addr, pid)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	pidfd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(pidfd)
	for _, e := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if target != "socket:["+inode+"]" {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		fd, err := unix.PidfdGetfd(pidfd, n, 0)
		require.NoError(t, err, "pidfd_getfd (needs ptrace rights over the child)")
		return fd
	}
	require.Failf(t, "listening socket not found", "inode %s among /proc/%d/fd", inode, pid)
	return -1
}

// TestListenerStopsForGood: the `listen` socket of a real `ssld serve`
// process is shut down from outside (shutdown(2) on a duplicate of its
// descriptor, taken with pidfd_getfd: the socket leaves the LISTEN state,
// as when an interface or a socket-level fault takes it away), so every
// accept(2) fails with EINVAL, which no retry mends. ssld logs that at
// error level, ssld_listener_up{listener="client"} goes to 0 and /healthz
// answers 503 naming the listener, while the cluster listener and the Unix
// socket go on serving.
func TestListenerStopsForGood(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	cmd := n.start(t)
	n.waitSocket(t)
	url := "http://" + n.metrics
	require.Equal(t, 1.0, testenv.ScrapeMetrics(t, url+"/metrics").Value(t, "ssld_listener_up", "listener", "client"))
	code, body := testenv.HTTPGet(t, url+"/healthz")
	require.Equal(t, http.StatusOK, code, body)

	fd := listeningFD(t, cmd.Process.Pid, n.addr)
	defer unix.Close(fd)
	require.NoError(t, unix.Shutdown(fd, unix.SHUT_RDWR))

	testenv.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(n.log.String(), "listener stopped accepting connections")
	}, "the permanent accept error is logged:\n%s", n.log)
	assert.Regexp(t, `level=ERROR msg="listener stopped accepting connections; /healthz fails until a restart" listener=listen error=".*invalid argument"`, n.log.String())
	m := testenv.ScrapeMetrics(t, url+"/metrics")
	assert.Equal(t, 0.0, m.Value(t, "ssld_listener_up", "listener", "client"))
	assert.Equal(t, 1.0, m.Value(t, "ssld_listener_up", "listener", "cluster"))
	assert.Equal(t, 1.0, m.Value(t, "ssld_listener_up", "listener", "socket"))
	code, body = testenv.HTTPGet(t, url+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "listener client stopped accepting connections: ")
	assert.Contains(t, body, "invalid argument")

	// Nothing else went down: the Unix socket still logs in and reloads.
	t.Setenv("SSLD_PASSWORD", adminPW)
	rc, out, errOut := runCLI(t, "reload", "--socket", n.socket)
	assert.Equal(t, 0, rc, out+errOut)
	_, err := net.DialTimeout("tcp", n.addr, time.Second)
	assert.Error(t, err, "the client port no longer accepts")
}
