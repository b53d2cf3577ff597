package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// checkDir writes a CA, a server pair valid for validity and a config file
// naming them, and returns the folder, the config path and the CA.
func checkDir(t *testing.T, validity time.Duration) (string, string, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.MustCA(t, "check CA")
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotAfter: time.Now().Add(validity)})
	writeDevFolder(t, dir, ca, leaf)
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML("")), 0o600))
	return dir, cfg, ca
}

// runBin runs the ssld binary and returns its exit code, stdout and stderr.
func runBin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	cmd := exec.Command(ssldBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := exitStatus(t, cmd.Run(), errb.String())
	return code, out.String(), errb.String()
}

// TestCheckDaysChainAndCA: `ssld check --days` fails on any certificate
// that expires within the days, not only the leaf: here the leaf has 60
// days, but the intermediate served with it has 20 and the root in ssl_ca 25.
// Each gets a line naming its setting, file and subject.
func TestCheckDaysChainAndCA(t *testing.T) {
	now := time.Now()
	c := pkitest.MustChain(t, now.Add(25*24*time.Hour), now.Add(20*24*time.Hour), now.Add(60*24*time.Hour))
	root, inter, leaf := c.Root, c.Intermediate, c.Leaf
	dir := t.TempDir()
	writeDevFolder(t, dir, root, &pki.Leaf{Cert: leaf.Cert, Key: leaf.Key, CertPEM: leaf.ChainPEM(inter), KeyPEM: leaf.KeyPEM})
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML("")), 0o600))

	code, out, errOut := runBin(t, "check", "--config", cfg, "--days", "10")
	require.Equal(t, 0, code, out+errOut)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "30")
	require.Equal(t, 1, code, out+errOut)
	crt, ca := regexp.QuoteMeta(filepath.Join(dir, devServerCert)), regexp.QuoteMeta(filepath.Join(dir, devCACert))
	// No cluster_listen: the client channel alone.
	assert.Regexp(t, `(?m)^error: channel client: ssl_cert "`+crt+`": intermediate certificate "CN=short intermediate,O=ssld" expires at \S+, in (19\.9|20\.0) days, within --days 30$`, errOut)
	assert.Regexp(t, `(?m)^error: channel client: ssl_ca "`+ca+`": CA certificate "CN=short root,O=ssld" expires at \S+, in (24\.9|25\.0) days, within --days 30$`, errOut)
	assert.NotContains(t, errOut, "channel cluster")
	assert.NotContains(t, errOut, ": certificate expires", "the leaf has 60 days")
	assert.Contains(t, out, "2 problem(s)")
}

// TestCheckCommand: `ssld check` as a separate process with no daemon
// running: a good config, a mismatched pair, --days on a 10-day
// certificate, JSON output and usage errors.
func TestCheckCommand(t *testing.T) {
	dir, cfg, ca := checkDir(t, 10*24*time.Hour)
	// configYAML listens on 127.0.0.1:0 and names a socket: check must
	// bind neither.
	sock := filepath.Join(dir, "ssld.sock")

	code, out, errOut := runBin(t, "check", "--config", cfg)
	require.Equal(t, 0, code, out+errOut)
	assert.Regexp(t, `(?m)^channel client: serial=[0-9A-F]+ subject="CN=localhost,O=ssld" issuer="CN=check CA,O=ssld" not_after=\S+ days_left=(9\.9|10\.0) `, out)
	assert.NotContains(t, out, "channel cluster", "no cluster_listen: the node serves no cluster channel")
	assert.Contains(t, out, cfg+": ok")
	assert.Empty(t, errOut)
	assert.NoFileExists(t, sock, "check must not bind the socket")

	// Every TCP address of the config already taken: a daemon could not
	// start, check does not care (it binds nothing).
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	busy := filepath.Join(dir, "busy.yaml")
	busyCfg := strings.Replace(configYAML("metrics_listen: "+addr+"\ncluster_listen: "+addr+"\n"),
		devLayoutConfig("127.0.0.1:0"), devLayoutConfig(addr), 1)
	require.Contains(t, busyCfg, "\nsocket: ")
	require.True(t, strings.HasPrefix(busyCfg, devLayoutConfig(addr)), busyCfg)
	require.NoError(t, os.WriteFile(busy, []byte(busyCfg), 0o600))
	code, out, errOut = runBin(t, "check", "--config", busy)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, busy+": ok")
	code, _, errOut = runBin(t, "serve", "--config", busy)
	assert.Equal(t, 1, code, "serve on a taken address must fail, or this check proves nothing")
	assert.Contains(t, errOut, "address already in use")

	// The 10-day certificate is within the default ssl_expiry_warning (14 days):
	// a warning, not a problem.
	assert.Regexp(t, `(?m)^warning: channel client: ssl_cert "`+regexp.QuoteMeta(filepath.Join(dir, "certs/server.crt"))+`": certificate expires at .* within ssl_expiry_warning 14d`, out)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "30")
	require.Equal(t, 1, code, out+errOut)
	assert.Regexp(t, `(?m)^error: channel client: ssl_cert ".*server.crt": certificate expires at \S+, in (9\.9|10\.0) days, within --days 30$`, errOut)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "5", "--format", "json")
	require.Equal(t, 0, code, out+errOut)
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.True(t, rep.OK)
	require.Len(t, rep.Channels, 1)
	assert.Equal(t, "client", rep.Channels[0].Channel)
	assert.Equal(t, "CN=check CA,O=ssld", rep.Channels[0].Issuer)
	require.NotNil(t, rep.Channels[0].DaysLeft)
	assert.InDelta(t, 10, *rep.Channels[0].DaysLeft, 0.2)
	assert.Empty(t, rep.Problems)

	// A key that belongs to another certificate: exit 1, the key file named.
	other := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "other"})
	keyFile := filepath.Join(dir, "certs/server.key")
	require.NoError(t, os.WriteFile(keyFile, other.KeyPEM, 0o600))
	code, out, errOut = runBin(t, "check", "--config", cfg, "--format", "json")
	require.Equal(t, 1, code, out+errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.False(t, rep.OK)
	require.NotEmpty(t, rep.Problems)
	assert.Contains(t, rep.Problems[0], `channel client: ssl_key "`+keyFile+`": private key does not match the certificate`)
	code, out, errOut = runBin(t, "check", "--config", cfg)
	require.Equal(t, 1, code, out+errOut)
	assert.Regexp(t, `(?m)^error: channel client: ssl_key "`+regexp.QuoteMeta(keyFile)+`": private key does not match`, errOut)
	assert.NotContains(t, errOut, "channel cluster", "no cluster_listen: nothing about a channel the node does not serve")

	// A broken user entry is a problem too (the daemon would refuse to start).
	require.NoError(t, os.WriteFile(keyFile, []byte{}, 0o600))
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML("  - name: bad\n    password_hash: nope\n")), 0o600))
	code, _, errOut = runBin(t, "check", "--config", cfg)
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, `users[4] (bad): password_hash must be`)

	// Values of the wrong type: one line naming each key, its file and the
	// reason (mapstructure alone spreads them over several lines).
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML("")+"ssl_expiry_warning: soon\nmax_connections: lots\n"), 0o600))
	code, out, errOut = runBin(t, "check", "--config", cfg)
	require.Equal(t, 1, code, out+errOut)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.Len(t, lines, 1, "one problem, one line: %q", errOut)
	assert.Contains(t, lines[0], "config file "+cfg+": ssl_expiry_warning: time: invalid duration")
	assert.Contains(t, lines[0], "config file "+cfg+": max_connections: cannot parse value as 'int'")

	for _, args := range [][]string{{"check"}, {"check", "--config", cfg, "--format", "xml"}, {"check", "--config", cfg, "--days", "-1"}, {"check", "--config", cfg, "extra"}} {
		code, out, errOut := runBin(t, args...)
		assert.Equal(t, 2, code, "%v: %s%s", args, out, errOut)
	}
}

// TestOperationsCheckExamples runs every `ssld check` command of
// docs/operations.md as written, with /etc/ssld/ssld.yaml replaced by a
// test config: exit 0 on a certificate valid for 60 days, and the cron
// line (--days 21) fails on a 10-day one.
func TestOperationsCheckExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	cmds := regexp.MustCompile("ssld check [^'|)`\n]*").FindAllString(string(doc), -1)
	require.GreaterOrEqual(t, len(cmds), 3, "the certbot, CI and cron examples")
	bin := ssldBinary(t)
	_, good, _ := checkDir(t, 60*24*time.Hour)
	_, soon, _ := checkDir(t, 10*24*time.Hour)
	for _, c := range cmds {
		c = strings.TrimSpace(c)
		require.Contains(t, c, "/etc/ssld/ssld.yaml", c)
		for _, tc := range []struct {
			cfg  string
			want int
		}{{good, 0}, {soon, 0}} {
			if tc.cfg == soon && strings.Contains(c, "--days 21") {
				tc.want = 1
			}
			line := bin + strings.TrimPrefix(strings.ReplaceAll(c, "/etc/ssld/ssld.yaml", tc.cfg), "ssld")
			code, out := exitCode(t, exec.Command("sh", "-c", line))
			assert.Equal(t, tc.want, code, "%s\n%s", line, out)
		}
	}
}
