package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// acmeEnv is Debian's pebble (an ACME test CA) and a certbot with its own
// config, work and logs folders, all under one temp folder.
type acmeEnv struct {
	t                            *testing.T
	dir, configDir, server, port string
	certbot                      string
	env                          []string
	domain                       string
}

func startPebble(t *testing.T) *acmeEnv {
	pebble := testenv.LookPath(t, "pebble")
	certbot := testenv.LookPath(t, "certbot")
	testenv.LookPath(t, "openssl")
	dir, err := os.MkdirTemp("", "ssld-acme")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })

	// pebble's own HTTPS certificate, from a CA made here.
	ca := pkitest.MustCA(t, "pebble test CA")
	leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "cert.pem": leaf.CertPEM, "key.pem": leaf.KeyPEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	listen := freeAddr(t)
	cfg, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": "",
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pebble.json"), cfg, 0o600))

	logs := &lockedBuffer{}
	cmd := exec.Command(pebble, "-config", filepath.Join(dir, "pebble.json"))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_NOSLEEP=1")
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.Eventually(t, 20*time.Second, func() bool { return strings.Contains(logs.String(), "Listening on") },
		"pebble did not start: %s", logs)
	_, port := splitAddr(t, freeAddr(t))
	return &acmeEnv{
		t: t, dir: dir, configDir: filepath.Join(dir, "letsencrypt"), certbot: certbot,
		server: "https://" + listen + "/dir", port: port, domain: "db1.ssld.test",
		env: append(os.Environ(), "REQUESTS_CA_BUNDLE="+filepath.Join(dir, "ca.pem")),
	}
}

// base is what every certbot run here adds: the temp folders and pebble
// as the server.
func (a *acmeEnv) base() []string {
	return []string{"--non-interactive", "--config-dir", a.configDir,
		"--work-dir", filepath.Join(a.dir, "work"), "--logs-dir", filepath.Join(a.dir, "logs"),
		"--server", a.server, "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", a.port}
}

// run runs certbot with the temp folders and pebble as the server.
func (a *acmeEnv) run(extraEnv []string, args ...string) string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.certbot, append(args, a.base()...)...)
	cmd.Env = append(append([]string{}, a.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	require.NoError(a.t, err, "certbot %v: %s", args, out)
	return string(out)
}

// runLine runs a shell command line that starts with "certbot " (a line of
// docs/operations.md), with this certbot and the base arguments added. A
// line that lets certbot sleep before renewing (no
// --no-random-sleep-on-renew) runs into the 90 s limit.
func (a *acmeEnv) runLine(extraEnv []string, line string) string {
	a.t.Helper()
	require.True(a.t, strings.HasPrefix(line, "certbot "), line)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := a.certbot + strings.TrimPrefix(line, "certbot") + " " + strings.Join(a.base(), " ")
	cmd := exec.CommandContext(ctx, "sh", "-c", full)
	cmd.Env = append(append([]string{}, a.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	require.NoError(a.t, err, "%s: %s", full, out)
	return string(out)
}

// log is certbot's log of its last run (certbot rotates letsencrypt.log
// on every run).
func (a *acmeEnv) log() string {
	b, err := os.ReadFile(filepath.Join(a.dir, "logs", "letsencrypt.log"))
	require.NoError(a.t, err)
	return string(b)
}

func (a *acmeEnv) issue() {
	a.run(nil, "certonly", "--agree-tos", "--register-unsafely-without-email", "-d", a.domain)
}

func (a *acmeEnv) renew(extraEnv ...string) string {
	return a.run(extraEnv, "renew", "--force-renewal", "--no-random-sleep-on-renew")
}

// hookLines are the lines of certbot's log that the deploy hook wrote.
func (a *acmeEnv) hookLines() string {
	var out []string
	for _, l := range strings.Split(a.log(), "\n") {
		if strings.Contains(l, "ssld reload --config") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (a *acmeEnv) live(name string) string { return filepath.Join(a.configDir, "live", a.domain, name) }

// fileSerial is what `openssl x509 -serial` prints for a PEM file.
func fileSerial(t *testing.T, path string) string {
	out, err := exec.Command("openssl", "x509", "-in", path, "-noout", "-serial").CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")
}

// acmeNode starts pebble, has certbot issue a certificate and starts ssld
// on certbot's live/ symlinks (with watch: watch); openssl s_client must see
// the issued certificate served. Its only account is a unix_socket one for
// the OS user running the test: no password anywhere. It returns the node's
// config file and the issued serial.
func acmeNode(t *testing.T, watch bool) (a *acmeEnv, n *node.Node, cfgPath, first string) {
	a = startPebble(t)
	a.issue()
	me, err := user.Current()
	require.NoError(t, err)
	cfgPath = filepath.Join(a.dir, "ssld.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
socket: %s
ssl_cert: %s
ssl_key: %s
watch: %v
users:
  - name: %s
    plugin: unix_socket
    privileges: [SUPER]
`, filepath.Join(a.dir, "ssld.sock"), a.live("fullchain.pem"), a.live("privkey.pem"), watch, me.Username)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err = node.Start(context.Background(), node.Options{Config: cfgPath}, log)
	require.NoError(t, err)
	t.Cleanup(func() { n.Shutdown(2 * time.Second) })
	first = fileSerial(t, a.live("cert.pem"))
	require.Equal(t, first, opensslSerial(t, n.Addr().String()))
	return a, n, cfgPath, first
}

// TestACMECertbotDeployHook: pebble issues a certificate through certbot,
// ssld serves it from live/, deploy/certbot/deploy-hook is installed where
// certbot looks for it, and `certbot renew --force-renewal` ends with the
// renewed serial served, and certbot's log has no warning (the hook's
// success goes to stdout). No password anywhere (unix_socket). A failing
// hook (and a failing `ssld check` pre-hook, run with docs/operations.md's
// `certbot renew` line as written) leaves certbot's exit status at 0 and
// the renewal done, with the hook's error in a WARNING in certbot's log.
func TestACMECertbotDeployHook(t *testing.T) {
	t.Setenv("SSLD_PASSWORD", "") // no password anywhere: unix_socket
	a, n, cfgPath, first := acmeNode(t, false)
	addr := n.Addr().String()

	// Install the hook with docs/operations.md's own command line, into
	// this certbot's config folder instead of /etc/letsencrypt.
	install := docCommand(t, "install -m 0755 deploy/certbot/deploy-hook ")
	require.NoError(t, os.MkdirAll(filepath.Join(a.configDir, "renewal-hooks", "deploy"), 0o755))
	sh := exec.Command("sh", "-c", strings.ReplaceAll(install, "/etc/letsencrypt", a.configDir))
	sh.Dir = repoRoot(t)
	shOut, err := sh.CombinedOutput()
	require.NoError(t, err, "%s: %s", install, shOut)
	st, err := os.Stat(filepath.Join(a.configDir, "renewal-hooks/deploy/ssld"))
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&0o100, "installed hook is executable")

	a.renew("SSLD_CONFIG="+cfgPath, "SSLD="+ssldBinary(t))
	renewed := fileSerial(t, a.live("cert.pem"))
	require.NotEqual(t, first, renewed)
	assert.Equal(t, renewed, opensslSerial(t, addr), "hook: %s", a.hookLines())
	assert.Regexp(t, `ssld reload --config `+regexp.QuoteMeta(cfgPath)+` \(renewed .*/live/db1.ssld.test\): exit 0: ok: reloaded, `, a.hookLines())
	log := a.log()
	assert.Contains(t, log, "Hook 'deploy-hook' ran with output:", "the hook's success is its output")
	assert.NotContains(t, log, "ran with error output", "a good renewal leaves no warning")
	assert.NotContains(t, log, "reported error code")
	assert.NotRegexp(t, `(?m)^\S+ \S+:WARNING:`, log, "no warning at all in a good renewal's log")

	// The hook fails (no such config): it exits non-zero and says why, yet
	// certbot exits 0, and the node keeps serving the previous renewal.
	// This renewal also runs docs/operations.md's pre-hook line (`ssld
	// check`) on a config it refuses: certbot shows the problem and
	// renews anyway.
	bad := filepath.Join(a.dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("ssl_cert: "+a.live("fullchain.pem")+"\nssl_key: "+filepath.Join(a.dir, "missing.key")+"\n"), 0o600))
	line := docCommand(t, "certbot renew ")
	require.Contains(t, line, " --no-random-sleep-on-renew ", "a renewal run by hand must not sleep first")
	line = strings.NewReplacer("certbot renew ", "certbot renew --force-renewal ",
		"'ssld check ", "'"+ssldBinary(t)+" check ", "/etc/ssld/ssld.yaml", bad).Replace(line)
	out := a.runLine([]string{"SSLD_CONFIG=" + filepath.Join(a.dir, "missing.yaml"), "SSLD=" + ssldBinary(t)}, line)
	assert.Contains(t, out, "missing.key", "certbot shows the pre-hook's problem")
	assert.Contains(t, out, "missing.yaml", "certbot shows the hook's error output")
	assert.NotEqual(t, renewed, fileSerial(t, a.live("cert.pem")))
	assert.Equal(t, renewed, opensslSerial(t, addr))
	assert.Regexp(t, `missing.yaml \(renewed .*\): exit 2: ssld: config file .*missing.yaml: does not exist`, a.hookLines())
	assert.Regexp(t, `(?m)WARNING:certbot\.\S+:Hook 'deploy-hook' ran with error output:\n +ssld reload --config \S*missing.yaml \(renewed .*\): exit 2: `, a.log(),
		"the hook's failure is a warning in certbot's log")
	assert.Contains(t, a.log(), "Hook 'deploy-hook' reported error code 2")
}

// TestACMECertbotWatch: with watch: true and no hook, certbot's renewal
// (new files in archive/, live/ symlinks swapped) is served on its own.
func TestACMECertbotWatch(t *testing.T) {
	t.Setenv("SSLD_PASSWORD", "")
	a, n, _, first := acmeNode(t, true)
	addr := n.Addr().String()

	a.renew()
	renewed := fileSerial(t, a.live("cert.pem"))
	require.NotEqual(t, first, renewed)
	testenv.Eventually(t, 20*time.Second, func() bool { return n.TLS().Current("client").Serial() == renewed }, "the watched renewal is served")
	assert.Equal(t, renewed, opensslSerial(t, addr))
}

// docCommand returns the one line of docs/operations.md that starts with
// prefix (a command an operator is told to run), with backslash
// continuations joined.
func docCommand(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var found []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			found = append(found, l)
		}
	}
	require.Len(t, found, 1, "docs/operations.md lines starting with %q", prefix)
	return found[0]
}

// TestAcmeShReloadCmd: the acme.sh --reloadcmd of docs/operations.md, run as
// acme.sh runs it (sh -c), reloads the node with no password and passes
// the hook's exit status on (1 when the node refuses the files).
func TestAcmeShReloadCmd(t *testing.T) {
	line := docCommand(t, "acme.sh --install-cert ")
	m := regexp.MustCompile(`--reloadcmd '([^']+)'`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	tn, _ := unixSocketNode(t)
	t.Setenv("SSLD_PASSWORD", "")
	t.Setenv("SSLD", ssldBinary(t))
	cmdline := strings.NewReplacer("/etc/ssld/ssld.yaml", tn.Config,
		"/etc/letsencrypt/renewal-hooks/deploy/ssld", filepath.Join(repoRoot(t), "deploy/certbot/deploy-hook")).Replace(m[1])
	run := func() (int, string) { return exitCode(t, exec.Command("sh", "-c", cmdline)) }
	okOut, failedOut := checkReloadCommand(t, tn, run)
	assert.Contains(t, okOut, ": exit 0: ok: reloaded, ")
	assert.Contains(t, failedOut, ": exit 1: failed: ")
}
