package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// twoChannels is the config line that serves the cluster channel too (its
// material falls back to ssl_*), so both channels share every file.
const twoChannels = "cluster_listen: 127.0.0.1:0\n"

// checkDir writes a CA, a server pair valid for validity and a config file
// naming them (both channels served, sharing the files), and returns the
// folder, the config path and the CA.
func checkDir(t *testing.T, validity time.Duration) (string, string, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.MustCA(t, "check CA")
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotAfter: time.Now().Add(validity)})
	writeDevFolder(t, dir, ca, leaf)
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML(twoChannels)), 0o600))
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
// Each gets a line naming its setting, file and subject, and the two
// channels that share the files share each line.
func TestCheckDaysChainAndCA(t *testing.T) {
	now := time.Now()
	c := pkitest.MustChain(t, now.Add(25*24*time.Hour), now.Add(20*24*time.Hour), now.Add(60*24*time.Hour))
	root, inter, leaf := c.Root, c.Intermediate, c.Leaf
	dir := t.TempDir()
	writeDevFolder(t, dir, root, &pki.Leaf{Cert: leaf.Cert, Key: leaf.Key, CertPEM: leaf.ChainPEM(inter), KeyPEM: leaf.KeyPEM})
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML(twoChannels)), 0o600))

	code, out, errOut := runBin(t, "check", "--config", cfg, "--days", "10")
	require.Equal(t, 0, code, out+errOut)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "30")
	require.Equal(t, 1, code, out+errOut)
	crt, ca := regexp.QuoteMeta(filepath.Join(dir, devServerCert)), regexp.QuoteMeta(filepath.Join(dir, devCACert))
	assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_cert "`+crt+`": intermediate certificate "CN=short intermediate,O=ssld" expires at \S+, in (19\.9|20\.0) days, within --days 30$`, errOut)
	assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_ca "`+ca+`": CA certificate "CN=short root,O=ssld" expires at \S+, in (24\.9|25\.0) days, within --days 30$`, errOut)
	assert.NotContains(t, errOut, ": certificate expires", "the leaf has 60 days")
	assert.Equal(t, 2, strings.Count(errOut, "error: "), errOut)
	assert.Contains(t, out, ": 2 problem(s)\n")
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
	assert.Regexp(t, `(?m)^channel cluster: serial=`, out)
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
	assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_cert ".*server.crt": certificate expires at \S+, in (9\.9|10\.0) days, within --days 30$`, errOut)

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "5", "--format", "json")
	require.Equal(t, 0, code, out+errOut)
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.True(t, rep.OK)
	require.Len(t, rep.Channels, 2)
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
	assert.Contains(t, rep.Problems[0], `channels client, cluster: ssl_key "`+keyFile+`": private key does not match the certificate`)
	assert.Len(t, rep.Problems, 1, "one key file, one problem, naming both channels")
	code, out, errOut = runBin(t, "check", "--config", cfg)
	require.Equal(t, 1, code, out+errOut)
	assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_key "`+regexp.QuoteMeta(keyFile)+`": private key does not match`, errOut,
		"every channel is reported, not only the first")
	assert.Regexp(t, `(?m)^channel client: invalid$`, out)
	assert.Regexp(t, `(?m)^channel cluster: invalid$`, out)

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
	assert.Contains(t, lines[0], "config file "+cfg+" line ")
	assert.Contains(t, lines[0], ": ssl_expiry_warning: cannot be read as a duration")
	assert.Contains(t, lines[0], ": max_connections: cannot be read as a whole number")
	assert.NotContains(t, lines[0], "soon", "the value is not quoted")

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
	cmds := regexp.MustCompile("ssld check [^'|()`\n]*").FindAllString(string(doc), -1)
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

// checkCase is one state of a node's files for the start check: what
// `ssld check` exits with alone (plain) and with --allow-expired (allowed),
// and a piece of the reason it prints.
type checkCase struct {
	name           string
	breakFiles     func(t *testing.T, dir, cfg string, ca *pki.CA)
	plain, allowed int
	reason         string
	// asNobody: run the check as nobody when the test runs as root (root
	// reads a 0000 file).
	asNobody bool
	// leafOutside: the served leaf itself is outside its validity window,
	// so ssld serve starts with TLS off on the client channel.
	leafOutside bool
}

// checkCases are the states a `systemctl start` meets: valid files, every
// kind of broken file (refused, exit 1 even with --allow-expired), and a
// certificate outside its validity window with nothing else wrong (exit 3,
// 0 with --allow-expired: ssld serve starts degraded on it). Both channels
// share the files (cluster_listen set), so each problem is also counted
// once.
func checkCases() []checkCase {
	now := time.Now()
	leaf := func(t *testing.T, ca *pki.CA, from, to time.Time) *pki.Leaf {
		return pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, NotBefore: from, NotAfter: to})
	}
	expired := func(t *testing.T, dir, _ string, ca *pki.CA) {
		writeDevPair(t, dir, leaf(t, ca, now.Add(-48*time.Hour), now.Add(-time.Hour)))
	}
	otherKey := func(t *testing.T, dir string, ca *pki.CA) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, devServerKey), pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "other"}).KeyPEM, 0o600))
	}
	return []checkCase{
		{name: "valid", breakFiles: func(*testing.T, string, string, *pki.CA) {}, plain: 0, allowed: 0, reason: ": ok"},
		{name: "config unparsable", breakFiles: func(t *testing.T, _, cfg string, _ *pki.CA) {
			require.NoError(t, os.WriteFile(cfg, []byte("listen: [127.0.0.1:3307\n"), 0o644))
		}, plain: 1, allowed: 1, reason: "ssld.yaml"},
		{name: "config missing", breakFiles: func(t *testing.T, _, cfg string, _ *pki.CA) {
			require.NoError(t, os.Remove(cfg))
		}, plain: 1, allowed: 1, reason: "does not exist"},
		{name: "key does not match", breakFiles: func(t *testing.T, dir, _ string, ca *pki.CA) {
			otherKey(t, dir, ca)
		}, plain: 1, allowed: 1, reason: `ssl_key "` + devServerKey + `": private key does not match the certificate`},
		{name: "certificate missing", breakFiles: func(t *testing.T, dir, _ string, _ *pki.CA) {
			require.NoError(t, os.Remove(filepath.Join(dir, devServerCert)))
		}, plain: 1, allowed: 1, reason: `ssl_cert "` + devServerCert + `": file does not exist`},
		{name: "key unreadable", breakFiles: func(t *testing.T, dir, _ string, _ *pki.CA) {
			require.NoError(t, os.Chmod(filepath.Join(dir, devServerKey), 0o000))
		}, plain: 1, allowed: 1, reason: `ssl_key "` + devServerKey + `": permission denied`, asNobody: true},
		{name: "certificate is garbage", breakFiles: func(t *testing.T, dir, _ string, _ *pki.CA) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, devServerCert), []byte("not a certificate\n"), 0o644))
		}, plain: 1, allowed: 1, reason: `ssl_cert "` + devServerCert + `": no PEM data`},
		{name: "expired", breakFiles: expired, plain: 3, allowed: 0, reason: `ssl_cert "` + devServerCert + `": certificate expired at `, leafOutside: true},
		{name: "not yet valid", breakFiles: func(t *testing.T, dir, _ string, ca *pki.CA) {
			writeDevPair(t, dir, leaf(t, ca, now.Add(time.Hour), now.Add(48*time.Hour)))
		}, plain: 3, allowed: 0, reason: `ssl_cert "` + devServerCert + `": certificate not yet valid`, leafOutside: true},
		{name: "cluster CA expired", breakFiles: func(t *testing.T, dir, _ string, _ *pki.CA) {
			// The leaf is valid; the CA the cluster channel verifies it
			// against (ssl_ca) has expired: only the cluster channel fails.
			old := pkitest.MustCA(t, "expired CA", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
			writeDevFolder(t, dir, old, leaf(t, old, now.Add(-time.Hour), now.Add(24*time.Hour)))
		}, plain: 3, allowed: 0, reason: `ssl_cert "` + devServerCert + `": certificate does not verify against the cluster CA set (ssl_ca): x509: certificate has expired`},
		{name: "expired and key does not match", breakFiles: func(t *testing.T, dir, cfg string, ca *pki.CA) {
			expired(t, dir, cfg, ca)
			otherKey(t, dir, ca)
		}, plain: 1, allowed: 1, reason: "private key does not match"},
		{name: "expired and a bad user entry", breakFiles: func(t *testing.T, dir, cfg string, ca *pki.CA) {
			expired(t, dir, cfg, ca)
			require.NoError(t, os.WriteFile(cfg, []byte(configYAML("  - name: bad\n    password_hash: nope\n"+twoChannels)), 0o644))
		}, plain: 1, allowed: 1, reason: "users[4] (bad): password_hash must be"},
	}
}

// checkCaseDir writes a valid node folder (both channels, the files
// readable by everybody but the key) in a folder others may enter, then
// breaks it as tc says. It returns the folder and the config path.
func checkCaseDir(t *testing.T, tc checkCase) (string, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssld-check")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	ca := pkitest.MustCA(t, "check CA")
	writeDevFolder(t, dir, ca, pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}}))
	require.NoError(t, os.Chmod(filepath.Join(dir, "certs"), 0o755))
	cfg := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAML(twoChannels)), 0o644))
	tc.breakFiles(t, dir, cfg, ca)
	return dir, cfg
}

// runCheckCase runs bin with args: as the test's user, or as nobody when
// tc asks and the test runs as root.
func runCheckCase(t *testing.T, tc checkCase, bin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if tc.asNobody && os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	code := exitStatus(t, cmd.Run(), errb.String())
	return code, out.String(), errb.String()
}

// worldBinary is the test's ssld binary copied where any user may run it
// (runCheckCase runs it as nobody under root).
func worldBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssld-bin")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(ssldBinary(t))
	require.NoError(t, err)
	bin := filepath.Join(dir, "ssld")
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	return bin
}

// TestCheckExitCodes: `ssld check` exits 1 on every kind of broken file
// (with or without --allow-expired), 3 when the only problem is a
// certificate outside its validity window, and 0 for that with
// --allow-expired; text and JSON say which, and name each shared file
// once for both channels.
func TestCheckExitCodes(t *testing.T) {
	bin := worldBinary(t)
	for _, tc := range checkCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := checkCaseDir(t, tc)
			reason := strings.ReplaceAll(tc.reason, `"certs/`, `"`+dir+`/certs/`)

			code, out, errOut := runCheckCase(t, tc, bin, "check", "--config", cfg)
			assert.Equal(t, tc.plain, code, out+errOut)
			assert.Contains(t, out+errOut, reason)
			code, out2, errOut2 := runCheckCase(t, tc, bin, "check", "--config", cfg, "--allow-expired")
			assert.Equal(t, tc.allowed, code, out2+errOut2)
			assert.Contains(t, out2+errOut2, reason)

			var rep checkReport
			_, js, _ := runCheckCase(t, tc, bin, "check", "--config", cfg, "--allow-expired", "--format", "json")
			require.NoError(t, json.Unmarshal([]byte(js), &rep), js)
			assert.Equal(t, tc.plain == 0, rep.OK)
			assert.Equal(t, tc.plain == 3, rep.ValidityOnly)
			assert.Equal(t, tc.plain == 3, rep.Allowed)
			switch tc.plain {
			case 3:
				// One file shared by both channels: one problem, on one line.
				require.Len(t, rep.Problems, 1, js)
				if tc.leafOutside {
					assert.True(t, strings.HasPrefix(rep.Problems[0], "channels client, cluster: "), rep.Problems[0])
					assert.Regexp(t, `(?m)^error: channels client, cluster: ssl_cert "`, errOut)
				}
				assert.Contains(t, out, ": 1 problem(s), each a certificate outside its validity window (exit 3)")
				assert.Contains(t, out2, ": ok except 1 certificate(s) outside their validity window, accepted by --allow-expired")
			case 1:
				assert.Contains(t, out, " problem(s)\n")
				assert.NotContains(t, out2, "accepted by --allow-expired")
				for _, p := range rep.Problems {
					assert.NotRegexp(t, `^channel (client|cluster): ssl_`, p, "files shared by both channels are one problem")
				}
			}
		})
	}
}

// TestCheckOneProblemPerFile: `ssld check --days 45` on a certificate
// that both channels serve counts it once, in text and JSON.
func TestCheckOneProblemPerFile(t *testing.T) {
	dir, cfg, _ := checkDir(t, 30*24*time.Hour)
	code, out, errOut := runBin(t, "check", "--config", cfg, "--days", "45")
	require.Equal(t, 1, code, out+errOut)
	crt := regexp.QuoteMeta(filepath.Join(dir, devServerCert))
	assert.Regexp(t, `\A(error: channels client, cluster: ssl_cert "`+crt+`": certificate expires at \S+, in (29\.9|30\.0) days, within --days 45\n)\z`, errOut)
	assert.Contains(t, out, cfg+": 1 problem(s)\n")

	code, out, errOut = runBin(t, "check", "--config", cfg, "--days", "45", "--format", "json")
	require.Equal(t, 1, code, out+errOut)
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Channels, 2, "both channels are served and reported")
	require.Len(t, rep.Problems, 1, out)
	assert.Contains(t, rep.Problems[0], "channels client, cluster: ssl_cert ")
	assert.False(t, rep.ValidityOnly, "expiring soon is not outside the validity window")
}
