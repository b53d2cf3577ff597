package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// Several certificates per channel: ssl_cert and ssl_key list pairs by
// position (an ECDSA certificate first, an RSA one second), crypto/tls
// serves each client the first it supports.

// TestMultiCertConfig: every way of giving the list reads the same.
func TestMultiCertConfig(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "certs/ec.crt") + "," + filepath.Join(dir, "certs/rsa.crt")
	wantKey := filepath.Join(dir, "certs/ec.key") + "," + "/etc/ssld/rsa.key"
	for _, tc := range []struct{ name, file, text string }{
		{"yaml list", "a.yaml", "ssl_cert: [certs/ec.crt, certs/rsa.crt]\nssl_key:\n  - certs/ec.key\n  - /etc/ssld/rsa.key\n"},
		{"yaml string", "b.yaml", "ssl_cert: certs/ec.crt, certs/rsa.crt\nssl_key: certs/ec.key,/etc/ssld/rsa.key\n"},
		{"toml list", "c.toml", "ssl_cert = [\"certs/ec.crt\", \"certs/rsa.crt\"]\nssl_key = [\"certs/ec.key\", \"/etc/ssld/rsa.key\"]\n"},
		{"ini", "d.cnf", "[mysqld]\nssl_cert = certs/ec.crt,certs/rsa.crt\nssl_key = certs/ec.key,/etc/ssld/rsa.key\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o600))
			c, err := config.Load(p)
			require.NoError(t, err)
			assert.Equal(t, want, c.SSLCert)
			assert.Equal(t, wantKey, c.SSLKey)
			s := c.TLSSettings()
			assert.Equal(t, want, s.SSLCert)
		})
	}
	t.Run("environment", func(t *testing.T) {
		p := filepath.Join(dir, "e.yaml")
		require.NoError(t, os.WriteFile(p, []byte("ssl_cert: one.crt\n"), 0o600))
		t.Setenv("SSLD_CLUSTER_SSL_CERT", "certs/ec.crt,certs/rsa.crt")
		c, err := config.Load(p)
		require.NoError(t, err)
		assert.Equal(t, want, c.ClusterSSLCert)
	})
	t.Run("the example of docs/configuration.md", func(t *testing.T) {
		var block string
		for _, b := range docBlocks(t, "docs/configuration.md", "yaml") {
			if strings.Contains(b, "server-ecdsa.crt") {
				block = b
			}
		}
		require.NotEmpty(t, block)
		ca := pkitest.MustCA(t, "doc CA")
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "certs"), 0o700))
		for name, kt := range map[string]pki.KeyType{"ecdsa": pki.ECDSAP256, "rsa": pki.RSA2048} {
			o := pki.DevServerOptions()
			o.KeyType = kt
			l := pkitest.MustIssue(t, ca, o)
			require.NoError(t, pki.WriteFile(filepath.Join(dir, "certs/server-"+name+".crt"), l.CertPEM, 0o644))
			require.NoError(t, pki.WriteFile(filepath.Join(dir, "certs/server-"+name+".key"), l.KeyPEM, 0o600))
		}
		p := filepath.Join(dir, "doc.yaml")
		require.NoError(t, os.WriteFile(p, []byte(block), 0o600))
		rep := runCheck(t, p, 0)
		assert.True(t, rep.OK, "%+v", rep)
		require.Len(t, rep.Channels, 1)
		require.Len(t, rep.Channels[0].Certificates, 2)
		assert.Equal(t, filepath.Join(dir, "certs/server-ecdsa.crt"), rep.Channels[0].Certificates[0].CertFile)
		assert.Equal(t, filepath.Join(dir, "certs/server-rsa.crt"), rep.Channels[0].Certificates[1].CertFile)
		assert.Equal(t, "RSA 2048", rep.Channels[0].Certificates[1].KeyType)
	})
	for _, tc := range []struct{ name, text, err string }{
		{"comma in a list element", "ssl_cert: [\"a,b.crt\", c.crt]\n", `ssl_cert list element 1 "a,b.crt" holds a comma: a path listed here cannot hold one`},
		{"number in a list", "cluster_ssl_key: [a.key, 3]\n", "cluster_ssl_key list element 2 is not a string; quote it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o600))
			_, err := config.Load(p)
			require.Error(t, err)
			assert.Equal(t, "config file "+p+": "+tc.err, err.Error())
		})
	}
}

// multiCertFiles is the second pair of a two-certificate node: an RSA
// certificate beside the ECDSA server.crt of the dev layout.
const (
	multiRSACert = "certs/rsa.crt"
	multiRSAKey  = "certs/rsa.key"
)

// twoPairConfig is the node's config with ssl_cert/ssl_key listing the
// ECDSA pair first and the RSA pair second.
func twoPairConfig(t *testing.T, config string) {
	t.Helper()
	b, err := os.ReadFile(config)
	require.NoError(t, err)
	s := strings.Replace(string(b), "ssl_cert: "+devServerCert+"\n", "ssl_cert: ["+devServerCert+", "+multiRSACert+"]\n", 1)
	s = strings.Replace(s, "ssl_key: "+devServerKey+"\n", "ssl_key: ["+devServerKey+", "+multiRSAKey+"]\n", 1)
	require.NotEqual(t, string(b), s)
	require.NoError(t, os.WriteFile(config, []byte(s), 0o600))
}

// writeTwoPairs writes a new ECDSA pair (server.crt/.key) and a new RSA
// pair (rsa.crt/.key) for localhost from ca into the node folder dir and
// returns their serials.
func writeTwoPairs(t *testing.T, dir string, ca *pki.CA) (ec, rsa string) {
	t.Helper()
	issue := func(kt pki.KeyType) *pki.Leaf {
		l := goodLeaf(ca)
		if kt == pki.RSA2048 {
			o := pki.LeafOptions{CN: "localhost", DNSNames: l.Cert.DNSNames, IPs: l.Cert.IPAddresses, NotAfter: l.Cert.NotAfter, KeyType: pki.RSA2048}
			var err error
			l, err = ca.Issue(o)
			require.NoError(t, err)
		}
		return l
	}
	e, r := issue(pki.ECDSAP256), issue(pki.RSA2048)
	writeDevPair(t, dir, e)
	require.NoError(t, pki.WriteFile(filepath.Join(dir, multiRSACert), r.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(dir, multiRSAKey), r.KeyPEM, 0o600))
	return serialOf(e.Cert), serialOf(r.Cert)
}

// servedBoth reads, with openssl s_client -starttls mysql, the serial an
// RSA-only and an ECDSA-only client are served, in TLS 1.3 and TLS 1.2.
func servedBoth(t *testing.T, addr string) (ec, rsa string) {
	t.Helper()
	rsa = opensslSerial(t, addr, "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256")
	ec = opensslSerial(t, addr, "-tls1_3", "-sigalgs", "ECDSA+SHA256")
	assert.Equal(t, rsa, opensslSerial(t, addr, "-tls1_2", "-sigalgs", "RSA+SHA256"), "TLS 1.2, RSA")
	assert.Equal(t, ec, opensslSerial(t, addr, "-tls1_2", "-sigalgs", "ECDSA+SHA256"), "TLS 1.2, ECDSA")
	return ec, rsa
}

// TestMultiCertReload: a node goes from one certificate to an ECDSA and an
// RSA one with SSL_RELOAD; each client gets the one it supports (openssl
// with its signature algorithms restricted, the mysql CLI and
// go-sql-driver verifying the certificate); a reload swaps both; a
// mismatched second pair refuses the reload and both old ones stay served.
func TestMultiCertReload(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	tn := newTestNode(t, "")
	ctx := context.Background()
	admin := tn.AdminConn(t, ctx)

	ec, rsa := writeTwoPairs(t, tn.Dir, tn.CA)
	twoPairConfig(t, tn.Config)
	_, err := admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err, "one certificate to two is a normal reload")
	gotEC, gotRSA := servedBoth(t, tn.Addr)
	assert.Equal(t, ec, gotEC)
	assert.Equal(t, rsa, gotRSA)

	// The mysql CLI verifies whichever it is served and logs in.
	out, err := tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", "SELECT 1")
	require.NoError(t, err, out)
	assert.Equal(t, "1", strings.TrimSpace(out))

	// go-sql-driver, TLS 1.2 with RSA-only and ECDSA-only suites: verified
	// against the CA and the name, each gets its certificate.
	for _, tc := range []struct {
		suite uint16
		want  string
	}{{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, rsa}, {tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ec}} {
		assert.Equal(t, tc.want, multiCertDriverSerial(t, tn, tc.suite), tls.CipherSuiteName(tc.suite))
	}

	// A reload that swaps both.
	ec2, rsa2 := writeTwoPairs(t, tn.Dir, tn.CA)
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	gotEC, gotRSA = servedBoth(t, tn.Addr)
	assert.Equal(t, ec2, gotEC)
	assert.Equal(t, rsa2, gotRSA)

	// A second key that belongs to another certificate: refused, naming
	// the pair, and both certificates of the last good reload stay.
	writeTwoPairs(t, tn.Dir, tn.CA)
	stray := tn.IssueLeaf(pki.LeafOptions{KeyType: pki.RSA2048})
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, multiRSAKey), stray.KeyPEM, 0o600))
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	require.Error(t, err)
	keyFile, certFile := filepath.Join(tn.Dir, multiRSAKey), filepath.Join(tn.Dir, multiRSACert)
	assert.Contains(t, err.Error(), fmt.Sprintf(`channel client: ssl_key %q: private key does not match the certificate in ssl_cert %q`, keyFile, certFile))
	assert.Contains(t, err.Error(), fmt.Sprintf(`(pair 2 of 2: ssl_cert %q with ssl_key %q)`, certFile, keyFile))
	gotEC, gotRSA = servedBoth(t, tn.Addr)
	assert.Equal(t, ec2, gotEC)
	assert.Equal(t, rsa2, gotRSA)
}

// multiCertDriverSerial logs in with go-sql-driver over TLS 1.2 offering
// only suite, verifying the node's certificate against its CA for
// localhost, and returns the serial it was served.
func multiCertDriverSerial(t *testing.T, tn *testNode, suite uint16) string {
	t.Helper()
	name := fmt.Sprintf("ssld-multicert-%d", tlsSeq.Add(1))
	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	var seen serials
	require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{
		RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite},
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen.Add(serialOf(cs.PeerCertificates[0]))
			return nil
		},
	}))
	defer mysql.DeregisterTLSConfig(name)
	db := tn.OpenDB("admin", adminPW, name)
	defer db.Close()
	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	return seen.Last()
}

// TestMultiCertSNI: two certificates for different names on one node;
// the server name a client sends picks one, over the MySQL protocol's
// STARTTLS.
func TestMultiCertSNI(t *testing.T) {
	testenv.LookPath(t, "openssl")
	tn := newTestNode(t, "")
	ctx := context.Background()
	admin := tn.AdminConn(t, ctx)
	other, err := tn.CA.Issue(pki.LeafOptions{CN: "db.example", DNSNames: []string{"db.example"}, NotAfter: time.Now().Add(rotateValidity)})
	require.NoError(t, err)
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, multiRSACert), other.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, multiRSAKey), other.KeyPEM, 0o600))
	twoPairConfig(t, tn.Config)
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	// opensslSerial sends -servername localhost; the later one wins.
	assert.Equal(t, serialOf(tn.Leaf.Cert), opensslSerial(t, tn.Addr))
	assert.Equal(t, serialOf(other.Cert), opensslSerial(t, tn.Addr, "-servername", "db.example"))
	assert.Equal(t, serialOf(tn.Leaf.Cert), opensslSerial(t, tn.Addr, "-servername", "nowhere.example"), "no match: the first")
}

// TestMultiCertSignalAndWatch: a node process with two pairs reloads both
// on SIGHUP, and with watch: true when the files change.
func TestMultiCertSignalAndWatch(t *testing.T) {
	testenv.LookPath(t, "openssl")
	for _, mode := range []string{"signal", "watch"} {
		t.Run(mode, func(t *testing.T) {
			n := newChildNode(t, goodLeaf)
			writeTwoPairs(t, n.dir, n.ca)
			twoPairConfig(t, n.config)
			if mode == "watch" {
				cfg, err := os.ReadFile(n.config)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(n.config, append(cfg, "watch: true\n"...), 0o600))
			}
			cmd := n.start(t)
			waitAnswers(t, "tcp", n.addr, n.log)
			ec, rsa := writeTwoPairs(t, n.dir, n.ca)
			if mode == "signal" {
				require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
			}
			var gotEC, gotRSA string
			testenv.Eventually(t, 20*time.Second, func() bool {
				gotEC, _ = opensslServedSerial(n.addr, "-sigalgs", "ECDSA+SHA256")
				gotRSA, _ = opensslServedSerial(n.addr, "-sigalgs", "rsa_pss_rsae_sha256")
				return gotEC == ec && gotRSA == rsa
			}, "after %s: served ECDSA %s (want %s), RSA %s (want %s)\n%s", mode, gotEC, ec, gotRSA, rsa, n.log)
			if mode != "watch" {
				return
			}
			// The second pair's files are watched on their own.
			r, err := n.ca.Issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
				KeyType: pki.RSA2048, NotAfter: time.Now().Add(rotateValidity)}) // the node's names: a renewal
			require.NoError(t, err)
			require.NoError(t, pki.WriteFile(filepath.Join(n.dir, multiRSACert), r.CertPEM, 0o644))
			require.NoError(t, pki.WriteFile(filepath.Join(n.dir, multiRSAKey), r.KeyPEM, 0o600))
			testenv.Eventually(t, 20*time.Second, func() bool {
				gotRSA, _ = opensslServedSerial(n.addr, "-sigalgs", "rsa_pss_rsae_sha256")
				return gotRSA == serialOf(r.Cert)
			}, "watch: RSA pair alone rewritten, served %s (want %s)\n%s", gotRSA, serialOf(r.Cert), n.log)
			gotEC, _ = opensslServedSerial(n.addr, "-sigalgs", "ECDSA+SHA256")
			assert.Equal(t, ec, gotEC)
		})
	}
}

// TestMultiCertCheck: `ssld check` lists each certificate of a channel
// and --days holds for each: an RSA second certificate with 20 days left
// fails --days 30, naming its own file; --format json has both.
func TestMultiCertCheck(t *testing.T) {
	dir, cfg, ca := checkDir(t, 60*24*time.Hour)
	rsa, err := ca.Issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, KeyType: pki.RSA2048,
		NotAfter: time.Now().Add(20 * 24 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, pki.WriteFile(filepath.Join(dir, multiRSACert), rsa.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(dir, multiRSAKey), rsa.KeyPEM, 0o600))
	twoPairConfig(t, cfg)

	code, out, errOut := runBin(t, "check", "--config", cfg, "--days", "10")
	require.Equal(t, 0, code, out+errOut)
	rsaFile := filepath.Join(dir, multiRSACert)
	assert.Regexp(t, `(?m)^channel client: certificate 1 of 2: key_type="ECDSA P-256" serial=\S+ .* cert=`+regexp.QuoteMeta(filepath.Join(dir, devServerCert))+`$`, out)
	assert.Regexp(t, `(?m)^channel client: certificate 2 of 2: key_type="RSA 2048" serial=`+serialOf(rsa.Cert)+` .*days_left=(19\.9|20\.0) cert=`+regexp.QuoteMeta(rsaFile)+`$`, out)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "30")
	require.Equal(t, 1, code, out+errOut)
	assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_cert "`+regexp.QuoteMeta(rsaFile)+`": certificate expires at \S+, in (19\.9|20\.0) days, within --days 30$`, errOut)
	assert.Equal(t, 1, strings.Count(errOut, "error: "), errOut)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--format", "json")
	require.Equal(t, 0, code, out+errOut)
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Channels, 2)
	for _, c := range rep.Channels {
		require.Len(t, c.Certificates, 2, c.Channel)
		assert.Equal(t, "ECDSA P-256", c.Certificates[0].KeyType)
		assert.Equal(t, checkCert{Position: 2, KeyType: "RSA 2048", CertFile: rsaFile, Serial: serialOf(rsa.Cert),
			Subject: rsa.Cert.Subject.String(), Issuer: rsa.Cert.Issuer.String(), NotAfter: rsa.Cert.NotAfter.UTC().Format(time.RFC3339),
			DaysLeft: c.Certificates[1].DaysLeft}, c.Certificates[1])
		assert.Equal(t, filepath.Join(dir, devServerCert), c.CertFile, "the first")
	}
}
