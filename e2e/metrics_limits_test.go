package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/metrics"
)

// TestHostileMetricsConnectionsLeaveReload: an `ssld serve` limited to 64
// file descriptors (ulimit -n 64) gets 100 idle keep-alive connections on
// metrics_listen. At most metrics.MaxConnections are accepted (the rest wait
// in the listen backlog, unanswered), so descriptors remain: a renewed
// certificate is loaded by SSL_RELOAD over the Unix socket, and the open
// count of the process stays within its limit. Before, every connection was
// accepted and kept for ever, accept failed on every listener and the
// reload failed with "too many open files".
func TestHostileMetricsConnectionsLeaveReload(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	n.startWithFileLimit(t, 64)
	admin := childSocketDB(t, n, "admin", adminPW)
	require.NoError(t, admin.Ping(), "log in before the flood: the pool keeps this connection")

	var answered atomic.Int32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", n.metrics, 2*time.Second)
			if err != nil {
				return // the backlog may be full: fine
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				answered.Add(1) // accepted; the rest of the answer stays unread, the connection open
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	assert.Positive(t, answered.Load())
	assert.LessOrEqual(t, int(answered.Load()), metrics.MaxConnections, "connections beyond the limit were served")

	l := goodLeaf(n.ca)
	n.write(t, l)
	_, err := admin.Exec("SSL_RELOAD")
	require.NoError(t, err, "the reload opens its files while the metrics connections are held:\n%s", n.log)
	assert.Equal(t, serialOf(l.Cert), variable(t, admin, "ssl_server_serial"))
	assert.NotContains(t, n.log.String(), "accept4: too many open files")
	assert.NotContains(t, n.log.String(), "result=failed")

	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.cmd.Process.Pid))
	require.NoError(t, err)
	assert.Less(t, len(fds), 64, "descriptors open in the child")
	t.Logf("child holds %d descriptors with %d metrics connections answered", len(fds), answered.Load())

	// 64 is below what the listeners may hold: said at start-up, with the
	// numbers.
	contains(t, n.log.String(), "the open files limit is below what the listeners may hold", "open_files_limit=64 needed=408")
}

// TestDescriptorBudgetQuiet: a default node, whose descriptor budget this
// machine's hard limit covers, says nothing about the open files limit at
// start-up.
func TestDescriptorBudgetQuiet(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Max < 408 {
		t.Fatalf("this machine's hard open files limit (%d) is below a default node's budget", lim.Max)
	}
	n := newChildNode(t, goodLeaf)
	n.start(t)
	n.waitSocket(t)
	assert.NotContains(t, n.log.String(), "open files limit")
}
