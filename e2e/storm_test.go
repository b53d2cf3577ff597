package e2e

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

// soak switches the storm, torn-write, concurrent-reload and memory tests to
// their long variants (`make soak`). The default suite runs each for a few
// seconds.
var soak = flag.Bool("soak", false, "run the long (soak) variants of the reliability tests")

// writeFunc writes one file: pki.WriteFile (temp file + rename, atomic per
// file) or os.WriteFile (truncate and rewrite in place).
type writeFunc func(path string, data []byte, mode os.FileMode) error

// handshakeLoops runs n loops that each open a new TLS connection (a full
// handshake: a fresh pool with no idle connection), ping, and close, until
// ctx ends. Every served serial goes to seen; failures are counted.
type handshakeLoops struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   error
	wg         sync.WaitGroup
}

func startHandshakeLoops(tn *testNode, ctx context.Context, n int, seen *serials) *handshakeLoops {
	h := &handshakeLoops{}
	name := tn.TLSName(seen)
	for i := 0; i < n; i++ {
		db := tn.OpenDB("monitor", monitorPW, name)
		db.SetMaxIdleConns(0) // every Ping dials: a new handshake each time
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer db.Close()
			for ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := db.PingContext(pctx)
				cancel()
				if err != nil {
					h.failed.Add(1)
					h.mu.Lock()
					if h.firstErr == nil {
						h.firstErr = err
					}
					h.mu.Unlock()
					continue
				}
				h.ok.Add(1)
			}
		}()
	}
	return h
}

func (h *handshakeLoops) wait() { h.wg.Wait() }

// latencies collects durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func (l *latencies) String() string {
	return fmt.Sprintf("p50 %v, p99 %v, max %v", l.pct(0.50).Round(10*time.Microsecond),
		l.pct(0.99).Round(10*time.Microsecond), l.pct(1).Round(10*time.Microsecond))
}

// assertServedOneOf checks that every served serial is one of want.
func assertServedOneOf(t *testing.T, seen *serials, want ...string) {
	t.Helper()
	bad := map[string]int{}
	for _, s := range seen.List() {
		if !slices.Contains(want, s) {
			bad[s]++
		}
	}
	assert.Empty(t, bad, "handshakes presented a certificate that is neither of %v", want)
}

// TestStormReloadUnderLoad: SSL_RELOAD every 10–50 ms, alternating between
// two valid certificates, while 8 loops open new TLS connections and 4
// long-lived connections run queries. No handshake fails, no query fails,
// every handshake presents one of the two certificates.
func TestStormReloadUnderLoad(t *testing.T) {
	duration, minReloads := 3*time.Second, 0
	if *soak {
		duration, minReloads = 0, 10000
	}
	tn := newTestNode(t, "")
	ctx := context.Background()
	pairs := []*pki.Leaf{tn.IssueLeaf(pki.LeafOptions{}), tn.IssueLeaf(pki.LeafOptions{})}
	valid := []string{serialOf(pairs[0].Cert), serialOf(pairs[1].Cert)}
	admin := tn.AdminConn(t, ctxT(t))
	tn.WritePair(pairs[0])
	_, err := admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	require.Equal(t, valid[0], tn.ServedSerial())

	load, stop := context.WithCancel(ctx)
	defer stop()
	var seen serials
	loops := startHandshakeLoops(tn, load, 8, &seen)

	// Long-lived connections, opened before the storm and kept throughout.
	var queries, queryFailures atomic.Int64
	var lwg sync.WaitGroup
	for i := 0; i < 4; i++ {
		c, err := tn.DB("admin", adminPW, tn.TLSName(nil)).Conn(ctx)
		require.NoError(t, err)
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			defer c.Close()
			for load.Err() == nil {
				var k, v string
				err := c.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'ssl_server_serial'").Scan(&k, &v)
				if err == nil {
					var one int
					err = c.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				}
				if err != nil {
					queryFailures.Add(1)
					t.Errorf("long-lived connection: %v", err)
					return
				}
				queries.Add(1)
			}
		}()
	}

	var lat latencies
	reloads, reloadFailures := 0, 0
	start := time.Now()
	for i := 1; ; i++ {
		if minReloads > 0 && reloads >= minReloads || minReloads == 0 && time.Since(start) >= duration {
			break
		}
		next := pairs[i%2]
		tn.WritePair(next)
		t0 := time.Now()
		_, err := admin.ExecContext(ctx, "SSL_RELOAD")
		lat.add(time.Since(t0))
		reloads++
		if err != nil {
			reloadFailures++
			t.Errorf("SSL_RELOAD #%d: %v", i, err)
		} else if got := tn.ServedSerial(); got != serialOf(next.Cert) {
			t.Errorf("after SSL_RELOAD #%d: serving %s, want %s", i, got, serialOf(next.Cert))
		}
		time.Sleep(time.Duration(10+rand.IntN(41)) * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	loops.wait()
	lwg.Wait()

	t.Logf("%d reloads in %v (SSL_RELOAD latency %v), %d handshakes, %d failed; %d long-lived queries, %d failed",
		reloads, elapsed.Round(time.Millisecond), &lat, loops.ok.Load(), loops.failed.Load(), queries.Load(), queryFailures.Load())
	assert.Zero(t, reloadFailures, "failed reloads")
	assert.Zero(t, loops.failed.Load(), "failed handshakes; first: %v", loops.firstErr)
	assert.Zero(t, queryFailures.Load(), "failed queries on long-lived connections")
	assert.Positive(t, loops.ok.Load())
	assert.Equal(t, int(loops.ok.Load()), len(seen.List()), "one served certificate per handshake")
	assertServedOneOf(t, &seen, valid...)
	saw := map[string]bool{}
	for _, s := range seen.List() {
		saw[s] = true
	}
	assert.Len(t, saw, 2, "both certificates were served during the storm")
}
