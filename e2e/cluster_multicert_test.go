package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// multiCertReport is the part of `ssld cluster --format json` that
// speaks of several certificates per node.
type multiCertReport struct {
	Nodes []struct {
		Address   string `json:"address"`
		Status    string `json:"status"`
		Error     string `json:"error"`
		BeforeAll []struct {
			Serial   string `json:"serial"`
			KeyType  string `json:"key_type"`
			NotAfter string `json:"not_after"`
		} `json:"before_all"`
		AfterAll []struct {
			Serial   string `json:"serial"`
			KeyType  string `json:"key_type"`
			NotAfter string `json:"not_after"`
		} `json:"after_all"`
	} `json:"nodes"`
}

// multiCertRun runs `ssld cluster ARGS` as reloadJSON does and parses the
// rows; it returns the exit code and the row of each address.
func (f *fleet) multiCertRun(args ...string) (int, map[string]int, multiCertReport) {
	f.t.Helper()
	code, out, errOut := f.reloadJSON2(args...)
	var rep multiCertReport
	require.NoError(f.t, json.Unmarshal([]byte(out), &rep), "stdout: %s\nstderr: %s", out, errOut)
	rows := map[string]int{}
	for i, n := range rep.Nodes {
		rows[n.Address] = i
	}
	return code, rows, rep
}

// writeFleetPair writes m's pair of key type kt (server.crt/.key for
// ECDSA, rsa.crt/.key for RSA) valid for validity, and returns its serial.
func (f *fleet) writeFleetPair(m *fleetMember, kt pki.KeyType, validity time.Duration) string {
	f.t.Helper()
	l := pkitest.MustIssue(f.t, f.ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: kt, NotAfter: time.Now().Add(validity)})
	base := "server"
	if kt == pki.RSA2048 {
		base = "rsa"
	}
	require.NoError(f.t, pki.WriteFile(filepath.Join(m.dir, base+".crt"), l.CertPEM, 0o644))
	require.NoError(f.t, pki.WriteFile(filepath.Join(m.dir, base+".key"), l.KeyPEM, 0o600))
	return serialOf(l.Cert)
}

// TestClusterMultiCert: a fleet whose nodes serve an ECDSA and an RSA
// certificate. The fan-out reads both on every node (an ordinary hello
// and an RSA-only one), and --expect-serial (several values),
// --require-change, --require-current and --min-validity hold for each:
// one certificate that fails a check makes its node stale.
func TestClusterMultiCert(t *testing.T) {
	f := startFleet(t, "master", "leaf")
	master, leaf := f.members[0], f.members[1]
	serials := map[*fleetMember][2]string{}
	renew := func(m *fleetMember, ecValidity, rsaValidity time.Duration) {
		s := serials[m]
		if ecValidity > 0 {
			s[0] = f.writeFleetPair(m, pki.ECDSAP256, ecValidity)
		}
		if rsaValidity > 0 {
			s[1] = f.writeFleetPair(m, pki.RSA2048, rsaValidity)
		}
		serials[m] = s
	}
	const long = 90 * 24 * time.Hour
	for _, m := range f.members {
		renew(m, long, long)
		config := filepath.Join(m.dir, "ssld.yaml")
		b, err := os.ReadFile(config)
		require.NoError(t, err)
		s := strings.Replace(string(b), "ssl_cert: server.crt\nssl_key: server.key\n", "ssl_cert: [server.crt, rsa.crt]\nssl_key: [server.key, rsa.key]\n", 1)
		require.NotEqual(t, string(b), s)
		require.NoError(t, os.WriteFile(config, []byte(s), 0o600))
	}
	topo := f.topologyFile()
	both := func(rep multiCertReport, row int, m *fleetMember, after bool) {
		t.Helper()
		all := rep.Nodes[row].AfterAll
		if !after {
			all = rep.Nodes[row].BeforeAll
		}
		require.Len(t, all, 2, "%s: %+v", m.addr, rep.Nodes[row])
		assert.Equal(t, serials[m][0], all[0].Serial, m.addr)
		assert.Equal(t, "ECDSA P-256", all[0].KeyType, m.addr)
		assert.Equal(t, serials[m][1], all[1].Serial, m.addr)
		assert.Equal(t, "RSA 2048", all[1].KeyType, m.addr)
	}

	// One certificate to two through the fan-out, proved current.
	code, rows, rep := f.multiCertRun("reload", "--topology", topo, "--require-current")
	require.Equal(t, 0, code, "%+v", rep)
	for _, m := range f.members {
		assert.Equal(t, "ok", rep.Nodes[rows[m.addr]].Status, rep.Nodes[rows[m.addr]].Error)
		both(rep, rows[m.addr], m, true)
	}

	// Both renewed everywhere: every proof holds for each certificate;
	// --expect-serial lists the leaf's two (repeated flag and a comma).
	renew(master, long, long)
	renew(leaf, long, long)
	code, rows, rep = f.multiCertRun("reload", "--topology", topo, "--require-change", "--require-current", "--min-validity", "30d",
		"--roles", "leaf", "--expect-serial", serials[leaf][0], "--expect-serial", strings.ToLower(serials[leaf][1]))
	require.Equal(t, 0, code, "%+v", rep)
	assert.Equal(t, "ok", rep.Nodes[rows[leaf.addr]].Status, rep.Nodes[rows[leaf.addr]].Error)
	both(rep, rows[leaf.addr], leaf, true)
	code, rows, rep = f.multiCertRun("reload", "--topology", topo, "--require-change", "--require-current", "--min-validity", "30d",
		"--roles", "master", "--expect-serial", serials[master][0]+","+serials[master][1])
	require.Equal(t, 0, code, "%+v", rep)
	both(rep, rows[master.addr], master, true)

	// Only the ECDSA certificate renewed on the leaf: with --require-change
	// its RSA certificate, the same as before, makes it stale.
	rsaBefore := serials[leaf][1]
	renew(leaf, long, 0)
	code, rows, rep = f.multiCertRun("reload", "--topology", topo, "--require-change", "--roles", "leaf")
	assert.Equal(t, 1, code)
	n := rep.Nodes[rows[leaf.addr]]
	assert.Equal(t, "stale", n.Status)
	assert.Regexp(t, `^certificate RSA 2048 \(serial `+rsaBefore+`\): serves the same certificate as before the reload \(fingerprint [0-9a-f]{16}\); --require-change$`, n.Error)
	both(rep, rows[leaf.addr], leaf, true)

	// --expect-serial with the ECDSA serial alone: the RSA one is not it.
	code, rows, rep = f.multiCertRun("status", "--topology", topo, "--roles", "leaf", "--expect-serial", serials[leaf][0])
	assert.Equal(t, 1, code)
	n = rep.Nodes[rows[leaf.addr]]
	assert.Equal(t, "stale", n.Status)
	assert.Contains(t, n.Error, "certificate RSA 2048 (serial "+serials[leaf][1]+"): serves serial "+serials[leaf][1]+", expected "+
		strings.TrimLeft(serials[leaf][0], "0"))
	both(rep, rows[leaf.addr], leaf, false)

	// An RSA certificate with 10 days left: --min-validity 30d names it.
	renew(master, 0, 10*24*time.Hour)
	code, rows, rep = f.multiCertRun("reload", "--topology", topo, "--roles", "master", "--min-validity", "30d")
	assert.Equal(t, 1, code)
	n = rep.Nodes[rows[master.addr]]
	assert.Equal(t, "stale", n.Status)
	assert.Contains(t, n.Error, "certificate RSA 2048 (serial "+serials[master][1]+"): valid until ")
	assert.Contains(t, n.Error, "less than --min-validity 30d")
	assert.NotContains(t, n.Error, "ECDSA")

	// The RSA files change on the master without a reload: status
	// --require-current finds the second certificate not current.
	renew(master, 0, long)
	code, rows, rep = f.multiCertRun("status", "--topology", topo, "--roles", "master", "--require-current")
	assert.Equal(t, 1, code)
	n = rep.Nodes[rows[master.addr]]
	assert.Equal(t, "stale", n.Status)
	assert.Regexp(t, `^channel client: certificate 2: serves [0-9a-f]{64} but its files hold [0-9a-f]{64} \(serial `+serials[master][1]+`\): they changed since its last reload$`, n.Error)

	// An RSA certificate from a CA the runner does not trust: the node
	// reloads it (the client channel does not check its own chain), and
	// the RSA-only probe fails the node, naming that hello.
	stranger := pkitest.MustCA(t, "stranger CA")
	l := pkitest.MustIssue(t, stranger, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.RSA2048})
	require.NoError(t, pki.WriteFile(filepath.Join(master.dir, "rsa.crt"), l.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(master.dir, "rsa.key"), l.KeyPEM, 0o600))
	code, rows, rep = f.multiCertRun("reload", "--topology", topo, "--roles", "master")
	assert.Equal(t, 1, code)
	n = rep.Nodes[rows[master.addr]]
	assert.Equal(t, "failed", n.Status)
	assert.Contains(t, n.Error, "verify after reload: TLS handshake (RSA-only hello): certificate not verified: x509: certificate signed by unknown authority")
	require.Len(t, n.AfterAll, 2)
	assert.Equal(t, serialOf(l.Cert), n.AfterAll[1].Serial)
}
