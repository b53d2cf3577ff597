package e2e

// The fan-out over a mixed cluster with per-node certificates: two ssld
// nodes (the master and a leaf) and a MariaDB leaf, each with its own
// certificate, renewed the way a fleet renews: the order that stops, the
// rerun after a repair, and the --require-current proof on any rerun.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/testenv"
)

// mariaDBMember starts a MariaDB node whose certificate files live in a
// fleet-like member folder (so f.rotate and f.breakFiles work on it),
// signed by the fleet CA, with the fleet's admin account.
func mariaDBMember(t *testing.T, f *fleet) *fleetMember {
	t.Helper()
	m := &fleetMember{role: "leaf", dir: t.TempDir(), log: &lockedBuffer{}, index: -1}
	require.NoError(t, os.WriteFile(filepath.Join(m.dir, "ca.crt"), f.ca.CertPEM, 0o644))
	f.Rotate(m)
	m.addr = testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(m.dir, "server.crt"),
		KeyFile: filepath.Join(m.dir, "server.key"), CAFile: filepath.Join(m.dir, "ca.crt"),
		User: "admin", Password: fleetPW, RequireSSL: true}).Addr
	return m
}

// assertTableFits checks that every line of a table report is at most 160
// columns (the output is ASCII apart from escaped node text).
func assertTableFits(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 160, "%q", l)
	}
}

// TestClusterFanOutMixed: master (ssld) + leaf (ssld) + leaf (MariaDB),
// every node with its own renewed certificate.
//
//  1. The ssld leaf's new pair does not match: it fails, the MariaDB leaf
//     reloads, and the master is skipped ("1 leaf failed") and keeps
//     serving its old certificate. The table fits 160 columns; --wide is
//     one line per node.
//  2. After the repair the same command ends 0.
//  3. A second rerun with --require-current ends 0 again (nothing changed
//     since, and every node serves what its files hold), where
//     --require-change calls every node stale.
//  4. The master's files change without a reload: status --require-current
//     says stale with both fingerprints; the MariaDB node is unproven (it
//     cannot show its files), which a reload --require-current proves.
func TestClusterFanOutMixed(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master", "leaf")
	master, leaf := f.members[0], f.members[1]
	mdb := mariaDBMember(t, f)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(fmt.Sprintf("aggregators: [%s]\nleaves:\n  - %s\n  - {address: %q, dialect: mariadb}\n",
		master.addr, leaf.addr, mdb.addr)), 0o644))

	old := map[string]string{}
	fresh := map[string]string{}
	for _, m := range []*fleetMember{master, leaf, mdb} {
		old[m.addr] = serialOf(m.leaf.Cert)
		fresh[m.addr] = f.Rotate(m)
	}
	f.breakFiles(leaf)

	// 1. The bad leaf stops the run before the master.
	code, rep, stderr := f.reloadJSON("reload", "--topology", topo, "--require-current")
	require.Equal(t, 1, code, stderr)
	require.Len(t, rep.Nodes, 3)
	assert.Equal(t, []string{leaf.addr, mdb.addr, master.addr},
		[]string{rep.Nodes[0].Address, rep.Nodes[1].Address, rep.Nodes[2].Address}, "leaves first, master last")
	l := rep.Nodes[f.row(rep, leaf.addr)]
	assert.Equal(t, "failed", l.Status)
	assert.Contains(t, l.Error, "private key does not match")
	assert.Contains(t, l.NextStep, "ssld check")
	md := rep.Nodes[f.row(rep, mdb.addr)]
	assert.Equal(t, "ok", md.Status, md.Error)
	assert.Equal(t, fresh[mdb.addr], md.After.Serial)
	ma := rep.Nodes[f.row(rep, master.addr)]
	assert.Equal(t, "skipped", ma.Status)
	assert.Equal(t, "not attempted: 1 leaf failed ("+leaf.addr+" failed)", ma.Error)
	assert.Contains(t, ma.NextStep, "--continue-on-error")
	assert.Empty(t, ma.Before.Serial, "the master was not contacted")
	_, st, _ := f.reloadJSON("status", "--topology", topo)
	assert.Equal(t, old[master.addr], st.Nodes[f.row(st, master.addr)].Before.Serial, "the master still serves its old certificate")

	// The same run as a table: every line fits 160 columns, the long
	// reason on its own indented line; --wide: one line per node.
	env := []string{"SSLD_PASSWORD=" + fleetPW}
	code, out, _ := ssldClusterEnv(t, env, "reload", "--topology", topo, "--user", "admin", "--ssl-ca", f.caFile, "--timeout", "3s")
	assert.Equal(t, 1, code)
	assertTableFits(t, out)
	assert.Regexp(t, regexpQuote(leaf.addr)+`\s+leaf\s+ssld\s+failed\s+yes\s+`+old[leaf.addr]+`\s[^\n]*\n    error: SSL_RELOAD: ERROR \d+`, out)
	assert.Contains(t, out, "\n    next:  run `ssld check --config")
	assert.Regexp(t, regexpQuote(master.addr)+`\s+master\s+auto\s+skipped\s+no\s+-\s+-\s+-\s+0s\n    error: not attempted: 1 leaf failed`, out)
	assert.Greater(t, len(l.Error), 160-11, "the error is long enough to need wrapping")
	code, out, _ = ssldClusterEnv(t, env, "reload", "--topology", topo, "--user", "admin", "--ssl-ca", f.caFile, "--timeout", "3s", "--wide")
	assert.Equal(t, 1, code)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 5, "header, three nodes, summary:\n%s", out)
	assert.Regexp(t, `^`+regexpQuote(leaf.addr)+`\s+leaf\s+ssld\s+failed\s.*private key does not match.*ssld check`, lines[1])

	// 2. Repaired: the rerun ends 0. The MariaDB leaf reloaded in the first
	// run and serves what it did (unchanged), the others now reload.
	fresh[leaf.addr] = f.Rotate(leaf)
	code, rep, stderr = f.reloadJSON("reload", "--topology", topo, "--require-current")
	require.Equal(t, 0, code, "stderr: %s\n%+v", stderr, rep)
	for _, m := range []*fleetMember{master, leaf, mdb} {
		n := rep.Nodes[f.row(rep, m.addr)]
		assert.Equal(t, fresh[m.addr], n.After.Serial, m.addr)
		assert.Empty(t, n.NextStep, m.addr)
	}
	assert.Equal(t, "unchanged", rep.Nodes[f.row(rep, mdb.addr)].Status)
	assert.Equal(t, "ok", rep.Nodes[f.row(rep, master.addr)].Status)
	assert.Equal(t, rep.Nodes[f.row(rep, master.addr)].After.Fingerprint, rep.Nodes[f.row(rep, master.addr)].Files.Fingerprint,
		"the ssld master's files, as CHECK TLS reads them, are what it serves")

	// 3. Any later rerun proves the same; --require-change cannot.
	code, rep, stderr = f.reloadJSON("reload", "--topology", topo, "--require-current")
	require.Equal(t, 0, code, "stderr: %s\n%+v", stderr, rep)
	assert.Equal(t, map[string]int{"unchanged": 3}, rep.Summary)
	code, rep, _ = f.reloadJSON("reload", "--topology", topo, "--require-change", "--continue-on-error")
	assert.Equal(t, 1, code)
	assert.Equal(t, map[string]int{"stale": 3}, rep.Summary)

	// 4. The master's files change, nobody reloads it.
	servedFP := rep.Nodes[f.row(rep, master.addr)].After.Fingerprint
	f.Rotate(master)
	filesFP := fingerprintOf(master)
	code, st, stderr = f.reloadJSON("status", "--topology", topo, "--require-current")
	assert.Equal(t, 1, code, stderr)
	ma = st.Nodes[f.row(st, master.addr)]
	assert.Equal(t, "stale", ma.Status)
	assert.Contains(t, ma.Error, "channel client: serves "+servedFP+" but its files hold "+filesFP)
	assert.Equal(t, filesFP, ma.Files.Fingerprint)
	assert.Equal(t, servedFP, ma.Before.Fingerprint)
	assert.Contains(t, ma.NextStep, "ssld cluster reload")
	assert.Equal(t, "ok", st.Nodes[f.row(st, leaf.addr)].Status, "the ssld leaf serves its files")
	md = st.Nodes[f.row(st, mdb.addr)]
	assert.Equal(t, "unproven", md.Status)
	assert.Contains(t, md.Error, "cannot show over SQL what its files hold")
	assert.Contains(t, md.NextStep, "reload --require-current")

	// A reload --require-current proves every node again.
	code, rep, stderr = f.reloadJSON("reload", "--topology", topo, "--require-current")
	require.Equal(t, 0, code, "stderr: %s\n%+v", stderr, rep)
	assert.Equal(t, filesFP, rep.Nodes[f.row(rep, master.addr)].After.Fingerprint)

	// 5. A bad MariaDB leaf stops the run the same way: MariaDB refuses
	// FLUSH SSL and keeps its old context, which is why a FLUSH SSL that
	// succeeded is the proof for that dialect.
	mdbServed := rep.Nodes[f.row(rep, mdb.addr)].After.Serial
	f.breakFiles(mdb)
	f.Rotate(master)
	code, rep, _ = f.reloadJSON("reload", "--topology", topo, "--require-current")
	assert.Equal(t, 1, code)
	md = rep.Nodes[f.row(rep, mdb.addr)]
	assert.Equal(t, "failed", md.Status, md.Error)
	assert.Contains(t, md.Error, "FLUSH SSL: ERROR")
	assert.Equal(t, mdbServed, md.After.Serial, "MariaDB keeps serving its old certificate")
	assert.Contains(t, md.NextStep, "error log")
	assert.Equal(t, "skipped", rep.Nodes[f.row(rep, master.addr)].Status)
}

// fingerprintOf is the SHA-256 fingerprint of m's certificate on disk.
func fingerprintOf(m *fleetMember) string {
	sum := sha256.Sum256(m.leaf.Cert.Raw)
	return hex.EncodeToString(sum[:])
}
