package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

var mariadbCompare = flag.Bool("mariadb-compare", false, "run MariaDB's FLUSH SSL side by side with ssld under torn writes (make compare-mariadb)")

func tornMariaRoot(socket string) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", socket
	cfg.Timeout = 5 * time.Second
	c, _ := mysql.NewConnector(cfg)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db
}

// TestTornCompareMariaDB runs the torn-write load of TestTornWrites against
// MariaDB's FLUSH SSL and ssld's SSL_RELOAD, one after the other, and logs
// the failure rates, handshake failures and reload latencies of both. Only
// with -mariadb-compare (make compare-mariadb); numbers go to
// docs/reliability.md.
func TestTornCompareMariaDB(t *testing.T) {
	if !*mariadbCompare {
		t.Skip("run with -mariadb-compare (make compare-mariadb)")
	}
	d := 10 * time.Second
	for _, w := range []struct {
		name  string
		write writeFunc
	}{{"replace key then cert", pki.WriteFile}, {inPlace, os.WriteFile}} {
		t.Run(w.name, func(t *testing.T) {
			// MariaDB: a test node's folder and CA, served by mariadbd.
			tn := newTestNode(t, "")
			certs := filepath.Join(tn.dir, "certs")
			mdb := testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(certs, "server.crt"),
				KeyFile: filepath.Join(certs, "server.key"), CAFile: filepath.Join(certs, "ca.crt"),
				User: "monitor", Password: monitorPW, MaxConnections: 500})
			root := tornMariaRoot(mdb.Socket)
			defer root.Close()
			m := &testNode{t: t, dir: tn.dir, ca: tn.ca, addr: mdb.Addr}
			r := runFlushSSL(t, m, root, w.write, d)
			t.Logf("MariaDB FLUSH SSL: %s", r)

			s := runTornWrites(t, newTestNode(t, ""), w.write, d, 0)
			t.Logf("ssld SSL_RELOAD:   %d reloads, %d failed (%.2f%%), %d handshakes, %d failed; latency %v; failures %v",
				s.reloads, s.failures, 100*float64(s.failures)/float64(s.reloads), s.handshakes, s.failed, &s.lat, s.failureReasons)
		})
	}
}

type flushResult struct {
	reloads, failures  int
	handshakes, failed int64
	writes             int
	reasons            map[string]int
	lat                latencies
}

func (r *flushResult) String() string {
	return fmt.Sprintf("%d reloads, %d failed (%.2f%%), %d pair writes, %d handshakes, %d failed; latency %v; failures %v",
		r.reloads, r.failures, 100*float64(r.failures)/float64(r.reloads), r.writes, r.handshakes, r.failed, &r.lat, r.reasons)
}

// runFlushSSL is runTornWrites for MariaDB: the same writer, 4 handshake
// loops, FLUSH SSL every 10 ms on the root session.
func runFlushSSL(t *testing.T, m *testNode, root *sql.DB, write writeFunc, d time.Duration) *flushResult {
	ctx := context.Background()
	pairs := []*pki.Leaf{m.issueLeaf(), m.issueLeaf()}
	m.writePair(pairs[0])
	_, err := root.Exec("FLUSH SSL")
	require.NoError(t, err)

	load, stop := context.WithCancel(ctx)
	defer stop()
	var seen serials
	loops := m.startHandshakeLoops(load, 4, &seen)
	res := &flushResult{reasons: map[string]int{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.writes = tornWriter(load, t, m.dir, pairs, write)
	}()
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		_, err := root.Exec("FLUSH SSL")
		res.lat.add(time.Since(t0))
		res.reloads++
		if err != nil {
			res.failures++
			res.reasons[err.Error()]++
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	loops.wait()
	res.handshakes, res.failed = loops.ok.Load(), loops.failed.Load()
	assertServedOneOf(t, &seen, serialOf(pairs[0].Cert), serialOf(pairs[1].Cert))
	return res
}
