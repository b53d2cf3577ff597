package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

// tornResult is what one torn-write run measured.
type tornResult struct {
	reloads, failures   int
	handshakes, failed  int64
	firstFailed         error // the first failed handshake
	writes              int
	failureReasons      map[string]int
	lat                 latencies
	servedAfterFailures []string
}

func (r *tornResult) String() string {
	return fmt.Sprintf("%d reloads, %d failed (%.2f%%), %d pair writes, %d handshakes, %d failed; latency %v; failures %v",
		r.reloads, r.failures, 100*float64(r.failures)/float64(r.reloads), r.writes, r.handshakes, r.failed, &r.lat, r.failureReasons)
}

// tornWriter replaces certs/server.key and then certs/server.crt under dir
// with the next of pairs, every 0–20 ms with a 0–2 ms gap between the two
// files, until ctx ends; it returns the number of pairs written.
func tornWriter(ctx context.Context, t *testing.T, dir string, pairs []*pki.Leaf, write writeFunc) int {
	crt, key := filepath.Join(dir, "certs/server.crt"), filepath.Join(dir, "certs/server.key")
	writes := 0
	for i := 1; ctx.Err() == nil; i++ {
		l := pairs[i%2]
		if err := write(key, l.KeyPEM, 0o600); err != nil {
			t.Errorf("write key: %v", err)
			return writes
		}
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // the torn window
		if err := write(crt, l.CertPEM, 0o644); err != nil {
			t.Errorf("write cert: %v", err)
			return writes
		}
		writes++
		time.Sleep(time.Duration(rand.IntN(21)) * time.Millisecond)
	}
	return writes
}

// tornLoad is the torn-write load on a node serving tn's folder (ssld, or
// mariadbd on the same files): it writes the first of pairs and reloads,
// then replaces the key and then the certificate with write (so the pair on
// disk is torn between the two writes, and with os.WriteFile each file is
// briefly empty or partial) every 0–20 ms, while reload fires every 10 ms
// and 4 loops open TLS connections, for d or, with minReloads, until that
// many reloads ran. A failed reload counts under the reason failed returns
// (failed may assert more). Every handshake must get one of the pairs.
func tornLoad(t *testing.T, tn *testNode, pairs []*pki.Leaf, reload func() error, failed func(error) string,
	write writeFunc, d time.Duration, minReloads int) *tornResult {
	tn.WritePair(pairs[0])
	require.NoError(t, reload())

	load, stop := context.WithCancel(context.Background())
	defer stop()
	var seen serials
	loops := startHandshakeLoops(tn, load, 4, &seen)

	res := &tornResult{failureReasons: map[string]int{}}
	var wwg sync.WaitGroup
	wwg.Add(1)
	go func() {
		defer wwg.Done()
		res.writes = tornWriter(load, t, tn.Dir, pairs, write)
	}()

	start := time.Now()
	for minReloads > 0 && res.reloads < minReloads || minReloads == 0 && time.Since(start) < d {
		t0 := time.Now()
		err := reload()
		res.lat.add(time.Since(t0))
		res.reloads++
		if err != nil {
			res.failures++
			res.failureReasons[failed(err)]++
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wwg.Wait()
	loops.wait()
	res.handshakes, res.failed, res.firstFailed = loops.ok.Load(), loops.failed.Load(), loops.firstErr
	assertServedOneOf(t, &seen, serialOf(pairs[0].Cert), serialOf(pairs[1].Cert))
	return res
}

// runTornWrites is tornLoad on ssld with SSL_RELOAD. It returns what was
// measured; the caller asserts the failure rate. No handshake may fail (a
// torn pair served), and every failed reload must be in
// ssl_last_reload_error with a valid snapshot still served.
func runTornWrites(t *testing.T, tn *testNode, write writeFunc, d time.Duration, minReloads int) *tornResult {
	pairs := []*pki.Leaf{tn.IssueLeaf(pki.LeafOptions{}), tn.IssueLeaf(pki.LeafOptions{})}
	valid := []string{serialOf(pairs[0].Cert), serialOf(pairs[1].Cert)}
	admin := tn.AdminConn(t, ctxT(t))
	// A second session (Unix socket) inspects failures without touching the
	// reloading one.
	inspect := tn.SocketDB("admin", adminPW)
	var servedAfterFailures []string
	res := tornLoad(t, tn, pairs, func() error {
		_, err := admin.ExecContext(context.Background(), "SSL_RELOAD")
		return err
	}, func(err error) string {
		// The failure is recorded and the old contexts stay live.
		assert.NotEmpty(t, variable(t, inspect, "ssl_last_reload_error"), "after a failed reload")
		served := tn.ServedSerial()
		servedAfterFailures = append(servedAfterFailures, served)
		assert.Contains(t, valid, served, "a failed reload keeps a valid snapshot")
		return sqlErr(t, err).Message
	}, write, d, minReloads)
	res.servedAfterFailures = servedAfterFailures
	assert.Zero(t, res.failed, "failed handshakes (a torn pair was served?); first: %v", res.firstFailed)
	return res
}

const inPlace = "truncate and rewrite in place"

// onlyTransient reports whether every failure was an empty or partially
// written file: the window of a truncate-and-rewrite writer.
func onlyTransient(reasons map[string]int) bool {
	for r := range reasons {
		if !strings.Contains(r, "file is empty") && !strings.Contains(r, "truncated or malformed PEM block") {
			return false
		}
	}
	return true
}

// TestTornWrites: a writer replaces the key and then the certificate (each
// file atomically, and truncate-and-rewrite in place) while reloads fire.
// No handshake fails (a completed handshake proves the served key matches
// the served certificate), every handshake gets one of the two valid
// certificates, and fewer than 1% of reloads fail; each failure keeps the
// old contexts and is reported in ssl_last_reload_error.
func TestTornWrites(t *testing.T) {
	d, minReloads := 3*time.Second, 0
	if *soak {
		d, minReloads = 0, 5000
	}
	for _, tc := range []struct {
		name  string
		write writeFunc
	}{
		{"replace key then cert", pki.WriteFile},
		{inPlace, os.WriteFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNode(t, "")
			res := runTornWrites(t, tn, tc.write, d, minReloads)
			rate := float64(res.failures) / float64(res.reloads)
			t.Logf("SSL_RELOAD: %s", res)
			if raceEnabled && rate >= 0.01 && onlyTransient(res.failureReasons) {
				// tlsctx re-reads an empty, partial or mismatched pair for
				// pairTries*pairWait (~200 ms). Under the race detector on
				// two cores the writer goroutine can stall between its
				// truncate and its write for longer than that, so the rate
				// is only asserted without -race: scripts/test runs this
				// test a second time without it.
				t.Skipf("under -race: %.1f%% of reloads failed on a file caught mid-write; the < 1%% check runs without -race", 100*rate)
			}
			assert.Less(t, rate, 0.01, "reload failure rate; reasons: %v", res.failureReasons)
			assert.Positive(t, res.handshakes)
			assert.True(t, slices.Index(res.servedAfterFailures, "") < 0)
		})
	}
}
