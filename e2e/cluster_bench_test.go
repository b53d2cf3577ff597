package e2e

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/cluster"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// BenchmarkClusterReload starts 100 in-process ssld nodes on loopback and
// measures the wall time of `cluster.Reload` with verification (a fresh TLS
// handshake before and after, login, SSL_RELOAD, ssl_server_fingerprint)
// for one node, for all 100 in parallel (bound 100 and the default 16), and
// for all 100 rolling. Every run first writes new files on every node, so
// each reload really swaps certificates. Ratios are against the single node.
// Run:
//
//	go test -run '^$' -bench ClusterReload -benchtime 5x ./e2e/
func BenchmarkClusterReload(b *testing.B) {
	const n = 100
	nodes := make([]*testNode, n)
	leaves := make([][2]*pki.Leaf, n)
	// One CA for the fleet, as in production. (100 CAs with one subject
	// would make every client verification try all 100 signatures.)
	ca := pkitest.MustCA(b, "fleet CA")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	var topo cluster.Topology
	for i := range nodes {
		tn := newTestNode(b, "")
		nodes[i] = tn
		leaves[i] = [2]*pki.Leaf{pkitest.MustIssue(b, ca, pki.DevServerOptions()), pkitest.MustIssue(b, ca, pki.DevServerOptions())}
		if i == 0 {
			topo.Aggregators = []cluster.Node{{Addr: tn.Addr, Role: cluster.RoleMaster, Dialect: cluster.DialectSSLD}}
		} else {
			topo.Leaves = append(topo.Leaves, cluster.Node{Addr: tn.Addr, Role: cluster.RoleLeaf, Dialect: cluster.DialectSSLD})
		}
	}
	one := cluster.Topology{Leaves: []cluster.Node{{Addr: nodes[1].Addr, Role: cluster.RoleLeaf, Dialect: cluster.DialectSSLD}}}
	base := cluster.Options{User: "admin", Password: adminPW, RootCAs: roots, Timeout: 30 * time.Second}

	var par100CPU time.Duration // CPU of this process (client and all nodes) during parallel-100 runs
	gen := make([]int, n)       // per node: which of its two leaves is on disk
	rotate := func(from, to int) {
		for i := from; i < to; i++ {
			gen[i]++
			l := leaves[i][gen[i]%2]
			require.NoError(b, pki.WriteFile(filepath.Join(nodes[i].Dir, "certs/server.crt"), l.CertPEM, 0o644))
			require.NoError(b, pki.WriteFile(filepath.Join(nodes[i].Dir, "certs/server.key"), l.KeyPEM, 0o600))
		}
	}
	run := func(t cluster.Topology, opts cluster.Options, from, to int) time.Duration {
		b.StopTimer()
		rotate(from, to)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		rs := cluster.Reload(context.Background(), t, opts)
		d := time.Since(start)
		if len(rs) == n && opts.Parallel == n {
			par100CPU += cpuTime() - cpu0
		}
		for _, r := range rs {
			if r.Status != cluster.StatusOK {
				b.Fatalf("%s: %s: %s", r.Addr, r.Status, r.Error)
			}
		}
		return d
	}
	// Move every node onto the fleet CA (not timed).
	for _, tn := range nodes {
		require.NoError(b, pki.WriteFile(filepath.Join(tn.Dir, "certs/ca.crt"), ca.CertPEM, 0o644))
	}
	rotate(0, n)
	for _, r := range cluster.Reload(context.Background(), topo, cluster.Options{User: "admin", Password: adminPW,
		InsecureSkipVerify: true, Parallel: n}) {
		if r.Status != cluster.StatusOK {
			b.Fatalf("%s: %s: %s", r.Addr, r.Status, r.Error)
		}
	}
	// The single node is node 1 (a leaf), alone in its topology.
	var single, par100, par16, rolling time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		single += run(one, base, 1, 2)
		p := base
		p.Parallel = n
		par100 += run(topo, p, 0, n)
		par16 += run(topo, base, 0, n)
		r := base
		r.Rolling = true
		rolling += run(topo, r, 0, n)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Millisecond) }
	b.ReportMetric(ms(single), "single-ms")
	b.ReportMetric(ms(par100CPU), "parallel100-cpu-ms")
	b.ReportMetric(ms(par100), "parallel100-ms")
	b.ReportMetric(ms(par16), "parallel16-ms")
	b.ReportMetric(ms(rolling), "rolling100-ms")
	b.ReportMetric(float64(par100)/float64(single), "parallel100/single")
	b.ReportMetric(float64(par16)/float64(single), "parallel16/single")
	b.ReportMetric(float64(rolling)/float64(single), "rolling100/single")
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
