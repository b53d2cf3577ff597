package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var runnerNodes = flag.Int("runner-nodes", 50, "BenchmarkClusterRunnerCost: ssld serve processes to start (at least 50 for the documented figure)")

// BenchmarkClusterRunnerCost measures what `ssld cluster reload` itself
// costs per node: the CPU of the runner process alone (user+system from
// the kernel's per-process accounting, wait4 rusage = /proc/PID/stat
// utime+stime at µs resolution), apart from the nodes', which are separate
// `ssld serve` processes. Each iteration writes new files on every node and
// runs the real binary over the whole fleet (every row must be ok) and over
// one node; the difference removes the runner's fixed start-up cost (Go
// runtime, flags, CA file) from the per-node figure. Run:
//
//	go test -run '^$' -bench ClusterRunnerCost -benchtime 5x ./e2e/ [-runner-nodes 50]
func BenchmarkClusterRunnerCost(b *testing.B) {
	n := *runnerNodes
	roles := []string{"master"}
	for len(roles) < n {
		roles = append(roles, "leaf")
	}
	f := startFleetWith(b, fleetOptions{}, roles...)
	bin := ssldBinary(b)
	all := f.topologyFile()
	one := filepath.Join(b.TempDir(), "one.yaml")
	require.NoError(b, os.WriteFile(one, []byte("leaves: ["+f.members[1].addr+"]\n"), 0o644))

	// runner runs one reload over topo and returns its own CPU time.
	runner := func(topo string, nodes int) time.Duration {
		b.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "cluster", "reload", "--topology", topo, "--user", "admin",
			"--ssl-ca", f.caFile, "--format", "json", "--parallel", "16", "--timeout", "30s", "--require-change")
		cmd.Env = append(os.Environ(), "SSLD_PASSWORD="+fleetPW)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			b.Fatalf("ssld cluster reload: %v\n%s\n%s", err, errb.String(), out.String())
		}
		var rep clusterReport
		require.NoError(b, json.Unmarshal(out.Bytes(), &rep))
		if len(rep.Nodes) != nodes || rep.Summary["ok"] != nodes {
			b.Fatalf("want %d ok rows, got %v", nodes, rep.Summary)
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	rotate := func(ms []*fleetMember) {
		for _, m := range ms {
			f.Rotate(m)
		}
	}

	var fleetCPU, oneCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rotate(f.members)
		b.StartTimer()
		fleetCPU += runner(all, n)
		b.StopTimer()
		rotate(f.members[1:2])
		b.StartTimer()
		oneCPU += runner(one, 1)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Millisecond) }
	perNode := (ms(fleetCPU) - ms(oneCPU)) / float64(n-1)
	b.ReportMetric(ms(fleetCPU), "runner-cpu-ms/run")
	b.ReportMetric(ms(oneCPU), "runner-cpu-ms/1node")
	b.ReportMetric(perNode, "runner-cpu-ms/node")
	b.ReportMetric(ms(fleetCPU)/float64(n), "runner-cpu-ms/node-incl-startup")
	if perNode > 0 {
		b.ReportMetric(1000/perNode, "nodes/cpu-second")
	}
	b.Logf("%d nodes: runner %.1f ms CPU per run, %.1f ms for one node; %.2f ms per additional node",
		n, ms(fleetCPU), ms(oneCPU), perNode)
}
