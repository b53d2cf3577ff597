package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

var policyTLSSeq atomic.Int64

// policyConn opens one go-sql-driver session as admin over TLS verified
// against the node's CA, with the client-side limits of limit (versions,
// suites, groups), or returns the error of the attempt.
func policyConn(tn *testNode, t *testing.T, limit *tls.Config) (*sql.Conn, error) {
	t.Helper()
	name := fmt.Sprintf("policy-%d", policyTLSSeq.Add(1))
	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	cfg := limit.Clone()
	cfg.RootCAs, cfg.ServerName = pool, "localhost"
	require.NoError(t, mysql.RegisterTLSConfig(name, cfg))
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	db := tn.DB("admin", adminPW, name)
	c, err := db.Conn(ctxT(t))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// sessionStatus reads SHOW STATUS LIKE name on the session c.
func sessionStatus(t *testing.T, c *sql.Conn, name string) string {
	t.Helper()
	var k, v string
	require.NoError(t, c.QueryRowContext(ctxT(t), "SHOW STATUS LIKE '"+name+"'").Scan(&k, &v), name)
	return v
}

// reloadWith writes the node's config with extra appended and runs
// SSL_RELOAD on c; it returns the reload's error.
func reloadWith(tn *testNode, t *testing.T, c *sql.Conn, extra string) error {
	t.Helper()
	require.NoError(t, os.WriteFile(tn.Config, []byte(configYAML(extra)), 0o600))
	_, err := c.ExecContext(ctxT(t), "SSL_RELOAD")
	return err
}

// sClient runs `openssl s_client -starttls mysql` against the node with
// args and returns the protocol and cipher it negotiated, or an error.
func sClient(t *testing.T, addr string, args ...string) (proto, cipher string, err error) {
	t.Helper()
	bin := testenv.LookPath(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.OpenSSLTimeout)
	defer cancel()
	sc := exec.CommandContext(ctx, bin, append([]string{"s_client", "-starttls", "mysql", "-connect", addr, "-servername", "localhost"}, args...)...)
	sc.Stdin = strings.NewReader("")
	out, err := sc.CombinedOutput()
	m := regexp.MustCompile(`(?m)^New, (TLSv[\d.]+), Cipher is (\S+)$`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		return "", "", fmt.Errorf("openssl s_client %v: %v\n%s", args, err, out)
	}
	return m[1], m[2], nil
}

// mysqlStatus runs the mysql CLI over TLS with args and returns the value
// of the status variable name the session reports, or the error.
func mysqlStatus(tn *testNode, t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := testenv.LookPath(t, "mysql")
	args = append(args, "--batch", "--skip-column-names", "-e", "SHOW STATUS LIKE '"+name+"'")
	out, err := tn.MySQLTLS(t, bin, "admin", adminPW, args...)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	f := strings.Fields(out)
	require.Len(t, f, 2, out)
	return f[1], nil
}

// TestPolicyReloadOverWire: tls_version, ssl_cipher and ssl_groups changed
// in the config file and applied by SSL_RELOAD reach new sessions of the
// mysql CLI (--tls-version, --ssl-cipher), openssl s_client and
// go-sql-driver, while a session opened before keeps the version and suite
// it got. @@tls_version and the others show what is configured,
// Current_tls_* what is in use.
func TestPolicyReloadOverWire(t *testing.T) {
	tn := newTestNode(t, "")
	addr := tn.Addr

	// A session on TLS 1.2 under the default policy.
	old12, err := policyConn(tn, t, &tls.Config{MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.2", sessionStatus(t, old12, "Ssl_version"))
	oldCipher := sessionStatus(t, old12, "Ssl_cipher")
	v, err := mysqlStatus(tn, t, "Ssl_version", "--tls-version=TLSv1.2")
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.2", v, "TLS 1.2 is allowed before the reload")

	// TLS 1.3 only.
	require.NoError(t, reloadWith(tn, t, old12, "tls_version: TLSv1.3\n"))
	assert.Equal(t, "TLSv1.3", variableOn(t, old12, "SELECT @@tls_version"))
	assert.Equal(t, "TLSv1.3", sessionStatus(t, old12, "Current_tls_version"))
	assert.Equal(t, "TLSv1.2", sessionStatus(t, old12, "Ssl_version"), "the open session keeps its TLS 1.2")
	assert.Equal(t, oldCipher, sessionStatus(t, old12, "Ssl_cipher"))
	_, err = policyConn(tn, t, &tls.Config{MaxVersion: tls.VersionTLS12})
	require.Error(t, err, "go-sql-driver: a new TLS 1.2 session is refused")
	_, err = mysqlStatus(tn, t, "Ssl_version", "--tls-version=TLSv1.2")
	require.Error(t, err, "mysql --tls-version=TLSv1.2 after the reload")
	v, err = mysqlStatus(tn, t, "Ssl_version", "--tls-version=TLSv1.3")
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.3", v)
	_, _, err = sClient(t, addr, "-tls1_2")
	require.Error(t, err, "openssl s_client -tls1_2 after the reload")
	proto, _, err := sClient(t, addr, "-tls1_3")
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.3", proto)
	old13, err := policyConn(tn, t, &tls.Config{})
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.3", sessionStatus(t, old13, "Ssl_version"))

	// TLS 1.2 with one suite.
	const only = "ECDHE-ECDSA-AES256-GCM-SHA384"
	require.NoError(t, reloadWith(tn, t, old13, "tls_version: TLSv1.2\nssl_cipher: "+only+"\n"))
	assert.Equal(t, only, variableOn(t, old13, "SELECT @@ssl_cipher"))
	assert.Equal(t, only, sessionStatus(t, old13, "Current_tls_cipher"))
	assert.Equal(t, "TLSv1.3", sessionStatus(t, old13, "Ssl_version"), "the TLS 1.3 session keeps its version")
	_, err = mysqlStatus(tn, t, "Ssl_cipher", "--ssl-cipher=ECDHE-ECDSA-AES128-GCM-SHA256")
	require.Error(t, err, "mysql --ssl-cipher with a suite ssl_cipher leaves out")
	c, err := mysqlStatus(tn, t, "Ssl_cipher", "--ssl-cipher="+only)
	require.NoError(t, err)
	assert.Equal(t, only, c)
	_, _, err = sClient(t, addr, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
	require.Error(t, err, "openssl s_client -cipher with a suite ssl_cipher leaves out")
	proto, cipher, err := sClient(t, addr, "-tls1_2")
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.2", proto)
	assert.Equal(t, only, cipher)
	gs, err := policyConn(tn, t, &tls.Config{})
	require.NoError(t, err)
	assert.Equal(t, only, sessionStatus(t, gs, "Ssl_cipher"), "go-sql-driver gets the one suite")

	// Post-quantum key exchange only (TLS 1.3).
	require.NoError(t, reloadWith(tn, t, gs, "tls_version: TLSv1.3\nssl_groups: X25519MLKEM768\n"))
	assert.Equal(t, "X25519MLKEM768", variableOn(t, gs, "SELECT @@ssl_groups"))
	_, err = policyConn(tn, t, &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}})
	require.Error(t, err, "go-sql-driver without X25519MLKEM768")
	_, err = policyConn(tn, t, &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}})
	require.NoError(t, err, "go-sql-driver with X25519MLKEM768")
	_, _, err = sClient(t, addr, "-groups", "X25519:P-256")
	require.Error(t, err, "openssl s_client offering classic groups only")
	assert.Equal(t, "TLSv1.2", sessionStatus(t, old12, "Ssl_version"), "the first session still serves")

	// The example of docs/configuration.md.
	var example string
	for _, b := range docBlocks(t, "docs/configuration.md", "yaml") {
		if strings.HasPrefix(b, "tls_version:") {
			example = b
		}
	}
	require.NotEmpty(t, example, "the TLS policy example of docs/configuration.md")
	require.NoError(t, reloadWith(tn, t, gs, example))
	_, _, err = sClient(t, addr, "-groups", "P-256")
	require.Error(t, err, "P-256 is not in the example's ssl_groups")
	proto, _, err = sClient(t, addr, "-groups", "X25519")
	require.NoError(t, err)
	assert.Equal(t, "TLSv1.3", proto)
	_, _, err = sClient(t, addr, "-tls1_2")
	require.Error(t, err)
}

// variableOn reads one value with q on the session c.
func variableOn(t *testing.T, c *sql.Conn, q string) string {
	t.Helper()
	var v string
	require.NoError(t, c.QueryRowContext(ctxT(t), q).Scan(&v), q)
	return v
}

// TestPolicyRefusedOverWire: a policy value the node cannot apply refuses
// the reload with an error naming the key and the value; the policy in use
// stays (Current_tls_*), while @@ shows what the file now says.
func TestPolicyRefusedOverWire(t *testing.T) {
	tn := newTestNode(t, "cluster_listen: 127.0.0.1:0\n")
	s, err := policyConn(tn, t, &tls.Config{})
	require.NoError(t, err)
	for _, tc := range []struct{ extra, key, reason string }{
		{"tls_version: TLSv1.4\n", "tls_version", `"TLSv1.4": unknown TLS version`},
		{"ssl_cipher: HIGH:!aNULL\n", "ssl_cipher", `unknown cipher "HIGH"`},
		{"tls_ciphersuites: TLS_AES_256_GCM_SHA384\n", "tls_ciphersuites", "crypto/tls always offers in TLS 1.3 and cannot be restricted"},
		{"ssl_groups: X448\n", "ssl_groups", `unknown group "X448"`},
		{"cluster_ssl_groups: X25519MLKEM768\n", "cluster_ssl_groups", "allows TLS 1.2"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			err := reloadWith(tn, t, s, "cluster_listen: 127.0.0.1:0\n"+tc.extra)
			me := sqlErr(t, err)
			assert.Contains(t, me.Message, tc.key)
			assert.Contains(t, me.Message, tc.reason)
			assert.Contains(t, me.Message, "previous")
			assert.Equal(t, "TLSv1.2,TLSv1.3", sessionStatus(t, s, "Current_tls_version"))
			_, err = policyConn(tn, t, &tls.Config{MaxVersion: tls.VersionTLS12})
			require.NoError(t, err, "the last good policy is served")
		})
	}
	assert.Equal(t, "X25519MLKEM768", variableOn(t, s, "SELECT @@cluster_ssl_groups"), "@@ shows what is configured")
}

// TestPolicyCheckedByCheck: ssld check refuses a policy value as the reload
// does, naming the key and the value.
func TestPolicyCheckedByCheck(t *testing.T) {
	tn := newTestNode(t, "")
	require.NoError(t, os.WriteFile(tn.Config, []byte(configYAML("tls_ciphersuites: TLS_AES_128_GCM_SHA256\n")), 0o600))
	rep := runCheck(t, tn.Config, 0)
	assert.False(t, rep.OK)
	assert.Contains(t, strings.Join(rep.Problems, "\n"), `tls_ciphersuites: "TLS_AES_128_GCM_SHA256": leaves out`)
}
