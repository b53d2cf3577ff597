package e2e

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// heapInuse returns HeapInuse after two full collections.
func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestStormMemory: after N reloads (500; 10,000 with -soak) alternating
// between two certificates while 2 loops open and close TLS connections,
// every replaced snapshot is released (weak pointers to a sample of them
// are nil after GC) and HeapInuse is back within a small margin of where it
// started.
func TestStormMemory(t *testing.T) {
	n := 500
	if *soak {
		n = 10000
	}
	tn := newTestNode(t, "")
	ctx := context.Background()
	pairs := []*pki.Leaf{tn.IssueLeaf(pki.LeafOptions{}), tn.IssueLeaf(pki.LeafOptions{})}
	admin := tn.AdminConn(t, ctxT(t))
	reload := func(l *pki.Leaf) {
		tn.WritePair(l)
		_, err := admin.ExecContext(ctx, "SSL_RELOAD")
		require.NoError(t, err)
	}
	// Warm up: pools, TLS configs, driver buffers, the vitess listener.
	var seen serials
	warm, stopWarm := context.WithCancel(ctx)
	loops := startHandshakeLoops(tn, warm, 2, &seen)
	for i := 0; i < 20; i++ {
		reload(pairs[i%2])
	}
	stopWarm()
	loops.wait()
	waitIdle(t, tn)
	start := heapInuse()

	load, stop := context.WithCancel(ctx)
	loops = startHandshakeLoops(tn, load, 2, &seen)
	var sample []weak.Pointer[tlsctx.Snapshot]
	t0 := time.Now()
	for i := 0; i < n; i++ {
		reload(pairs[i%2])
		if i%25 == 0 {
			sample = append(sample, weak.Make(tn.N.TLS().Current(tlsctx.ChannelClient)))
		}
	}
	elapsed := time.Since(t0)
	stop()
	loops.wait()
	waitIdle(t, tn)
	seen.Reset() // the test's own record of serials is not the server's memory
	end := heapInuse()

	live := 0
	for _, w := range sample {
		if w.Value() != nil {
			live++
		}
	}
	delta := int64(end) - int64(start)
	t.Logf("%d reloads in %v with %d handshakes: HeapInuse %.2f MiB at start, %.2f MiB at end (%+.2f MiB); %d of %d sampled old snapshots still reachable",
		n, elapsed.Round(time.Millisecond), loops.ok.Load(), mib(start), mib(end), float64(delta)/(1<<20), live, len(sample))
	assert.Zero(t, loops.failed.Load(), "handshake failures; first: %v", loops.firstErr)
	assert.Zero(t, live, "replaced snapshots must be released once their connections closed")
	// 2 MiB covers allocator noise (span classes, the race detector's
	// shadow bookkeeping is outside HeapInuse); one leaked snapshot per
	// reload would be 500 × several KiB and more.
	assert.Less(t, delta, int64(2<<20), "HeapInuse grew by %.2f MiB over %d reloads", float64(delta)/(1<<20), n)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// waitIdle waits until the server has no open TCP connection except the
// admin session(s) the test holds.
func waitIdle(t *testing.T, tn *testNode) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool { return tn.N.ActiveConnections() <= 1 },
		"connections still open (%d when the wait began)", tn.N.ActiveConnections())
}
