package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
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
// taken (the node reads an ssl_capath of 200 CA files), and 8 more clients keep connecting and hanging up, so accepts
// keep succeeding in whatever room appears. Right after the flood starts,
// SSL_RELOAD over an admin connection opened before it loads a renewed
// certificate, five times: the first open that fails with EMFILE
// releases the descriptors held in reserve, the listeners stop calling
// accept until the reload ends (protocol.AcceptGate), and the reload opens
// its files in that room; the reserve is refilled and accepting resumes
// after each. Before the reserve: "open …/ssld.yaml: too many open files"
// until the flood left; with the reserve but accepts going on, a renewed
// accept took the room (with the EMFILE backoff at 5–20 ms right after a
// flood starts, or reset by the churn). The flood is held for under
// connect_timeout (10 s), which would close the connections.
func TestHostileFloodLeavesReload(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	// An ssl_capath of 200 CA files, each opened, read and closed in
	// turn by both channels, makes the reload open files for tens of
	// milliseconds: long enough for an accept to come between two opens.
	capath := filepath.Join(n.dir, "capath")
	require.NoError(t, os.Mkdir(capath, 0o700))
	for i := 0; i < 200; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(capath, fmt.Sprintf("ca%03d.pem", i)), n.ca.CertPEM, 0o644))
	}
	require.NoError(t, os.WriteFile(n.config, []byte(configYAML("metrics_listen: "+n.metrics+"\ncluster_listen: "+n.cluster+
		"\nssl_capath: "+capath+"\n")), 0o600))
	n.startWithFileLimit(t, 64)
	admin := childSocketDB(t, n, "admin", adminPW)
	require.NoError(t, admin.Ping())

	dialMany(t, n.addr, 100)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for i := 0; i < 8; i++ {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for j := 0; j < 5000; j++ { // bounded; stopped long before
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", n.addr, 200*time.Millisecond)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				time.Sleep(time.Duration(j%3) * time.Millisecond)
				c.Close()
			}
		}()
	}
	t.Cleanup(func() { close(stop); churn.Wait() })
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(n.log.String(), "accept4: too many open files") },
		"the flood takes every descriptor:\n%s", n.log)

	for i := 0; i < 5; i++ { // the reserve is back after each reload
		l := goodLeaf(n.ca)
		n.write(t, l)
		_, err := admin.Exec("SSL_RELOAD")
		require.NoError(t, err, "reload %d with every descriptor taken:\n%s", i, n.log)
		assert.Equal(t, serialOf(l.Cert), variable(t, admin, "ssl_server_serial"))
	}
}
