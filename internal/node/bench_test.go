package node_test

import (
	"context"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// BenchmarkReloadLatency measures the SSL_RELOAD round trip (statement sent
// to OK received, over TLS with go-sql-driver) on an idle node and while 8
// loops open new TLS connections (handshake + login + ping + close). Every
// reload swaps between two valid certificates, so each one really builds and
// stores new snapshots. Run:
//
//	go test -run '^$' -bench ReloadLatency -benchtime 200x ./internal/node/
func BenchmarkReloadLatency(b *testing.B) {
	tn := nodetest.New(b, "")
	ctx := context.Background()
	admin := tn.DB("admin", nodetest.AdminPW, tn.TLSName(nil))
	if err := admin.PingContext(ctx); err != nil {
		b.Fatal(err)
	}
	leaves := []*pki.Leaf{
		pkitest.MustIssue(b, tn.CA, pki.DevServerOptions()),
		pkitest.MustIssue(b, tn.CA, pki.DevServerOptions()),
	}
	measure := func(n int) []time.Duration {
		out := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			l := leaves[i%2]
			require.NoError(b, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.crt"), l.CertPEM, 0o644))
			require.NoError(b, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.key"), l.KeyPEM, 0o600))
			start := time.Now()
			if _, err := admin.ExecContext(ctx, "SSL_RELOAD"); err != nil {
				b.Fatal(err)
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	b.ResetTimer()
	idle := measure(b.N)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns, failures atomic.Int64
	tlsName := tn.TLSName(nil)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				db := tn.OpenDB("admin", nodetest.AdminPW, tlsName)
				if err := db.PingContext(ctx); err != nil {
					failures.Add(1)
				} else {
					conns.Add(1)
				}
				db.Close()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the load loops reach steady state
	loaded := measure(b.N)
	close(stop)
	wg.Wait()
	b.StopTimer()

	p := func(d []time.Duration, q float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(idle, 0.50), "idle-p50-ms")
	b.ReportMetric(p(idle, 0.99), "idle-p99-ms")
	b.ReportMetric(p(loaded, 0.50), "load-p50-ms")
	b.ReportMetric(p(loaded, 0.99), "load-p99-ms")
	b.ReportMetric(float64(conns.Load()), "load-conns")
	b.ReportMetric(float64(failures.Load()), "load-failed-conns")
	if failures.Load() > 0 {
		b.Errorf("%d connections failed during reloads", failures.Load())
	}
}

// BenchmarkConnect opens a new TLS connection (handshake, login, ping,
// close) per iteration against an in-process node. Client and server share
// the process, so B/op counts both sides; the server's share comes from the
// memory profile (docs/performance.md):
//
//	go test -run '^$' -bench Connect -benchtime 2000x -memprofile mem.out ./internal/node/
//	go tool pprof -sample_index=alloc_space -top -focus 'Listener..handle' mem.out
func BenchmarkConnect(b *testing.B) {
	tn := nodetest.New(b, "")
	ctx := context.Background()
	tlsName := tn.TLSName(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db := tn.OpenDB("admin", nodetest.AdminPW, tlsName)
		if err := db.PingContext(ctx); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
