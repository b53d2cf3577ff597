package main

import (
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestHostileFloodLeavesReload: an `ssld serve` limited to 64 file
// descriptors (ulimit -n 64) gets 100 TCP connections that never start
// their handshake, so accept(2) fails with EMFILE and every descriptor is
// taken. SSL_RELOAD over an admin connection opened before the flood still
// loads a renewed certificate: the reload finds the config file unopenable,
// releases the descriptors held in reserve and opens its files in their
// room; the reserve is refilled afterwards. Before, the reload failed with
// "open …/ssld.yaml: too many open files" until the flood left. The flood
// is held for under connect_timeout (10 s), which would close the
// connections.
func TestHostileFloodLeavesReload(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	n.cmd = exec.Command("sh", append([]string{"-c", `ulimit -n 64 && exec "$0" "$@"`}, n.serveCmd(t).Args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	startChild(t, n.cmd)
	n.waitSocket(t)
	admin := childSocketDB(t, n, "admin", adminPW)
	require.NoError(t, admin.Ping())

	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", n.addr, 2*time.Second)
			if err != nil {
				return // the backlog may be full: fine
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(n.log.String(), "accept4: too many open files") },
		"the flood takes every descriptor:\n%s", n.log)
	// A sustained flood: the listeners' EMFILE backoff has grown to its
	// 1 s ceiling (5 ms doubling), as it has a second into any real one. An
	// accept that wakes within the reload's few milliseconds would take
	// the room the reserve leaves (see descriptorReserve).
	time.Sleep(1500 * time.Millisecond)

	for i := 0; i < 3; i++ { // the reserve is back after each reload
		l := goodLeaf(n.ca)
		n.write(t, l)
		_, err := admin.Exec("SSL_RELOAD")
		require.NoError(t, err, "reload %d with every descriptor taken:\n%s", i, n.log)
		assert.Equal(t, serialOf(l.Cert), variable(t, admin, "ssl_server_serial"))
	}
}
