package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// Child processes: the tests that need a real `ssld serve` process (signals,
// sd_notify, ulimits, a start that must not come up, a fleet) start the test
// binary's ssld build this way.

// childStartTimeout bounds how long a child may take to answer.
const childStartTimeout = 15 * time.Second

// serveCmd is `ssld serve` on config and listen with a short shutdown
// grace, then args, its output going to log. It is not started.
func serveCmd(t testing.TB, config, listen string, log io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(ssldBinary(t), append([]string{"serve", "--config", config, "--listen", listen, "--shutdown-grace", "100ms"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	return cmd
}

// startChild starts cmd and kills it when the test ends.
func startChild(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// waitAnswers waits until something accepts connections on network addr;
// after childStartTimeout it fails t with the child's log.
func waitAnswers(t testing.TB, network, addr string, log *lockedBuffer) {
	t.Helper()
	testenv.Eventually(t, childStartTimeout, func() bool {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "ssld on %s %s did not come up:\n%s", network, addr, log)
}

// childNode is an `ssld serve` process on the test node's config and folder
// layout, with metrics and cluster listeners, whose files a test controls.
type childNode struct {
	dir, config, socket, addr, metrics, cluster string
	ca                                          *pki.CA
	log                                         *lockedBuffer
	cmd                                         *exec.Cmd
}

// newChildNode writes the folder with the server pair leaf(ca); start runs
// the process.
func newChildNode(t *testing.T, leaf func(ca *pki.CA) *pki.Leaf) *childNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssld") // short: socket paths are limited to 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &childNode{dir: dir, config: filepath.Join(dir, "ssld.yaml"), socket: filepath.Join(dir, devSocket),
		addr: freeAddr(t), metrics: freeAddr(t), cluster: freeAddr(t), ca: pkitest.MustCA(t, "child CA"), log: &lockedBuffer{}}
	writeDevFolder(t, dir, n.ca, leaf(n.ca))
	require.NoError(t, os.WriteFile(n.config, []byte(configYAML("metrics_listen: "+n.metrics+"\ncluster_listen: "+n.cluster+"\n")), 0o600))
	return n
}

// goodLeaf is a localhost pair valid for 90 days, the usual leaf of a
// childNode.
func goodLeaf(ca *pki.CA) *pki.Leaf {
	l, err := ca.Issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotAfter: time.Now().Add(rotateValidity)})
	if err != nil {
		panic(err)
	}
	return l
}

// write replaces the node's server pair with l's.
func (n *childNode) write(t *testing.T, l *pki.Leaf) {
	t.Helper()
	writeDevPair(t, n.dir, l)
}

// serveCmd is the node's `ssld serve` command line (serveCmd), not started.
func (n *childNode) serveCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return serveCmd(t, n.config, n.addr, n.log, args...)
}

// start starts the node's `ssld serve` with args and returns the process.
func (n *childNode) start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	n.cmd = n.serveCmd(t, args...)
	startChild(t, n.cmd)
	return n.cmd
}

// startWithFileLimit starts the node's `ssld serve` under `ulimit -n
// nofile` (through sh, as an operator's LimitNOFILE= would set it) and
// waits for its Unix socket.
func (n *childNode) startWithFileLimit(t *testing.T, nofile int) {
	t.Helper()
	n.cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)}, n.serveCmd(t).Args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	startChild(t, n.cmd)
	n.waitSocket(t)
}

// dialMany opens up to n TCP connections to addr at once and returns the
// ones that connected (a full backlog may refuse the rest). They are closed
// when the test ends; a caller may close them earlier.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
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
	return conns
}

// waitSocket waits until the node answers on its Unix socket.
func (n *childNode) waitSocket(t *testing.T) {
	t.Helper()
	waitAnswers(t, "unix", n.socket, n.log)
}
