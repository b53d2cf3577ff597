package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// opensslCA is a CA run by `openssl ca` in its own folder: index.txt,
// serial, crlnumber, and a config that issues client certificates.
type opensslCA struct {
	t        *testing.T
	dir, cnf string
}

func newOpenSSLCA(t *testing.T, dir, cn string) *opensslCA {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "newcerts"), 0o700))
	ca := &opensslCA{t: t, dir: dir, cnf: filepath.Join(dir, "openssl.cnf")}
	files := map[string]string{
		"index.txt": "", "serial": "1000\n", "crlnumber": "01\n",
		"openssl.cnf": `[ ca ]
default_ca = client_ca
[ client_ca ]
dir = ` + dir + `
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
unique_subject = no
x509_extensions = client_cert
[ policy_any ]
commonName = supplied
[ client_cert ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = ` + cn + `
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`,
	}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	ca.run("req", "-config", ca.cnf, "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(dir, "ca.key"), "-out", filepath.Join(dir, "ca.crt"), "-days", "30", "-extensions", "v3_ca")
	return ca
}

func (ca *opensslCA) run(args ...string) string {
	ca.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "openssl", args...).CombinedOutput()
	require.NoError(ca.t, err, "openssl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// issue has the CA sign a new client certificate for cn; it returns the
// certificate and key paths.
func (ca *opensslCA) issue(cn string) (crt, key string) {
	ca.t.Helper()
	base := filepath.Join(ca.dir, cn)
	ca.run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN="+cn,
		"-keyout", base+".key", "-out", base+".csr")
	ca.run("ca", "-batch", "-config", ca.cnf, "-notext", "-in", base+".csr", "-out", base+".crt")
	return base + ".crt", base + ".key"
}

func (ca *opensslCA) pem() []byte {
	b, err := os.ReadFile(filepath.Join(ca.dir, "ca.crt"))
	require.NoError(ca.t, err)
	return b
}

// TestCRLRevocationRunbook runs docs/operations.md's revocation runbook as
// written against a node whose ssl_ca holds a CA run by `openssl ca`: a
// require_x509 account logs in with the mysql CLI and its certificate;
// after the runbook revokes it (openssl ca -revoke, -gencrl, ssld check,
// SSL_RELOAD) the same login is refused while another certificate of the
// same CA still logs in. Then the refusals, each keeping the old contexts:
// a garbage CRL, a CRL of a CA outside ssl_ca, a stale CRL (a warning by
// default, refused under ssl_crl_stale: reject); and ssl_crlpath with
// c_rehash links.
func TestCRLRevocationRunbook(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	tn := newTestNode(t, nodetest.X509User)
	ca := newOpenSSLCA(t, filepath.Join(tn.Dir, "client-ca"), "ssld client CA")
	alice, aliceKey := ca.issue("alice")
	bob, bobKey := ca.issue("bob")
	crl := filepath.Join(tn.Dir, "client-ca.crl")
	ca.run("ca", "-config", ca.cnf, "-gencrl", "-out", crl)

	// ssl_ca: the node's CA and the client CA; ssl_crl: the client CA's
	// (empty) CRL. Both by a reload.
	caFile := filepath.Join(tn.Dir, devCACert)
	nodeCA, err := os.ReadFile(caFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(caFile, append(append([]byte{}, nodeCA...), ca.pem()...), 0o644))
	setConfig := func(line string) {
		t.Helper()
		raw, err := os.ReadFile(tn.Config)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		key := strings.SplitN(line, ":", 2)[0] + ":"
		kept := lines[:0]
		for _, l := range lines {
			if !strings.HasPrefix(l, key) {
				kept = append(kept, l)
			}
		}
		if !strings.HasSuffix(line, ": ") {
			kept = append(kept, line)
		}
		require.NoError(t, os.WriteFile(tn.Config, []byte(strings.Join(kept, "\n")+"\n"), 0o600))
	}
	setConfig("ssl_crl: " + crl)
	admin := func(sql string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", sql)
	}
	out, err := admin("SSL_RELOAD")
	require.NoError(t, err, out)
	login := func(crt, key string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "certuser", "cert-secret", "--batch", "--skip-column-names",
			"--ssl-cert="+crt, "--ssl-key="+key, "-e", "SELECT CURRENT_USER()")
	}
	out, err = login(alice, aliceKey)
	require.NoError(t, err, "before the revocation: %s", out)
	assert.Contains(t, out, "certuser@")

	// The runbook, as written.
	var block string
	for _, b := range docBlocks(t, "docs/operations.md", "sh") {
		if strings.HasPrefix(b, "# revoke a client certificate") {
			block = b
		}
	}
	require.NotEmpty(t, block, "docs/operations.md: the revocation runbook block")
	host, port := splitAddr(t, tn.Addr)
	local := strings.NewReplacer("/etc/ssl/client-ca/openssl.cnf", ca.cnf, "alice.crt", alice,
		"/etc/ssld/client-ca.crl", crl, "/etc/ssld/ssld.yaml", tn.Config,
		"db1.example.com", host, "-P 3307", "-P "+port, "/etc/ssld/ca.crt", caFile, " -p ", " -p"+adminPW+" ")
	bin := ssldBinary(t)
	var last string
	for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = ssldWord.ReplaceAllString(local.Replace(line), "${1}"+bin+" ")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
		cancel()
		require.NoError(t, err, "%s: %s", line, out)
		last = string(out)
	}
	assert.Regexp(t, regexp.MustCompile(`(?m)^\s*CRL_count: 1$`), last, "the proof line shows the CRL")
	rep := runCheck(t, tn.Config, 0)
	require.True(t, rep.OK, "%v", rep.Problems)
	require.NotEmpty(t, rep.Channels)
	assert.Equal(t, 1, rep.Channels[0].CRLs, "ssld check counts the CRL")
	text, err := exec.Command(ssldBinary(t), "check", "--config", tn.Config).Output()
	require.NoError(t, err, "ssld check: %s", text)
	assert.Regexp(t, `(?m)^channel client: crls=1 next_update=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, string(text))
	assert.Regexp(t, regexp.MustCompile(`(?m)^\s*CRL_next_update: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`), last)

	out, err = login(alice, aliceKey)
	require.Error(t, err, "the revoked certificate must be refused: %s", out)
	assert.NotContains(t, out, "certuser@")
	out, err = login(bob, bobKey)
	require.NoError(t, err, "a certificate the CRL does not list: %s", out)
	out, err = admin("SHOW STATUS LIKE 'Current_tls_crl%'")
	require.NoError(t, err, out)
	assert.Equal(t, "Current_tls_crl\t"+crl+"\nCurrent_tls_crlpath\t\n", out)
	out, err = admin("SELECT @@ssl_crl, @@ssl_crl_stale")
	require.NoError(t, err, out)
	assert.Equal(t, crl+"\twarn\n", out)

	// Refused reloads name the setting, the file and the reason; the old
	// CRL keeps being applied.
	stranger := newOpenSSLCA(t, filepath.Join(tn.Dir, "stranger-ca"), "stranger CA")
	foreign := filepath.Join(tn.Dir, "foreign.crl")
	stranger.run("ca", "-config", stranger.cnf, "-gencrl", "-out", foreign)
	garbage := filepath.Join(tn.Dir, "garbage.crl")
	require.NoError(t, os.WriteFile(garbage, []byte("not a CRL\n"), 0o644))
	for _, tc := range []struct{ file, reason string }{
		{garbage, `ssl_crl "` + garbage + `": no PEM data found`},
		{foreign, `ssl_crl "` + foreign + `": CRL issuer "CN=stranger CA" is not in the channel's CA set (ssl_ca)`},
	} {
		setConfig("ssl_crl: " + tc.file)
		out, err = admin("SSL_RELOAD")
		require.Error(t, err, out)
		assert.Contains(t, out, "ERROR 3888")
		assert.Contains(t, out, tc.reason)
		rep := runCheck(t, tn.Config, 0)
		assert.False(t, rep.OK)
		assert.Contains(t, strings.Join(rep.Problems, "\n"), tc.reason, "ssld check reports the same")
		out, err = login(alice, aliceKey)
		require.Error(t, err, "still revoked after a refused reload: %s", out)
		out, err = login(bob, bobKey)
		require.NoError(t, err, out)
	}

	// A stale CRL (nextUpdate passed): applied with a warning, or refused.
	stale := filepath.Join(tn.Dir, "stale.crl")
	ago := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format("20060102150405Z") }
	ca.run("ca", "-config", ca.cnf, "-gencrl", "-crl_lastupdate", ago(48*time.Hour), "-crl_nextupdate", ago(24*time.Hour), "-out", stale)
	setConfig("ssl_crl: " + stale)
	out, err = admin("SSL_RELOAD; SHOW WARNINGS")
	require.NoError(t, err, out)
	assert.Contains(t, out, `ssl_crl "`+stale+`": CRL of "CN=ssld client CA" is past its nextUpdate`)
	out, err = login(alice, aliceKey)
	require.Error(t, err, "a stale CRL is still applied: %s", out)
	setConfig("ssl_crl_stale: reject")
	out, err = admin("SSL_RELOAD")
	require.Error(t, err, out)
	assert.Contains(t, out, "ERROR 3888")
	assert.Contains(t, out, "ssl_crl_stale is reject")

	// ssl_crlpath: a folder c_rehash (openssl rehash) has linked.
	crls := filepath.Join(tn.Dir, "crls")
	require.NoError(t, os.Mkdir(crls, 0o700))
	data, err := os.ReadFile(crl)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(crls, "client-ca.crl"), data, 0o644))
	ca.run("rehash", crls)
	links, err := filepath.Glob(filepath.Join(crls, "*.r0"))
	require.NoError(t, err)
	require.Len(t, links, 1, "openssl rehash links the CRL")
	setConfig("ssl_crl: ")
	setConfig("ssl_crl_stale: ")
	setConfig("ssl_crlpath: crls")
	out, err = admin("SSL_RELOAD")
	require.NoError(t, err, out)
	out, err = admin("SHOW SSL STATUS")
	require.NoError(t, err, out)
	fields := strings.Split(strings.TrimSpace(out), "\t")
	require.GreaterOrEqual(t, len(fields), 17, out)
	assert.Equal(t, "1", fields[13], "the link and its file are one CRL (CRL_count): %s", out)
	out, err = login(alice, aliceKey)
	require.Error(t, err, "revoked through ssl_crlpath: %s", out)
	out, err = login(bob, bobKey)
	require.NoError(t, err, out)
}
