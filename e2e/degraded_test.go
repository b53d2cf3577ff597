package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

func expiredLeaf(ca *pki.CA) *pki.Leaf {
	l, err := ca.Issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		panic(err)
	}
	return l
}

// TestDegradedStartRepairedOverSocket: a node started on an expired
// certificate serves nothing over TCP (every client gets an error naming
// the problem and the way out, openssl sees no certificate), answers on its
// Unix socket and /metrics, fails /healthz; SSL_RELOAD over the socket
// after the files are fixed brings TLS up with no restart.
func TestDegradedStartRepairedOverSocket(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	opensslBin := testenv.LookPath(t, "openssl")
	n := newChildNode(t, expiredLeaf)
	n.start(t)
	n.waitSocket(t)

	host, port := splitAddr(t, n.addr)
	tcp := func(user, pw string, extra ...string) (string, error) {
		args := append([]string{"--protocol=TCP", "-h", host, "-P", port, "-u", user, "-p" + pw, "--batch", "--skip-column-names", "--connect-timeout=5"}, extra...)
		out, err := exec.Command(mysqlBin, append(args, "-e", "SELECT 1")...).CombinedOutput()
		return string(out), err
	}
	sock := func(q string) (string, error) {
		return mysqlSocket(mysqlBin, n.socket, "admin", adminPW, "--batch", "--skip-column-names", "-e", q)
	}
	for _, c := range []struct {
		user, pw string
		args     []string
	}{
		{"admin", adminPW, []string{"--ssl", "--ssl-ca=" + filepath.Join(n.dir, "certs/ca.crt")}},
		{"admin", adminPW, []string{"--skip-ssl"}}, // require_ssl: never let in over plain text
		{"plain", plainPW, []string{"--skip-ssl"}},
	} {
		out, err := tcp(c.user, c.pw, c.args...)
		require.Error(t, err, out)
		// Over TLS the MariaDB client wraps it: "ERROR 2002 (HY000): Received
		// error packet before completion of TLS handshake. ... 3888 - ...".
		assert.Regexp(t, `ERROR 3888 \(HY000\)|3888 - `, out, "%s %v", c.user, c.args)
		assert.Contains(t, out, "ssld has no valid TLS certificate and refuses every connection on this port; fix the files, then run SSL_RELOAD over the Unix socket "+n.socket+" (or send SIGHUP). Problem: channel client: ssl_cert")
		assert.Contains(t, out, "certificate expired at")
	}
	// The cluster port answers the same way, before any TLS.
	cc, err := net.DialTimeout("tcp", n.cluster, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, cc.SetReadDeadline(time.Now().Add(5*time.Second)))
	pkt, err := wiretest.ReadPayload(cc)
	cc.Close()
	require.NoError(t, err)
	num, msg, ok := wiretest.ErrPacket(pkt)
	require.True(t, ok, "want an error packet in place of the greeting, got %q", pkt)
	assert.Equal(t, uint16(3888), num)
	assert.Contains(t, msg, "refuses every connection on this port")
	assert.Contains(t, msg, "Problem: channel cluster: ssl_cert")

	sc := exec.Command(opensslBin, "s_client", "-starttls", "mysql", "-connect", n.addr, "-servername", "localhost")
	sc.Stdin = strings.NewReader("")
	out, _ := sc.CombinedOutput()
	assert.NotContains(t, string(out), "BEGIN CERTIFICATE", "no certificate is served")

	vars, err := sock("SHOW VARIABLES WHERE Variable_name IN ('have_ssl','ssl_last_reload_error','ssl_last_reload_trigger')")
	require.NoError(t, err, vars)
	assert.Regexp(t, `(?m)^have_ssl\tDISABLED$`, vars)
	assert.Regexp(t, `(?m)^ssl_last_reload_error\tchannel client: ssl_cert ".*server.crt": certificate expired at `, vars)
	assert.Regexp(t, `(?m)^ssl_last_reload_trigger\tstartup$`, vars)

	code, body := testenv.HTTPGet(t, "http://"+n.metrics+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "certificate expired at")
	code, _ = testenv.HTTPGet(t, "http://"+n.metrics+"/livez")
	assert.Equal(t, http.StatusOK, code, "alive: a liveness probe must not restart it")
	code, body = testenv.HTTPGet(t, "http://"+n.metrics+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "ssld_tls_reloads_total")

	// A reload of the same broken files fails and says TLS stays off
	// (there are no previous contexts to keep).
	failed, err := sock("SSL_RELOAD")
	require.Error(t, err, failed)
	assert.Contains(t, failed, "ERROR 3888 (HY000)")
	assert.Contains(t, failed, "certificate expired at")
	assert.Contains(t, failed, "; TLS stays off until a reload succeeds")

	// Repair: new files, SSL_RELOAD over the socket. No restart.
	good := pkitest.MustIssue(t, n.ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	n.write(t, good)
	out2, err := sock("SSL_RELOAD")
	require.NoError(t, err, out2)

	assert.Equal(t, serialOf(good.Cert), opensslSerial(t, n.addr), "the new certificate is served")
	res, err := tcp("admin", adminPW, "--ssl", "--ssl-ca="+filepath.Join(n.dir, "certs/ca.crt"), "--ssl-verify-server-cert")
	require.NoError(t, err, res)
	// The cluster port is up too: it now speaks TLS (a greeting, not an error).
	cc, err = net.DialTimeout("tcp", n.cluster, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, cc.SetReadDeadline(time.Now().Add(5*time.Second)))
	pkt, err = wiretest.ReadPayload(cc)
	cc.Close()
	require.NoError(t, err)
	_, _, isErr := wiretest.ErrPacket(pkt)
	assert.False(t, isErr, "cluster port still refusing after the repair: %q", pkt)
	vars, err = sock("SHOW VARIABLES WHERE Variable_name IN ('have_ssl','ssl_last_reload_error','ssl_last_reload_trigger')")
	require.NoError(t, err, vars)
	assert.Regexp(t, `(?m)^have_ssl\tYES$`, vars)
	assert.Regexp(t, `(?m)^ssl_last_reload_error\t$`, vars)
	assert.Regexp(t, `(?m)^ssl_last_reload_trigger\tsql admin@localhost$`, vars)
	code, body = testenv.HTTPGet(t, "http://"+n.metrics+"/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, n.log.String(), "ssld started degraded")
	assert.Nil(t, n.cmd.ProcessState, "the same process, never restarted")
}

// TestDegradedStartStrict: with --strict an expired certificate still
// stops start-up (exit 1, the reason named).
func TestDegradedStartStrict(t *testing.T) {
	n := newChildNode(t, expiredLeaf)
	cmd := n.start(t, "--strict")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, n.log.String())
		assert.Equal(t, 1, ee.ExitCode())
		assert.Contains(t, n.log.String(), "certificate expired at")
	case <-time.After(15 * time.Second):
		t.Fatalf("ssld serve --strict did not exit on an expired certificate:\n%s", n.log.String())
	}
	assert.NoFileExists(t, n.socket)
}

// TestDegradedStartRepairedBySignal: SIGHUP is the other way out (no
// socket login needed): the first good reload brings TLS up.
func TestDegradedStartRepairedBySignal(t *testing.T) {
	n := newChildNode(t, expiredLeaf)
	cmd := n.start(t)
	n.waitSocket(t)
	good := goodLeaf(n.ca)
	n.write(t, good)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testenv.Eventually(t, 15*time.Second, func() bool {
		code, _ := testenv.HTTPGet(t, "http://"+n.metrics+"/healthz")
		return code == http.StatusOK
	}, "SIGHUP did not bring TLS up:\n%s", n.log)
	assert.Equal(t, serialOf(good.Cert), opensslSerial(t, n.addr))
	assert.Regexp(t, `msg="tls reload" result=ok channel=client .*trigger=signal`, n.log.String())
}

// TestDegradedStartReasons: a missing certificate, a key of another
// certificate and an unreadable certificate (a folder in its place) each
// start the node degraded: both TCP listeners answer every client with
// 3888 naming the channel, the setting, the file and the reason, before
// any TLS. With watch: true, fixing the files is enough: the watcher's
// reload brings TLS up, with no restart and no login.
func TestDegradedStartReasons(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(n *childNode)
		setting  string
		file     string
		expected string
	}{
		{"missing", func(n *childNode) {
			require.NoError(t, os.Remove(filepath.Join(n.dir, "certs/server.crt")))
		}, "ssl_cert", "server.crt", "file does not exist"},
		{"mismatched", func(n *childNode) {
			other := pkitest.MustIssue(t, n.ca, pki.LeafOptions{CN: "other"})
			require.NoError(t, os.WriteFile(filepath.Join(n.dir, "certs/server.key"), other.KeyPEM, 0o600))
		}, "ssl_key", "server.key", "private key does not match the certificate"},
		{"unreadable", func(n *childNode) {
			p := filepath.Join(n.dir, "certs/server.crt")
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o700))
		}, "ssl_cert", "server.crt", "is a directory, not a file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newChildNode(t, goodLeaf)
			cfg, err := os.ReadFile(n.config)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(n.config, append(cfg, "watch: true\n"...), 0o600))
			tc.damage(n)
			n.start(t)
			n.waitSocket(t)
			for ch, addr := range map[string]string{"client": n.addr, "cluster": n.cluster} {
				num, msg, isErr := firstPacket(t, addr)
				require.True(t, isErr, "%s port: want an error packet in place of the greeting", ch)
				assert.Equal(t, uint16(3888), num)
				assert.Contains(t, msg, "refuses every connection on this port; fix the files, then run SSL_RELOAD over the Unix socket "+n.socket)
				assert.Contains(t, msg, "Problem: channel "+ch+": "+tc.setting+` "`+filepath.Join(n.dir, "certs", tc.file)+`": `+tc.expected)
			}
			testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(n.log.String(), "ssld started degraded") },
				"no degraded start in the log:\n%s", n.log)

			// Repair: the files only. The watcher reloads.
			p := filepath.Join(n.dir, "certs/server.crt")
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				require.NoError(t, os.Remove(p))
			}
			good := goodLeaf(n.ca)
			n.write(t, good)
			testenv.Eventually(t, 15*time.Second, func() bool {
				_, _, isErr := firstPacket(t, n.addr)
				return !isErr
			}, "the watcher did not bring TLS up:\n%s", n.log.String())
			_, _, isErr := firstPacket(t, n.cluster)
			assert.False(t, isErr, "cluster port still refusing after the repair")
			assert.Equal(t, serialOf(good.Cert), opensslSerial(t, n.addr))
			assert.Regexp(t, `msg="tls reload" result=ok channel=client .*trigger=watch`, n.log.String())
			assert.Nil(t, n.cmd.ProcessState, "the same process, never restarted")
		})
	}
}

// firstPacket reads the first packet a TCP listener sends: an error packet
// (its number and message) or, when isErr is false, the greeting.
func firstPacket(t *testing.T, addr string) (num uint16, msg string, isErr bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	pkt, err := wiretest.ReadPayload(c)
	require.NoError(t, err)
	return wiretest.ErrPacket(pkt)
}
