package e2e

// CA rotation end to end, as docs/operations.md ("CA rotation") tells it:
// trust both CAs -> new leaves from the new CA -> drop the old CA, each
// phase one fan-out reload plus the fan-out command that proves it, on two
// ssld nodes with cluster_listen, without a restart.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

func TestClusterCARotation(t *testing.T) {
	t.Parallel()
	clusterAddr := map[int]string{}
	f := startFleetWith(t, fleetOptions{extraConfig: func(m *fleetMember) string {
		clusterAddr[m.index] = freeAddr(t)
		return "cluster_listen: " + clusterAddr[m.index] + "\n"
	}}, "master", "leaf")
	oldCA, newCA := f.ca, pkitest.MustCA(t, "new CA")
	dir := t.TempDir()
	write := func(name string, data ...[]byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(strings.Join(bytesToStrings(data), "")), 0o600))
		return p
	}
	// What the operator holds: CA bundles for the fan-out, and a peer
	// certificate from each CA (what other cluster members present).
	oldOnly := write("old.pem", oldCA.CertPEM)
	both := write("both.pem", oldCA.CertPEM, newCA.CertPEM)
	newOnly := write("new.pem", newCA.CertPEM)
	peer := func(ca *pki.CA, name string) (cert, key string, tc tls.Certificate) {
		l := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: name})
		c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		require.NoError(t, err)
		return write(name+".crt", l.CertPEM), write(name+".key", l.KeyPEM), c
	}
	oldPeerCert, oldPeerKey, oldPeer := peer(oldCA, "old-peer")
	newPeerCert, newPeerKey, newPeer := peer(newCA, "new-peer")

	mainTopo := f.topologyFile()
	clusterTopo := write("cluster-ports.yaml", []byte(fmt.Sprintf("aggregators: [%s]\nleaves: [%s]\n", clusterAddr[0], clusterAddr[1])))
	pids := []int{f.members[0].cmd.Process.Pid, f.members[1].cmd.Process.Pid}

	// fanout runs `ssld cluster ARGS` as admin and returns the exit code
	// and the report.
	fanout := func(args ...string) (int, clusterReport) {
		t.Helper()
		code, out, stderr := ssldClusterEnv(t, []string{"SSLD_PASSWORD=" + fleetPW},
			append(args, "--format", "json", "--timeout", "3s", "--retries", "0")...)
		var rep clusterReport
		require.NoError(t, jsonUnmarshalReport(out, &rep), "stdout %s\nstderr %s", out, stderr)
		return code, rep
	}
	// The runbook's commands, as docs/operations.md writes them, with its
	// file names standing for this test's files.
	runbook := caRotationRunbook(t, map[string]string{
		"cluster.yaml": mainTopo, "cluster-ports.yaml": clusterTopo,
		"old-ca.crt": oldOnly, "both.crt": both, "new-ca.crt": newOnly,
		"old-peer.crt": oldPeerCert, "old-peer.key": oldPeerKey, "new-peer.crt": newPeerCert, "new-peer.key": newPeerKey,
	})
	require.Len(t, runbook, 6, "phase 1: reload and proof; phase 2: reload; phase 3: reload and two proofs")
	for i, want := range []string{"reload", "status", "reload", "reload", "status", "status"} {
		require.Equal(t, want, runbook[i][0], "runbook command %d: %v", i, runbook[i])
	}
	// admits reports whether node i's cluster port lets a peer with c in
	// (a fresh connection and a query).
	admits := func(i int, c tls.Certificate, roots string) error {
		pool := x509.NewCertPool()
		b, err := os.ReadFile(roots)
		require.NoError(t, err)
		pool.AppendCertsFromPEM(b)
		db := clusterDB(t, clusterAddr[i], &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{c}, ServerName: "localhost"})
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	expectPeers := func(phase string, roots string, oldIn, newIn bool) {
		t.Helper()
		for i := range f.members {
			err := admits(i, oldPeer, roots)
			if oldIn {
				assert.NoError(t, err, "%s: node %d must admit an old-CA peer", phase, i)
			} else {
				assert.Error(t, err, "%s: node %d must refuse an old-CA peer", phase, i)
			}
			err = admits(i, newPeer, roots)
			if newIn {
				assert.NoError(t, err, "%s: node %d must admit a new-CA peer", phase, i)
			} else {
				assert.Error(t, err, "%s: node %d must refuse a new-CA peer", phase, i)
			}
		}
	}

	// Phase 0: old CA only. A cluster-port session opened now must still
	// answer after the last phase.
	expectPeers("before", oldOnly, true, false)
	var sessions []*sql.Conn
	for i := range f.members {
		pool := x509.NewCertPool()
		pool.AddCert(oldCA.Cert)
		db := clusterDB(t, clusterAddr[i], &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{oldPeer}, ServerName: "localhost"})
		t.Cleanup(func() { db.Close() })
		conn, err := db.Conn(context.Background())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		var one int
		require.NoError(t, conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one))
		sessions = append(sessions, conn)
	}

	// Phase 1: trust both CAs everywhere (ssl_ca becomes the bundle).
	require.NoError(t, pki.WriteFile(f.caFile, []byte(string(oldCA.CertPEM)+string(newCA.CertPEM)), 0o644))
	code, rep := fanout(runbook[0]...)
	require.Equal(t, 0, code, "%+v", rep)
	// Proof: a new-CA peer logs in on every node's cluster port.
	code, rep = fanout(runbook[1]...)
	assert.Equal(t, 0, code, "phase 1 proof: %+v", rep)
	expectPeers("phase 1", oldOnly, true, true)

	// Phase 2: new leaves from the new CA.
	f.ca = newCA
	for _, m := range f.members {
		f.Rotate(m)
	}
	code, rep = fanout(runbook[2]...)
	assert.Equal(t, 0, code, "phase 2 proof: %+v", rep)
	for _, n := range rep.Nodes {
		assert.Equal(t, "ok", n.Status, n.Error)
		assert.Equal(t, "CN=new CA,O=ssld", n.After.Issuer)
	}
	expectPeers("phase 2", newOnly, true, true)

	// Phase 3: drop the old CA.
	require.NoError(t, pki.WriteFile(f.caFile, newCA.CertPEM, 0o644))
	code, rep = fanout(runbook[3]...)
	require.Equal(t, 0, code, "%+v", rep)
	// Proof: old-CA peers are refused on every node, new-CA peers get in.
	code, rep = fanout(runbook[4]...)
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "failed", n.Status, "%s must refuse the old-CA peer", n.Address)
		assert.Contains(t, n.Error, "certificate", n.Address)
	}
	code, rep = fanout(runbook[5]...)
	assert.Equal(t, 0, code, "phase 3 proof: %+v", rep)
	expectPeers("phase 3", newOnly, false, true)

	// The session opened before phase 1 still answers; nothing restarted.
	for i, conn := range sessions {
		var one int
		assert.NoError(t, conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one), "session on node %d", i)
	}
	for i, m := range f.members {
		assert.Nil(t, m.cmd.ProcessState, "node %d exited", i)
		assert.Equal(t, pids[i], m.cmd.Process.Pid)
	}
}

// clusterDB opens a pool with one connection to a cluster port with tc.
func clusterDB(t *testing.T, addr string, tc *tls.Config) *sql.DB {
	t.Helper()
	name := fmt.Sprintf("carot-%d", tlsSeq.Add(1))
	require.NoError(t, mysqldrv.RegisterTLSConfig(name, tc))
	t.Cleanup(func() { mysqldrv.DeregisterTLSConfig(name) })
	cfg := mysqldrv.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "admin", fleetPW, "tcp", addr
	cfg.TLSConfig = name
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
	c, err := mysqldrv.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func jsonUnmarshalReport(out string, rep *clusterReport) error {
	return json.Unmarshal([]byte(out), rep)
}

// caRotationRunbook returns the `ssld cluster` commands of the "CA
// rotation" section of docs/operations.md, in order, without "ssld
// cluster": shell continuations joined, comments dropped, single quotes
// honoured, and every file name replaced through files (a name the test
// does not know fails it, so the runbook cannot name a file nobody made).
func caRotationRunbook(t *testing.T, files map[string]string) [][]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(doc), "\n## CA rotation")
	require.True(t, ok, "docs/operations.md has no CA rotation section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var cmds [][]string
	blocks := strings.Split(section, "```")
	for i := 1; i < len(blocks); i += 2 { // the odd parts are inside fences
		text := strings.ReplaceAll(blocks[i], "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "ssld cluster ") {
				continue
			}
			words := shellWords(t, strings.TrimPrefix(line, "ssld cluster "))
			for j, w := range words {
				if strings.HasSuffix(w, ".yaml") || strings.HasSuffix(w, ".crt") || strings.HasSuffix(w, ".key") {
					p, ok := files[w]
					require.True(t, ok, "the runbook names %s, which the test does not stand in for: %s", w, line)
					words[j] = p
				}
			}
			cmds = append(cmds, words)
		}
	}
	return cmds
}

// shellWords splits a command line on blanks, keeping single-quoted text
// as one word, as sh does for the runbook's commands.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.False(t, quoted, "unterminated quote in %q", line)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
