package e2e

// Sharded fan-out: --shard/--shards slices, and the Kubernetes manifests of
// deploy/kubernetes/cluster-reload-job.yaml run against real nodes.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ssld/ssld/internal/pki"
)

// longLived gives fleet members 90-day certificates (the manifests ask for
// --min-validity=30d).
func longLived(int) pki.LeafOptions {
	return pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotAfter: time.Now().Add(90 * 24 * time.Hour)}
}

// TestClusterShards: --shard I/N for every I gives disjoint slices that
// together hold every node; --shards N takes I from JOB_COMPLETION_INDEX.
func TestClusterShards(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "child", "leaf", "leaf", "leaf", "leaf")
	all := map[string]bool{}
	for _, m := range f.members {
		all[m.addr] = true
	}
	for _, n := range []int{1, 2, 3} {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			code, rep, stderr := f.reloadJSON("status", "--master", f.master().addr, "--shard", fmt.Sprintf("%d/%d", i, n))
			require.Equal(t, 0, code, stderr)
			if n > 1 {
				assert.Equal(t, fmt.Sprintf("%d/%d", i, n), rep.Shard)
			}
			for _, r := range rep.Nodes {
				seen[r.Address]++
			}
		}
		assert.Len(t, seen, len(all), "%d shards cover every node", n)
		for addr, k := range seen {
			assert.True(t, all[addr])
			assert.Equal(t, 1, k, "%s is in %d of %d shards", addr, k, n)
		}
	}

	// --shards N with the index from the environment gives the same slice.
	_, want, _ := f.reloadJSON("status", "--master", f.master().addr, "--shard", "1/3")
	_, got, _ := f.reloadJSONEnv([]string{"JOB_COMPLETION_INDEX=1"}, "status", "--master", f.master().addr, "--shards", "3")
	assert.Equal(t, addrs(want), addrs(got))
	assert.Equal(t, "1/3", got.Shard)

	// A sharded reload over several roles warns that the order holds
	// within the shard only; --roles leaf does not.
	_, _, stderr := f.reloadJSON("reload", "--master", f.master().addr, "--shard", "0/3", "--dry-run")
	assert.Contains(t, stderr, "leaves go before aggregators within this shard only")
	_, _, stderr = f.reloadJSON("reload", "--master", f.master().addr, "--shard", "0/3", "--dry-run", "--roles", "leaf")
	assert.NotContains(t, stderr, "Warning")

	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--shards", "3"}, "needs JOB_COMPLETION_INDEX"},
		{[]string{"JOB_COMPLETION_INDEX=3"}, []string{"--shards", "3"}, "want 0..2"},
		{nil, []string{"--shard", "3/3"}, "want 0..2"},
		{nil, []string{"--shard", "1/3", "--shards", "3"}, "exclusive"},
		{nil, []string{"--roles", "boss"}, `unknown role "boss"`},
	} {
		code, _, stderr := ssldClusterEnv(t, append([]string{"SSLD_PASSWORD=x"}, tc.env...),
			append([]string{"status", "--master", f.master().addr, "--user", "admin"}, tc.args...)...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

func addrs(rep clusterReport) []string {
	var out []string
	for _, n := range rep.Nodes {
		out = append(out, n.Address)
	}
	return out
}

// k8sJob is the part of a batch/v1 Job the test reads.
type k8sJob struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func loadJobs(t *testing.T) []k8sJob {
	t.Helper()
	b, err := os.ReadFile("../deploy/kubernetes/cluster-reload-job.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var jobs []k8sJob
	for {
		var j k8sJob
		if err := dec.Decode(&j); err != nil {
			break
		}
		require.Equal(t, "Job", j.Kind)
		jobs = append(jobs, j)
	}
	require.Len(t, jobs, 2)
	return jobs
}

// TestClusterReloadJobManifests runs the container args of both Jobs of
// deploy/kubernetes/cluster-reload-job.yaml against a real fleet, one
// process per Indexed Job pod (JOB_COMPLETION_INDEX 0..completions-1), the
// way cluster-reload.sh orders them: every leaf reloads in exactly one pod,
// then the aggregators Job does the child and the master.
func TestClusterReloadJobManifests(t *testing.T) {
	t.Parallel()
	f := startFleetWith(t, fleetOptions{leaf: longLived}, "master", "child", "leaf", "leaf", "leaf", "leaf", "leaf")
	fresh := map[string]string{}
	for _, m := range f.members {
		fresh[m.addr] = f.Rotate(m)
	}
	pw := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(pw, []byte(fleetPW+"\n"), 0o400))
	jobs := loadJobs(t)
	leaves, aggs := jobs[0], jobs[1]
	require.Equal(t, "leaves", leaves.Metadata.Labels["ssld.io/phase"])
	require.Equal(t, "aggregators", aggs.Metadata.Labels["ssld.io/phase"])
	require.Equal(t, "Indexed", leaves.Spec.CompletionMode)

	// The args as written, with the cluster's addresses and files swapped
	// for the test's.
	args := func(j k8sJob) []string {
		var out []string
		for _, a := range j.Spec.Template.Spec.Containers[0].Args[1:] { // drop "cluster"
			switch {
			case strings.HasPrefix(a, "--master="):
				a = "--master=" + f.master().addr
			case strings.HasPrefix(a, "--ssl-ca="):
				a = "--ssl-ca=" + f.caFile
			case strings.HasPrefix(a, "--password-file="):
				a = "--password-file=" + pw
			case strings.HasPrefix(a, "--user="):
				a = "--user=admin"
			case strings.HasPrefix(a, "--shards="):
				n, err := strconv.Atoi(strings.TrimPrefix(a, "--shards="))
				require.NoError(t, err)
				require.Equal(t, j.Spec.Completions, n, "--shards must equal completions")
				require.Equal(t, j.Spec.Parallelism, n, "one pod per shard at once")
			}
			out = append(out, a)
		}
		return out
	}
	run := func(j k8sJob, index int) clusterReport {
		env := []string{}
		if j.Spec.CompletionMode == "Indexed" {
			env = append(env, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index))
		}
		code, out, stderr := ssldClusterEnv(t, env, args(j)...)
		require.Equal(t, 0, code, "%s #%d: %s\n%s", j.Metadata.Name, index, stderr, out)
		var rep clusterReport
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		return rep
	}

	seen := map[string]int{}
	for i := 0; i < leaves.Spec.Completions; i++ {
		rep := run(leaves, i)
		for _, n := range rep.Nodes {
			assert.Equal(t, "leaf", n.Role)
			assert.Equal(t, "ok", n.Status, n.Error)
			assert.Equal(t, fresh[n.Address], n.After.Serial)
			seen[n.Address]++
		}
	}
	for _, m := range f.members {
		if m.role == "leaf" {
			assert.Equal(t, 1, seen[m.addr], "leaf %s reloaded by exactly one shard", m.addr)
		}
	}
	rep := run(aggs, 0)
	require.Len(t, rep.Nodes, 2)
	assert.Equal(t, []string{"child", "master"}, []string{rep.Nodes[0].Role, rep.Nodes[1].Role})
	for _, n := range rep.Nodes {
		assert.Equal(t, "ok", n.Status, n.Error)
	}
}

// TestClusterReloadScript drives deploy/kubernetes/cluster-reload.sh with
// a stand-in kubectl that records what it is asked: the aggregators Job is
// applied only after the leaves Job completed, and never when it failed.
func TestClusterReloadScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fake := filepath.Join(dir, "kubectl")
	require.NoError(t, os.WriteFile(fake, []byte(`#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$*" in
  *"get job ssld-cluster-reload-leaves"*) echo "$LEAVES_STATE " ;;
  *"get job ssld-cluster-reload-aggregators"*) echo "Complete " ;;
esac
`), 0o755))
	script, err := filepath.Abs("../deploy/kubernetes/cluster-reload.sh")
	require.NoError(t, err)
	run := func(leavesState string) (int, []string, string) {
		log := filepath.Join(t.TempDir(), "calls")
		cmd := exec.Command("sh", script)
		cmd.Env = append(os.Environ(), "KUBECTL="+fake, "FAKE_LOG="+log, "LEAVES_STATE="+leavesState, "NAMESPACE=db")
		code, out := exitCode(t, cmd)
		b, _ := os.ReadFile(log)
		return code, strings.Split(strings.TrimSpace(string(b)), "\n"), out
	}

	code, calls, out := run("Complete")
	require.Equal(t, 0, code, out)
	require.Len(t, calls, 5, "%q", calls)
	assert.Contains(t, calls[0], "--namespace=db delete job -l app.kubernetes.io/name=ssld-cluster-reload")
	assert.Contains(t, calls[1], "apply -f")
	assert.Contains(t, calls[1], "-l ssld.io/phase=leaves")
	assert.Contains(t, calls[2], "get job ssld-cluster-reload-leaves")
	assert.Contains(t, calls[3], "-l ssld.io/phase=aggregators")
	assert.Contains(t, calls[4], "get job ssld-cluster-reload-aggregators")

	code, calls, out = run("Failed")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "the aggregators were not touched")
	for _, c := range calls {
		assert.NotContains(t, c, "phase=aggregators")
	}
}
