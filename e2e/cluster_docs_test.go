package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClusterDocCommands runs every `ssld cluster` command of the sh blocks
// of docs/cluster.md, as written, against a fleet of two ssld nodes that
// share one certificate (what --expect-cert new.crt proves): the master at
// 10.0.0.1:3307 in the docs, and the files the commands name (ca.crt,
// /etc/ssld/ca.crt, cluster.yaml, new.crt) in the working folder. Each must
// end 0. (The Kubernetes commands of the doc are run by
// TestClusterReloadScript.)
func TestClusterDocCommands(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "leaf")
	master, leaf := f.members[0], f.members[1]
	// One certificate for the fleet: the leaf gets the master's files.
	for _, name := range []string{"server.crt", "server.key"} {
		b, err := os.ReadFile(filepath.Join(master.dir, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(leaf.dir, name), b, 0o600))
	}
	leaf.leaf = master.leaf
	code, _, stderr := f.reloadJSON("reload", "--topology", f.topologyFile())
	require.Equal(t, 0, code, stderr)

	dir := t.TempDir()
	ca, err := os.ReadFile(f.caFile)
	require.NoError(t, err)
	topo, err := os.ReadFile(f.topologyFile())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cluster.yaml"), topo, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "new.crt"), master.leaf.CertPEM, 0o644))

	var cmds []string
	for _, block := range docBlocks(t, "docs/cluster.md", "sh") {
		for _, line := range strings.Split(block, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "ssld cluster ") {
				cmds = append(cmds, strings.TrimSpace(line))
			}
		}
	}
	require.GreaterOrEqual(t, len(cmds), 7, "the doc's commands: %q", cmds)
	for _, line := range cmds {
		t.Run(line, func(t *testing.T) {
			line := strings.NewReplacer("10.0.0.1:3307", master.addr, "/etc/ssld/ca.crt", "ca.crt").Replace(line)
			args := strings.Fields(line)
			require.Equal(t, []string{"ssld", "cluster"}, args[:2])
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, ssldBinary(t), args[1:]...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SSLD_PASSWORD="+fleetPW)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			code := exitStatus(t, cmd.Run(), "ssld cluster")
			assert.Equal(t, 0, code, "%s\nstdout: %s\nstderr: %s", line, out.String(), errb.String())
			if strings.Contains(line, "--format json") {
				var rep clusterReport
				require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
				assert.Len(t, rep.Nodes, 2)
			} else {
				assert.Contains(t, out.String(), ": 2 nodes: ")
			}
		})
	}
}
