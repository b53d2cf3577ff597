package e2e

// Process-level tests of `ssld cluster`: real `ssld serve` processes on
// loopback, driven by the real `ssld cluster` binary.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/freeport"
	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

const fleetPW = "fleet-secret-pw"

// freeAddr is freeport.Addr for tests.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	require.NoError(t, err)
	return addr
}

// lockedBuffer is the log sink of a child or an in-process node.
type lockedBuffer = testenv.LogBuffer

// fleetMember is one `ssld serve` process.
type fleetMember struct {
	role  string // master, child, leaf
	index int    // position in startFleet's roles
	addr  string
	dir   string
	leaf  *pki.Leaf // what is on disk
	log   *lockedBuffer
	cmd   *exec.Cmd
}

// fleet is a cluster of ssld processes sharing one CA.
type fleet struct {
	t       testing.TB
	ca      *pki.CA
	caFile  string
	members []*fleetMember
	opts    fleetOptions
}

// startFleet starts one ssld process per role ("master", "child", "leaf");
// every node's config lists the whole cluster, master first.
func startFleet(t testing.TB, roles ...string) *fleet {
	t.Helper()
	return startFleetWith(t, fleetOptions{}, roles...)
}

// fleetOptions change how startFleet sets members up.
type fleetOptions struct {
	// leaf, when set, gives the certificate options of member i (default:
	// localhost and 127.0.0.1).
	leaf func(i int) pki.LeafOptions
	// extraConfig is appended to every member's config.
	extraConfig func(m *fleetMember) string
	// extraLeaves are added to every member's cluster.leaves (entries as
	// written: "host:port" or "host:port state").
	extraLeaves []string
}

func startFleetWith(t testing.TB, o fleetOptions, roles ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, ca: pkitest.MustCA(t, "fleet CA"), opts: o}
	base := t.TempDir()
	f.caFile = filepath.Join(base, "ca.crt")
	require.NoError(t, os.WriteFile(f.caFile, f.ca.CertPEM, 0o644))
	var aggs, leaves []string
	for i, role := range roles {
		m := &fleetMember{role: role, index: i, addr: freeAddr(t), dir: filepath.Join(base, fmt.Sprintf("n%d", i)), log: &lockedBuffer{}}
		require.NoError(t, os.MkdirAll(m.dir, 0o700))
		f.members = append(f.members, m)
		if role == "leaf" {
			leaves = append(leaves, m.addr)
		} else {
			aggs = append(aggs, m.addr)
		}
	}
	leaves = append(leaves, o.extraLeaves...)
	for _, m := range f.members {
		f.Rotate(m)
		cfgRole := "aggregator"
		if m.role == "leaf" {
			cfgRole = "leaf"
		}
		cfg := fmt.Sprintf(`role: %s
ssl_cert: server.crt
ssl_key: server.key
ssl_ca: %s
users:
  - name: admin
    password: %s
    privileges: [SUPER]
    require_ssl: true
  - name: monitor
    password: %s
    privileges: []
cluster:
  aggregators: [%s]
  leaves: [%s]
`, cfgRole, f.caFile, fleetPW, fleetPW, strings.Join(aggs, ", "), strings.Join(leaves, ", "))
		if o.extraConfig != nil {
			cfg += o.extraConfig(m)
		}
		config := filepath.Join(m.dir, "ssld.yaml")
		require.NoError(t, os.WriteFile(config, []byte(cfg), 0o600))
		m.cmd = serveCmd(t, config, m.addr, m.log)
		startChild(t, m.cmd)
	}
	for _, m := range f.members {
		f.waitUp(m)
	}
	return f
}

func (f *fleet) waitUp(m *fleetMember) {
	f.t.Helper()
	waitAnswers(f.t, "tcp", m.addr, m.log)
}

// rotate writes a new certificate and key for m and returns the serial.
func (f *fleet) Rotate(m *fleetMember) string {
	f.t.Helper()
	lo := pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	if f.opts.leaf != nil {
		lo = f.opts.leaf(m.index)
	}
	leaf := pkitest.MustIssue(f.t, f.ca, lo)
	require.NoError(f.t, pki.WriteFile(filepath.Join(m.dir, "server.crt"), leaf.CertPEM, 0o644))
	require.NoError(f.t, pki.WriteFile(filepath.Join(m.dir, "server.key"), leaf.KeyPEM, 0o600))
	m.leaf = leaf
	return tlsctx.FormatSerial(leaf.Cert.SerialNumber)
}

// breakFiles writes a certificate that does not match the key on disk.
func (f *fleet) breakFiles(m *fleetMember) {
	f.t.Helper()
	other := pkitest.MustIssue(f.t, f.ca, pki.LeafOptions{CN: "other", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	require.NoError(f.t, pki.WriteFile(filepath.Join(m.dir, "server.crt"), other.CertPEM, 0o644))
}

func (f *fleet) master() *fleetMember {
	for _, m := range f.members {
		if m.role == "master" {
			return m
		}
	}
	f.t.Fatal("no master in fleet")
	return nil
}

// topologyFile writes a topology file of the members plus extra leaves.
func (f *fleet) topologyFile(extraLeaves ...string) string {
	f.t.Helper()
	var aggs, leaves []string
	for _, m := range f.members {
		if m.role == "leaf" {
			leaves = append(leaves, m.addr)
		} else {
			aggs = append(aggs, m.addr)
		}
	}
	leaves = append(leaves, extraLeaves...)
	doc := fmt.Sprintf("aggregators: [%s]\nleaves: [%s]\n", strings.Join(aggs, ", "), strings.Join(leaves, ", "))
	p := filepath.Join(f.t.TempDir(), "topology.yaml")
	require.NoError(f.t, os.WriteFile(p, []byte(doc), 0o644))
	return p
}

// clusterReport is the JSON document of `ssld cluster ... --format json`.
type clusterReport struct {
	Command string         `json:"command"`
	DryRun  bool           `json:"dry_run"`
	Shard   string         `json:"shard"`
	OK      bool           `json:"ok"`
	Summary map[string]int `json:"summary"`
	Nodes   []struct {
		Address    string     `json:"address"`
		Role       string     `json:"role"`
		Dialect    string     `json:"dialect"`
		Status     string     `json:"status"`
		Error      string     `json:"error"`
		Statement  string     `json:"statement"`
		Before     servedJSON `json:"before"`
		After      servedJSON `json:"after"`
		WouldServe servedJSON `json:"would_serve"`
		Reported   string     `json:"reported_fingerprint"`
		Files      servedJSON `json:"files"`
		DurationMS int64      `json:"duration_ms"`
		Verified   bool       `json:"verified"`
		State      string     `json:"state"`
		NextStep   string     `json:"next_step"`
	} `json:"nodes"`
}

type servedJSON struct {
	Serial, Fingerprint, Issuer string
	NotAfter                    string `json:"not_after"`
}

// reloadJSON2 is reloadJSON for runs that fail before printing a report.
func (f *fleet) reloadJSON2(args ...string) (int, string, string) {
	f.t.Helper()
	base := []string{"--user", "admin", "--ssl-ca", f.caFile, "--format", "json", "--timeout", "3s"}
	return ssldClusterEnv(f.t, []string{"SSLD_PASSWORD=" + fleetPW}, append(append(args[:1:1], base...), args[1:]...)...)
}

// ssldCluster runs the built binary: `ssld cluster ARGS...`.
func ssldCluster(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return ssldClusterEnv(t, nil, args...)
}

// ssldClusterEnv runs `ssld cluster ARGS...` with env added to the
// test's environment.
func ssldClusterEnv(t testing.TB, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssldBinary(t), append([]string{"cluster"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code = exitStatus(t, cmd.Run(), "ssld cluster")
	return code, out.String(), errb.String()
}

func (f *fleet) reloadJSON(args ...string) (int, clusterReport, string) {
	f.t.Helper()
	return f.reloadJSONEnv(nil, args...)
}

// reloadJSONEnv runs `ssld cluster CMD --user admin --ssl-ca CA --format
// json ARGS...` with SSLD_PASSWORD set and env added, and parses the report.
func (f *fleet) reloadJSONEnv(env []string, args ...string) (int, clusterReport, string) {
	f.t.Helper()
	base := []string{"--user", "admin", "--ssl-ca", f.caFile, "--format", "json", "--timeout", "3s"}
	// The command's own args come after the defaults so that they win.
	env = append([]string{"SSLD_PASSWORD=" + fleetPW}, env...)
	code, out, errOut := ssldClusterEnv(f.t, env, append(append(args[:1:1], base...), args[1:]...)...)
	var rep clusterReport
	require.NoError(f.t, json.Unmarshal([]byte(out), &rep), "stdout: %s\nstderr: %s", out, errOut)
	assert.NotContains(f.t, out+errOut, fleetPW, "password must never be printed")
	return code, rep, errOut
}

func (f *fleet) row(rep clusterReport, addr string) int {
	for i, n := range rep.Nodes {
		if n.Address == addr {
			return i
		}
	}
	f.t.Fatalf("no row for %s in %+v", addr, rep)
	return -1
}

func TestClusterReloadFleet(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "child", "leaf", "leaf")
	old := map[string]string{}
	fresh := map[string]string{}
	for _, m := range f.members {
		old[m.addr] = tlsctx.FormatSerial(m.leaf.Cert.SerialNumber)
		fresh[m.addr] = f.Rotate(m)
	}
	code, rep, stderr := f.reloadJSON("reload", "--master", f.master().addr)
	require.Equal(t, 0, code, "stderr: %s\nreport: %+v", stderr, rep)
	assert.True(t, rep.OK)
	require.Len(t, rep.Nodes, 4)
	// Leaves first, then the child aggregator, the master last.
	assert.Equal(t, []string{"leaf", "leaf", "child", "master"},
		[]string{rep.Nodes[0].Role, rep.Nodes[1].Role, rep.Nodes[2].Role, rep.Nodes[3].Role})
	assert.Equal(t, f.master().addr, rep.Nodes[3].Address)
	for _, n := range rep.Nodes {
		assert.Equal(t, "ok", n.Status, "%s: %s", n.Address, n.Error)
		assert.Equal(t, "ssld", n.Dialect)
		assert.Equal(t, "SSL_RELOAD", n.Statement)
		assert.Equal(t, old[n.Address], n.Before.Serial, n.Address)
		assert.Equal(t, fresh[n.Address], n.After.Serial, "%s serves the new certificate", n.Address)
		assert.Equal(t, n.After.Fingerprint, n.Reported)
		assert.NotEmpty(t, n.After.NotAfter)
	}

	// Nothing changed on disk since: every node is unchanged, exit 0.
	code, rep, stderr = f.reloadJSON("reload", "--topology", f.topologyFile())
	require.Equal(t, 0, code, stderr)
	for _, n := range rep.Nodes {
		assert.Equal(t, "unchanged", n.Status, n.Address)
		assert.Equal(t, fresh[n.Address], n.After.Serial)
	}

	// status: the table shows every new serial; --expect-serial of one
	// node's serial makes the others stale.
	code, out, stderr := ssldClusterEnv(t, []string{"SSLD_PASSWORD=" + fleetPW}, "status", "--master", f.master().addr,
		"--user", "monitor", "--ssl-ca", f.caFile)
	require.Equal(t, 0, code, stderr)
	for addr, serial := range fresh {
		assert.Regexp(t, regexpQuote(addr)+`\s+\w+\s+ssld\s+ok\s+yes\s+`+serial+`\s+[0-9a-f]{16}\s`, out)
	}
	assert.Contains(t, out, "status: 4 nodes: 4 ok")
	code, rep, _ = f.reloadJSON("status", "--master", f.master().addr, "--expect-serial", fresh[f.master().addr])
	assert.Equal(t, 1, code)
	assert.Equal(t, map[string]int{"ok": 1, "stale": 3}, rep.Summary)
}

func regexpQuote(s string) string {
	return strings.NewReplacer(".", `\.`, "[", `\[`, "]", `\]`).Replace(s)
}

func TestClusterReloadNodeDown(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "leaf")
	for _, m := range f.members {
		f.Rotate(m)
	}
	down := freeAddr(t)
	code, rep, _ := f.reloadJSON("reload", "--topology", f.topologyFile(down), "--retries", "1")
	assert.Equal(t, 1, code)
	require.Len(t, rep.Nodes, 3)
	r := rep.Nodes[f.row(rep, down)]
	assert.Equal(t, "unreachable", r.Status)
	assert.Contains(t, r.Error, "connection refused")
	assert.Contains(t, r.NextStep, "start the node")
	assert.Contains(t, r.NextStep, "offline in the topology")
	// The unreachable leaf stops the run: the other leaf is reloaded, the
	// master is not.
	assert.Equal(t, "ok", rep.Nodes[f.row(rep, f.members[1].addr)].Status)
	m := rep.Nodes[f.row(rep, f.master().addr)]
	assert.Equal(t, "skipped", m.Status)
	assert.Equal(t, "not attempted: 1 leaf failed ("+down+" unreachable)", m.Error)
	assert.Contains(t, m.NextStep, "--continue-on-error")

	// --continue-on-error: the master is reloaded anyway.
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(down), "--retries", "0", "--continue-on-error")
	assert.Equal(t, 1, code)
	assert.Equal(t, "ok", rep.Nodes[f.row(rep, f.master().addr)].Status, "reloaded now, with its new files")
}

func TestClusterReloadHungNode(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master")
	f.Rotate(f.members[0])
	// Accepts TCP, never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	testenv.Serve(t, l, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	start := time.Now()
	code, rep, _ := f.reloadJSON("reload", "--topology", f.topologyFile(l.Addr().String()), "--timeout", "1s")
	elapsed := time.Since(start)
	assert.Equal(t, 1, code)
	r := rep.Nodes[f.row(rep, l.Addr().String())]
	assert.Equal(t, "timeout", r.Status)
	assert.Contains(t, r.Error, "greeting")
	assert.Less(t, r.DurationMS, int64(1900), "a hung node costs at most --timeout")
	assert.Less(t, elapsed, 8*time.Second)
	assert.Contains(t, r.NextStep, "did not answer within --timeout 1s")
	// A hung leaf keeps the master untouched.
	m := rep.Nodes[f.row(rep, f.members[0].addr)]
	assert.Equal(t, "skipped", m.Status)
	assert.Contains(t, m.Error, "1 leaf failed ("+l.Addr().String()+" timeout)")
}

func TestClusterReloadWrongPassword(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "leaf")
	const wrong = "not-the-password"
	code, out, stderr := ssldCluster(t, "reload", "--topology", f.topologyFile(), "--user", "admin",
		"--password="+wrong, "--ssl-ca", f.caFile, "--format", "json", "--timeout", "3s", "--continue-on-error")
	assert.Equal(t, 1, code, stderr)
	var rep clusterReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	for _, n := range rep.Nodes {
		assert.Equal(t, "auth_failed", n.Status)
		assert.Contains(t, n.Error, "1045")
		assert.NotEmpty(t, n.Before.Serial, "what is served is read before logging in")
	}
	assert.NotContains(t, out+stderr, wrong)

	// Discovery with bad credentials is a topology error: exit 2.
	code, out, stderr = ssldCluster(t, "reload", "--master", f.master().addr, "--user", "admin",
		"--password="+wrong, "--ssl-ca", f.caFile, "--timeout", "3s")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "1045")
	assert.NotContains(t, out+stderr, wrong)

	// A user without SUPER cannot reload.
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(), "--user", "monitor", "--continue-on-error")
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "auth_failed", n.Status)
		assert.Contains(t, n.Error, "1227")
		assert.Contains(t, n.NextStep, "SUPER")
	}
	// status --require-current reads the files with CHECK TLS: SUPER too.
	code, rep, _ = f.reloadJSON("status", "--topology", f.topologyFile(), "--user", "monitor", "--require-current")
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "auth_failed", n.Status)
		assert.Contains(t, n.Error, "CHECK TLS (--require-current): ERROR 1227")
	}
}

// badFleet is a master, a child and two leaves where the second leaf's new
// files do not match; every node has new files on disk.
func badFleet(t *testing.T) (*fleet, *fleetMember, map[string]string, map[string]string) {
	f := startFleet(t, "master", "child", "leaf", "leaf")
	old, fresh := map[string]string{}, map[string]string{}
	for _, m := range f.members {
		old[m.addr] = tlsctx.FormatSerial(m.leaf.Cert.SerialNumber)
		fresh[m.addr] = f.Rotate(m)
	}
	bad := f.members[3]
	f.breakFiles(bad)
	return f, bad, old, fresh
}

// TestClusterReloadBadFiles: a leaf whose new pair does not match fails
// with the node's reason, and stops the run: the child aggregator and the
// master are skipped and keep serving their old certificates. With
// --continue-on-error every other node is reloaded.
func TestClusterReloadBadFiles(t *testing.T) {
	t.Parallel()
	f, bad, old, fresh := badFleet(t)
	code, rep, _ := f.reloadJSON("reload", "--master", f.master().addr)
	assert.Equal(t, 1, code)
	require.Len(t, rep.Nodes, 4)
	assert.Equal(t, map[string]int{"ok": 1, "failed": 1, "skipped": 2}, rep.Summary)
	for _, n := range rep.Nodes {
		switch {
		case n.Address == bad.addr:
			assert.Equal(t, "failed", n.Status)
			assert.Contains(t, n.Error, "Failed to set up SSL")
			assert.Contains(t, n.Error, "private key does not match")
			assert.Contains(t, n.Error, "previous TLS contexts remain in use")
			assert.Equal(t, old[n.Address], n.After.Serial, "the old certificate is still served")
			assert.Contains(t, n.NextStep, "ssld check")
		case n.Role == "leaf":
			assert.Equal(t, "ok", n.Status, "%s: %s", n.Address, n.Error)
			assert.Equal(t, fresh[n.Address], n.After.Serial)
		default:
			assert.Equal(t, "skipped", n.Status, n.Address)
			assert.Equal(t, "not attempted: 1 leaf failed ("+bad.addr+" failed)", n.Error)
		}
	}
	_, st, _ := f.reloadJSON("status", "--master", f.master().addr)
	for _, n := range st.Nodes {
		if n.Role != "leaf" {
			assert.Equal(t, old[n.Address], n.Before.Serial, "%s was not reloaded", n.Address)
		}
	}

	code, rep, _ = f.reloadJSON("reload", "--master", f.master().addr, "--continue-on-error")
	assert.Equal(t, 1, code)
	assert.Equal(t, map[string]int{"unchanged": 1, "failed": 1, "ok": 2}, rep.Summary)
	for _, n := range rep.Nodes {
		if n.Role != "leaf" {
			assert.Equal(t, fresh[n.Address], n.After.Serial)
		}
	}
}

func TestClusterReloadRollingStops(t *testing.T) {
	t.Parallel()
	f, bad, old, fresh := badFleet(t)
	code, rep, _ := f.reloadJSON("reload", "--master", f.master().addr, "--rolling")
	assert.Equal(t, 1, code)
	require.Len(t, rep.Nodes, 4)
	assert.Equal(t, "ok", rep.Nodes[0].Status, rep.Nodes[0].Error)
	assert.Equal(t, fresh[rep.Nodes[0].Address], rep.Nodes[0].After.Serial)
	assert.Equal(t, bad.addr, rep.Nodes[1].Address)
	assert.Equal(t, "failed", rep.Nodes[1].Status)
	for _, n := range rep.Nodes[2:] {
		assert.Equal(t, "skipped", n.Status)
		assert.Contains(t, n.Error, "rolling reload stopped at "+bad.addr)
	}
	// The skipped nodes were not touched: they still serve the old serial.
	_, st, _ := f.reloadJSON("status", "--master", f.master().addr)
	for _, n := range st.Nodes {
		if n.Address == rep.Nodes[0].Address {
			assert.Equal(t, fresh[n.Address], n.Before.Serial)
		} else {
			assert.Equal(t, old[n.Address], n.Before.Serial, n.Address)
		}
	}
}

// TestClusterReloadDryRun: --dry-run has every ssld node validate its new
// files (CHECK TLS); a mismatched pair is would_fail with the node's reason,
// the rest ready with the would-be serial, and no node reloads or moves
// its reload timestamps.
func TestClusterReloadDryRun(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "child", "leaf", "leaf")
	// One real (unchanged) reload first, so the timestamps have a value
	// that a dry run could move.
	code, _, stderr := f.reloadJSON("reload", "--topology", f.topologyFile())
	require.Equal(t, 0, code, stderr)
	stamps := map[string][]string{}
	for _, m := range f.members {
		stamps[m.addr] = f.vars(m, dryRunUntouched...)
		require.NotEmpty(t, stamps[m.addr][0])
	}
	old, fresh := map[string]string{}, map[string]string{}
	for _, m := range f.members {
		old[m.addr] = serialOf(m.leaf.Cert)
		fresh[m.addr] = f.Rotate(m)
	}
	bad := f.members[3]
	f.breakFiles(bad)

	code, rep, stderr := f.reloadJSON("reload", "--master", f.master().addr, "--dry-run")
	assert.Equal(t, 1, code, stderr)
	assert.True(t, rep.DryRun)
	assert.Equal(t, map[string]int{"ready": 3, "would_fail": 1}, rep.Summary)
	for _, n := range rep.Nodes {
		assert.Equal(t, "CHECK TLS", n.Statement)
		assert.Equal(t, old[n.Address], n.Before.Serial)
		assert.Empty(t, n.After.Serial, "nothing reloaded")
		if n.Address == bad.addr {
			assert.Equal(t, "would_fail", n.Status)
			assert.Contains(t, n.Error, "a reload would fail: channel")
			assert.Contains(t, n.Error, "client")
			assert.Equal(t, 1, strings.Count(n.Error, "private key does not match"), "one reason, not one per channel: %s", n.Error)
			assert.NotContains(t, n.Error, "remain in use", "a dry run keeps no contexts: it changes none")
			assert.Contains(t, n.NextStep, "ssld check")
			assert.Empty(t, n.WouldServe.Serial)
			continue
		}
		assert.Equal(t, "ready", n.Status, n.Error)
		assert.Equal(t, fresh[n.Address], n.WouldServe.Serial)
		assert.NotEmpty(t, n.WouldServe.NotAfter)
		assert.Equal(t, "CN=fleet CA,O=ssld", n.WouldServe.Issuer)
	}
	for _, m := range f.members {
		assert.Equal(t, stamps[m.addr], f.vars(m, dryRunUntouched...), "%s: a dry run moves no timestamp", m.addr)
	}
	_, st, _ := f.reloadJSON("status", "--master", f.master().addr)
	for _, n := range st.Nodes {
		assert.Equal(t, old[n.Address], n.Before.Serial, "dry run reloaded nothing")
	}

	// The proof flags apply to the would-be certificate.
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(), "--dry-run", "--min-validity", "30d")
	assert.Equal(t, 1, code)
	assert.Equal(t, map[string]int{"would_fail": 4}, rep.Summary)
	assert.Contains(t, rep.Nodes[f.row(rep, f.master().addr)].Error, "would serve a certificate that valid until")

	// The table shows the would-be serial.
	code, out, _ := ssldClusterEnv(t, []string{"SSLD_PASSWORD=" + fleetPW}, "reload", "--dry-run", "--topology",
		f.topologyFile(), "--user", "admin", "--ssl-ca", f.caFile)
	assert.Equal(t, 1, code)
	m := f.master()
	assert.Regexp(t, regexpQuote(m.addr)+`\s+master\s+ssld\s+ready\s+yes\s+`+fresh[m.addr]+`\s`, out)
	assert.Contains(t, out, "reload (dry run: nothing reloaded): 4 nodes: 3 ready, 1 would_fail")
}

// dryRunUntouched are the variables a dry run (CHECK TLS) must leave as
// they are (docs/sql.md): the reload bookkeeping, its error and its trigger.
var dryRunUntouched = []string{"ssl_last_reload_attempt_time", "ssl_last_successful_reload_time",
	"ssl_reload_generation", "ssl_last_reload_error", "ssl_last_reload_trigger"}

// vars reads global variables of m over TLS as admin.
func (f *fleet) vars(m *fleetMember, names ...string) []string {
	f.t.Helper()
	cfg := mysqldrv.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "admin", fleetPW, "tcp", m.addr
	cfg.TLSConfig = "skip-verify"
	cfg.Timeout, cfg.ReadTimeout = 5*time.Second, 5*time.Second
	c, err := mysqldrv.NewConnector(cfg)
	require.NoError(f.t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	var out []string
	for _, n := range names {
		var k, v string
		require.NoError(f.t, db.QueryRow("SHOW GLOBAL VARIABLES LIKE '"+n+"'").Scan(&k, &v), n)
		out = append(out, v)
	}
	return out
}

func TestClusterUsageErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("leaves: [a:1, a:1]\n"), 0o644))
	tests := []struct {
		name     string
		args     []string
		expected string
	}{
		{"no topology", []string{"reload", "--user", "u"}, "--topology FILE or --master"},
		{"no user", []string{"reload", "--master", "127.0.0.1:1"}, "--user is required"},
		{"both", []string{"reload", "--user", "u", "--master", "a:1", "--topology", bad}, "exclusive"},
		{"bad topology", []string{"reload", "--user", "u", "--topology", bad}, "listed twice"},
		{"bad format", []string{"status", "--user", "u", "--topology", bad, "--format", "xml"}, "--format"},
		{"bad scope", []string{"reload", "--user", "u", "--topology", bad, "--scope", "x"}, "unknown scope"},
		{"rolling and parallel", []string{"reload", "--user", "u", "--topology", bad, "--rolling", "--parallel", "3"}, "exclusive"},
		{"require-current and dry-run", []string{"reload", "--user", "u", "--topology", bad, "--require-current", "--dry-run"}, "exclusive"},
		{"wide json", []string{"status", "--user", "u", "--topology", bad, "--wide", "--format", "json"}, "--wide is for --format table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := ssldCluster(t, tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tc.expected)
		})
	}
}

// staleNode is a MySQL-protocol node that calls itself ssld, answers OK to
// SSL_RELOAD and from then on reports the fingerprint of its new
// certificate, but keeps serving the old one: the field failure that
// "stale" exists for.
type staleNode struct {
	newFP    string
	mu       sync.Mutex
	reloaded bool
}

func startStaleNode(t *testing.T, served, onDisk *pki.Leaf) string {
	t.Helper()
	sum := sha256.Sum256(onDisk.Cert.Raw)
	h := &staleNode{newFP: hex.EncodeToString(sum[:])}
	return startFakeNode(t, served, "8.0.35-ssld", h.answer)
}

func (h *staleNode) answer(query string, cb mysql.ResultSpoolFn) error {
	q := strings.ToLower(query)
	switch {
	case strings.Contains(q, "@@version"):
		return cb(&sqltypes.Result{Fields: []*querypb.Field{textField("@@version"), textField("@@version_comment")},
			Rows: [][]sqltypes.Value{textRow("8.0.35-ssld", "ssld TLS reload daemon (stale fake)")}}, false)
	case strings.Contains(q, "ssl_server_fingerprint"):
		h.mu.Lock()
		fp := ""
		if h.reloaded {
			fp = h.newFP
		}
		h.mu.Unlock()
		if fp == "" {
			return cb(&sqltypes.Result{Fields: []*querypb.Field{textField("Variable_name"), textField("Value")}}, false)
		}
		return cb(&sqltypes.Result{Fields: []*querypb.Field{textField("Variable_name"), textField("Value")},
			Rows: [][]sqltypes.Value{textRow("ssl_server_fingerprint", fp)}}, false)
	case q == "ssl_reload":
		h.mu.Lock()
		h.reloaded = true
		h.mu.Unlock()
	}
	return cb(&sqltypes.Result{}, false)
}

func TestClusterReloadStale(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master")
	real := f.members[0]
	newSerial := f.Rotate(real)
	oldLeaf := pkitest.MustIssue(t, f.ca, pki.LeafOptions{CN: "stale", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	newLeaf := pkitest.MustIssue(t, f.ca, pki.LeafOptions{CN: "stale", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	stale := startStaleNode(t, oldLeaf, newLeaf)

	code, rep, _ := f.reloadJSON("reload", "--topology", f.topologyFile(stale), "--continue-on-error")
	assert.Equal(t, 1, code)
	r := rep.Nodes[f.row(rep, stale)]
	assert.Equal(t, "stale", r.Status)
	assert.Equal(t, "ssld", r.Dialect)
	assert.Contains(t, r.Error, "still gets")
	assert.Equal(t, tlsctx.FormatSerial(oldLeaf.Cert.SerialNumber), r.After.Serial)
	assert.Equal(t, r.Before.Fingerprint, r.After.Fingerprint)
	ok := rep.Nodes[f.row(rep, real.addr)]
	assert.Equal(t, "ok", ok.Status, ok.Error)
	assert.Equal(t, newSerial, ok.After.Serial)

	// A node that reloads fine but serves something other than --expect-cert
	// is stale as well.
	expect := filepath.Join(t.TempDir(), "expect.crt")
	require.NoError(t, os.WriteFile(expect, newLeaf.CertPEM, 0o644))
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(), "--expect-cert", expect)
	assert.Equal(t, 1, code)
	assert.Equal(t, "stale", rep.Nodes[0].Status)
	assert.Contains(t, rep.Nodes[0].Error, "expected")
}

func TestClusterReloadMariaDB(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master")
	// The MariaDB member: its files live in a fleet-like member folder so
	// that the fleet's rotate works on it.
	mdb := &fleetMember{role: "leaf", dir: t.TempDir(), log: &lockedBuffer{}}
	require.NoError(t, os.WriteFile(filepath.Join(mdb.dir, "ca.crt"), f.ca.CertPEM, 0o644))
	oldSerial := f.Rotate(mdb)
	mdb.addr = testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(mdb.dir, "server.crt"),
		KeyFile: filepath.Join(mdb.dir, "server.key"), CAFile: filepath.Join(mdb.dir, "ca.crt"),
		User: "admin", Password: fleetPW, RequireSSL: true}).Addr
	newSerial := f.Rotate(mdb)
	masterNew := f.Rotate(f.members[0])

	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(fmt.Sprintf(
		"aggregators: [%s]\nleaves:\n  - {address: %q, dialect: mariadb}\n", f.members[0].addr, mdb.addr)), 0o644))
	code, rep, stderr := f.reloadJSON("reload", "--topology", topo)
	require.Len(t, rep.Nodes, 2)
	m := rep.Nodes[0]
	assert.Equal(t, mdb.addr, m.Address, "leaves first")
	assert.Equal(t, "mariadb", m.Dialect)
	assert.Equal(t, "FLUSH SSL", m.Statement)
	assert.Equal(t, "ok", m.Status, m.Error)
	assert.Equal(t, oldSerial, m.Before.Serial)
	assert.Equal(t, newSerial, m.After.Serial, "MariaDB serves the new certificate on a fresh handshake")
	assert.Empty(t, m.Reported, "MariaDB has no ssl_server_fingerprint")
	assert.Equal(t, "ok", rep.Nodes[1].Status, rep.Nodes[1].Error)
	assert.Equal(t, masterNew, rep.Nodes[1].After.Serial)
	assert.Equal(t, 0, code, stderr)

	// auto detects MariaDB from its version string.
	code, rep, stderr = f.reloadJSON("status", "--topology", f.topologyFile(mdb.addr))
	assert.Equal(t, 0, code, stderr)
	m = rep.Nodes[f.row(rep, mdb.addr)]
	assert.Equal(t, "mariadb", m.Dialect)
	assert.Equal(t, newSerial, m.Before.Serial)

	// --dry-run: MariaDB has no CHECK TLS and keeps the read-only probe;
	// the ssld master validates its files.
	f.Rotate(mdb)
	code, rep, stderr = f.reloadJSON("reload", "--topology", topo, "--dry-run")
	assert.Equal(t, 0, code, stderr)
	m = rep.Nodes[f.row(rep, mdb.addr)]
	assert.Equal(t, "ok", m.Status, m.Error)
	assert.Equal(t, "FLUSH SSL", m.Statement)
	assert.Equal(t, newSerial, m.Before.Serial, "nothing reloaded")
	assert.Empty(t, m.WouldServe.Serial)
	ma := rep.Nodes[f.row(rep, f.members[0].addr)]
	assert.Equal(t, "ready", ma.Status, ma.Error)
	assert.Equal(t, "CHECK TLS", ma.Statement)
}

// TestClusterProofFlags: --require-change, --min-validity and
// --expect-issuer make a node stale, with the reason, for any mix of
// certificates, and compose with --expect-serial.
func TestClusterProofFlags(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "leaf")
	master, leaf := f.members[0], f.members[1]

	// Only the leaf got new files: with --require-change the master, which
	// serves what it served before, is stale (without it: unchanged).
	newLeaf := f.Rotate(leaf)
	code, rep, _ := f.reloadJSON("reload", "--topology", f.topologyFile(), "--require-change")
	assert.Equal(t, 1, code)
	m := rep.Nodes[f.row(rep, master.addr)]
	assert.Equal(t, "stale", m.Status)
	assert.Contains(t, m.Error, "serves the same certificate as before the reload")
	assert.Contains(t, m.Error, "--require-change")
	l := rep.Nodes[f.row(rep, leaf.addr)]
	assert.Equal(t, "ok", l.Status, l.Error)
	assert.Equal(t, newLeaf, l.After.Serial)
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile())
	assert.Equal(t, 0, code)
	assert.Equal(t, "unchanged", rep.Nodes[f.row(rep, master.addr)].Status)

	// The fleet's leaves are valid for a day.
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(), "--min-validity", "30d", "--continue-on-error")
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "stale", n.Status, n.Address)
		assert.Contains(t, n.Error, "less than --min-validity 30d")
	}
	code, _, stderr := f.reloadJSON("reload", "--topology", f.topologyFile(), "--min-validity", "12h")
	assert.Equal(t, 0, code, stderr)

	// The issuer: the fleet CA is "CN=fleet CA,O=ssld".
	code, rep, _ = f.reloadJSON("status", "--topology", f.topologyFile(), "--expect-issuer", "CN=fleet CA")
	assert.Equal(t, 0, code)
	assert.Equal(t, "CN=fleet CA,O=ssld", rep.Nodes[0].Before.Issuer)
	code, rep, _ = f.reloadJSON("reload", "--topology", f.topologyFile(), "--expect-issuer", "CN=ca2", "--continue-on-error")
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "stale", n.Status)
		assert.Contains(t, n.Error, `issuer is "CN=fleet CA,O=ssld", expected "CN=ca2"`)
	}

	// They compose: every reason is in the row.
	code, rep, _ = f.reloadJSON("status", "--topology", f.topologyFile(), "--expect-issuer", "CN=ca2",
		"--min-validity", "30d", "--expect-serial", newLeaf)
	assert.Equal(t, 1, code)
	m = rep.Nodes[f.row(rep, master.addr)]
	assert.Equal(t, "stale", m.Status)
	for _, want := range []string{"expected " + strings.TrimLeft(newLeaf, "0"), `expected "CN=ca2"`, "--min-validity"} {
		assert.Contains(t, m.Error, want)
	}
	l = rep.Nodes[f.row(rep, leaf.addr)]
	assert.NotContains(t, l.Error, "serves serial")

	// Bad values are usage errors.
	code, _, stderr = f.reloadJSON2("reload", "--topology", f.topologyFile(), "--min-validity", "a month")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--min-validity")
	code, _, stderr = f.reloadJSON2("reload", "--topology", f.topologyFile(), "--expect-issuer", "ca2")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--expect-issuer")
}

// TestClusterPhasesAndOffline: in parallel mode the nodes reload leaves
// first, then child aggregators, then the master (the nodes' own reload
// timestamps say so); a leaf that the master's SHOW LEAVES reports offline
// is skipped with its state and does not fail the run; --max-failures
// stops starting nodes.
func TestClusterPhasesAndOffline(t *testing.T) {
	t.Parallel()
	offline := freeAddr(t)
	f := startFleetWith(t, fleetOptions{extraLeaves: []string{`"` + offline + ` offline"`}},
		"master", "child", "child", "leaf", "leaf", "leaf")
	for _, m := range f.members {
		f.Rotate(m)
	}
	code, rep, stderr := f.reloadJSON("reload", "--master", f.master().addr, "--parallel", "16")
	require.Equal(t, 0, code, "stderr: %s\n%+v", stderr, rep)
	assert.Equal(t, map[string]int{"ok": 6, "skipped": 1}, rep.Summary)
	off := rep.Nodes[f.row(rep, offline)]
	assert.Equal(t, "skipped", off.Status)
	assert.Equal(t, "offline", off.State)
	assert.Equal(t, "leaf", off.Role)
	assert.Contains(t, off.Error, "the cluster reports this node offline")

	// Each node's own ssl_last_successful_reload_time: every leaf's is
	// before every child's, every child's before the master's.
	at := map[string][]time.Time{}
	for _, m := range f.members {
		v := f.vars(m, "ssl_last_successful_reload_time")[0]
		ts, err := time.Parse(sysvars.TimeFormat, v)
		require.NoError(t, err, v)
		at[m.role] = append(at[m.role], ts)
	}
	latest := func(ts []time.Time) time.Time { return slices.MaxFunc(ts, time.Time.Compare) }
	earliest := func(ts []time.Time) time.Time { return slices.MinFunc(ts, time.Time.Compare) }
	assert.True(t, latest(at["leaf"]).Before(earliest(at["child"])), "leaves %v, children %v", at["leaf"], at["child"])
	assert.True(t, latest(at["child"]).Before(at["master"][0]), "children %v, master %v", at["child"], at["master"])

	// --max-failures 1: the first unreachable leaf stops the run.
	down1, down2 := freeAddr(t), freeAddr(t)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(fmt.Sprintf("aggregators: [%s]\nleaves: [%s, %s, %s]\n",
		f.master().addr, down1, down2, f.members[3].addr)), 0o644))
	code, rep, _ = f.reloadJSON("reload", "--topology", topo, "--parallel", "1", "--max-failures", "1", "--retries", "0")
	assert.Equal(t, 1, code)
	assert.Equal(t, "unreachable", rep.Nodes[0].Status)
	for _, n := range rep.Nodes[1:] {
		assert.Equal(t, "skipped", n.Status, n.Address)
		assert.Contains(t, n.Error, "--max-failures 1 reached")
	}
}
