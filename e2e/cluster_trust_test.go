package e2e

// Trust and secrets of `ssld cluster`: what is verified before a password is
// sent, and where the password may come from.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// countingProxy forwards loopback TCP connections to target and counts them.
func countingProxy(t *testing.T, target string) (addr string, count func() int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var n atomic.Int64
	testenv.Serve(t, l, func(c net.Conn) {
		n.Add(1)
		u, err := net.DialTimeout("tcp", target, 3*time.Second)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
		<-done
	})
	return l.Addr().String(), n.Load
}

// TestClusterTrust: without --ssl-ca (SSL_CERT_FILE stands in for the
// system roots) a node whose certificate names another host is refused
// before any login; --ssl-ca alone is VERIFY_CA, --ssl-verify-identity adds
// the name; --insecure-skip-verify warns and marks every row.
func TestClusterTrust(t *testing.T) {
	t.Parallel()
	f := startFleetWith(t, fleetOptions{leaf: func(i int) pki.LeafOptions {
		if i == 1 {
			return pki.LeafOptions{CN: "other.example", DNSNames: []string{"other.example"}}
		}
		return pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	}}, "master", "leaf")
	good, wrong := f.members[0], f.members[1]
	proxy, conns := countingProxy(t, wrong.addr)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte("aggregators: ["+good.addr+"]\nleaves: ["+proxy+"]\n"), 0o644))
	systemRoots := []string{"SSL_CERT_FILE=" + f.caFile, "SSL_CERT_DIR=" + t.TempDir()}
	run := func(env []string, args ...string) (int, clusterReport, string) {
		t.Helper()
		code, out, stderr := ssldClusterEnv(t, append([]string{"SSLD_PASSWORD=" + fleetPW}, env...),
			append([]string{"status", "--topology", topo, "--user", "admin", "--format", "json", "--timeout", "3s"}, args...)...)
		var rep clusterReport
		require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout: %s\nstderr: %s", out, stderr)
		return code, rep, stderr
	}

	// System roots: the chain verifies, the name does not: refused, one
	// connection (the probe), no login, no retry.
	code, rep, stderr := run(systemRoots, "--retries", "2")
	assert.Equal(t, 1, code, stderr)
	w := rep.Nodes[f.row(rep, proxy)]
	assert.Equal(t, "failed", w.Status)
	assert.Contains(t, w.Error, "certificate not verified, no login attempted")
	assert.Contains(t, w.Error, "other.example")
	assert.False(t, w.Verified)
	assert.Equal(t, "auto", w.Dialect, "never logged in, so the dialect was never asked")
	assert.NotEmpty(t, w.Before.Serial, "the row shows what the node served")
	assert.Equal(t, int64(1), conns(), "only the probe connected; no login was attempted")
	g := rep.Nodes[f.row(rep, good.addr)]
	assert.Equal(t, "ok", g.Status, g.Error)
	assert.True(t, g.Verified)

	// Discovery from a master whose certificate does not verify: no login,
	// a topology error (exit 2), nothing reloaded.
	before0 := conns()
	code, out0, stderr0 := ssldClusterEnv(t, append([]string{"SSLD_PASSWORD=" + fleetPW}, systemRoots...),
		"reload", "--master", proxy, "--user", "admin", "--timeout", "3s")
	assert.Equal(t, 2, code, out0)
	assert.Contains(t, stderr0, "certificate not verified, no login attempted")
	assert.Equal(t, int64(1), conns()-before0, "one connection, refused at the handshake")

	// Nothing in SSL_CERT_FILE trusts the fleet CA: both refused.
	empty := filepath.Join(t.TempDir(), "empty.pem")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	code, rep, _ = run([]string{"SSL_CERT_FILE=" + empty, "SSL_CERT_DIR=" + t.TempDir()})
	assert.Equal(t, 1, code)
	for _, n := range rep.Nodes {
		assert.Equal(t, "failed", n.Status)
		assert.Contains(t, n.Error, "certificate not verified")
	}

	// --ssl-ca: VERIFY_CA, the name is not checked.
	before := conns()
	code, rep, stderr = run(nil, "--ssl-ca", f.caFile)
	assert.Equal(t, 0, code, stderr)
	assert.Equal(t, "ok", rep.Nodes[f.row(rep, proxy)].Status)
	assert.True(t, rep.Nodes[f.row(rep, proxy)].Verified)
	assert.Greater(t, conns()-before, int64(1), "probe and login")

	// --ssl-ca --ssl-verify-identity: VERIFY_IDENTITY.
	code, rep, _ = run(nil, "--ssl-ca", f.caFile, "--ssl-verify-identity")
	assert.Equal(t, 1, code)
	assert.Equal(t, "failed", rep.Nodes[f.row(rep, proxy)].Status)
	assert.Contains(t, rep.Nodes[f.row(rep, proxy)].Error, "other.example")
	assert.Equal(t, "ok", rep.Nodes[f.row(rep, good.addr)].Status)

	// --insecure-skip-verify: a warning, and every row says verified=false.
	code, rep, stderr = run(systemRoots, "--insecure-skip-verify")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "Warning: --insecure-skip-verify")
	for _, n := range rep.Nodes {
		assert.Equal(t, "ok", n.Status, n.Error)
		assert.False(t, n.Verified, n.Address)
	}
	assert.Contains(t, stderr, "verified=no")
	_, out, _ := ssldClusterEnv(t, []string{"SSLD_PASSWORD=" + fleetPW}, "status", "--topology", topo,
		"--user", "admin", "--insecure-skip-verify")
	assert.Regexp(t, `ADDRESS\s+ROLE\s+DIALECT\s+STATUS\s+VERIFIED`, out)
	assert.Regexp(t, regexpQuote(good.addr)+`\s+master\s+ssld\s+ok\s+no\s`, out)
}

// TestClusterPasswordSources: a password on the command line warns, a
// password file works (and warns when others can read it), -p prompts with
// echo off on a terminal, and nothing prints the password.
func TestClusterPasswordSources(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "master")
	base := []string{"status", "--topology", f.topologyFile(), "--user", "admin", "--ssl-ca", f.caFile}

	code, out, stderr := ssldCluster(t, append(base, "--password="+fleetPW)...)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "Warning: a password on the command line can be read by other users")
	assert.NotContains(t, out+stderr, fleetPW)

	code, _, stderr = ssldClusterEnv(t, []string{"SSLD_PASSWORD=" + fleetPW}, base...)
	assert.Equal(t, 0, code, stderr)
	assert.NotContains(t, stderr, "Warning")

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(fleetPW+"\n"), 0o600))
	code, _, stderr = ssldCluster(t, append(base, "--password-file", pwFile)...)
	assert.Equal(t, 0, code, stderr)
	assert.NotContains(t, stderr, "Warning")
	require.NoError(t, os.Chmod(pwFile, 0o644))
	code, _, stderr = ssldCluster(t, append(base, "--password-file", pwFile)...)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "is readable by group or others (mode 0644)")

	code, _, stderr = ssldCluster(t, append(base, "--password-file", pwFile, "--password=x")...)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--password and --password-file are exclusive")
	code, _, stderr = ssldCluster(t, append(base, "--password-file", filepath.Join(dir, "missing"))...)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--password-file")

	// -p alone with no terminal at all: a clear usage error.
	cmd := exec.Command(ssldBinary(t), append([]string{"cluster"}, append(base, "-p")...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	var eb bytes.Buffer
	cmd.Stderr = &eb
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, eb.String(), "-p without a value prompts on a terminal")

	// -p on a terminal (script(1) gives the command a pty): prompt, echo
	// off, the login works.
	tty, err := typeAtPrompt(t, ssldBinary(t)+" cluster "+strings.Join(append(base, "-p"), " "), fleetPW)
	assert.NoError(t, err, tty)
	assert.Contains(t, tty, "status: 1 nodes: 1 ok")
	assert.NotContains(t, tty, fleetPW, "no echo")
}

// TestClusterReloadIntoUntrustedCert: a node that reloads into a
// certificate the fan-out does not trust is failed at the verifying
// handshake, with what it now serves in the row.
func TestClusterReloadIntoUntrustedCert(t *testing.T) {
	t.Parallel()
	// The cluster channel keeps its own files: its leaf must verify against
	// ssl_ca, so ssld itself would refuse a rogue one there.
	f := startFleetWith(t, fleetOptions{extraConfig: func(m *fleetMember) string {
		for _, n := range []string{"crt", "key"} {
			b, err := os.ReadFile(filepath.Join(m.dir, "server."+n))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(m.dir, "cluster."+n), b, 0o600))
		}
		return "cluster_ssl_cert: cluster.crt\ncluster_ssl_key: cluster.key\n"
	}}, "master")
	m := f.members[0]
	f.ca = pkitest.MustCA(t, "rogue CA")
	newSerial := f.Rotate(m)
	code, rep, _ := f.reloadJSON("reload", "--topology", f.topologyFile())
	assert.Equal(t, 1, code)
	r := rep.Nodes[0]
	assert.Equal(t, "failed", r.Status)
	assert.Contains(t, r.Error, "verify after reload: TLS handshake: certificate not verified: ")
	assert.NotContains(t, r.Error, "no login attempted", "the login happened before the reload")
	assert.Equal(t, newSerial, r.After.Serial)
}

// typeAtPrompt runs the shell command line on a terminal (script(1) gives it
// a pty), waits for "Enter password:", types password and a newline, and
// returns what the terminal showed and the command's exit error. It types
// without a pause: echo goes off before the prompt is written, so a
// password typed the moment the prompt shows is not echoed either.
func typeAtPrompt(t *testing.T, line, password string) (string, error) {
	t.Helper()
	script := testenv.LookPath(t, "script")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
	stdin, err := sc.StdinPipe()
	require.NoError(t, err)
	var tty lockedBuffer
	sc.Stdout, sc.Stderr = &tty, &tty
	require.NoError(t, sc.Start())
	testenv.Eventually(t, 20*time.Second, func() bool { return strings.Contains(tty.String(), "Enter password:") },
		"no password prompt: %s", &tty)
	_, err = io.WriteString(stdin, password+"\n")
	require.NoError(t, err)
	err = sc.Wait()
	return tty.String(), err
}
