package e2e

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// repoVersion is the VERSION file: what a packaged build reports.
func repoVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	require.NoError(t, err)
	v := strings.TrimSpace(string(b))
	require.Regexp(t, `^\d+\.\d+\.\d+([-+~][0-9A-Za-z.]+)?$`, v, "VERSION")
	return v
}

// TestVersionCommand: a build given the version, revision and commit time
// with -ldflags -X (as scripts/package builds) prints them from `ssld
// version` and, identically, from `ssld --version`, with the Go version
// and the crypto backend auto resolves to; a plain `go build` reports
// the module's version, (devel). Extra arguments are a usage error.
func TestVersionCommand(t *testing.T) {
	version := repoVersion(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ssld")
	const rev = "0123456789abcdef0123456789abcdef01234567"
	ldflags := "-X main.buildVersion=" + version + " -X main.buildRevision=" + rev +
		" -X main.buildTime=2026-12-05T22:21:35Z -X main.buildModified=true"
	out, err := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "github.com/ssld/ssld/cmd/ssld").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	run := func(bin string, args ...string) (int, string) {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		return exitStatus(t, err, strings.Join(args, " ")), string(out)
	}
	code, v := run(bin, "version")
	require.Equal(t, 0, code, v)
	lines := strings.Split(strings.TrimSuffix(v, "\n"), "\n")
	require.Len(t, lines, 5, v)
	assert.Equal(t, "ssld "+version, lines[0])
	assert.Equal(t, "revision: 0123456789ab-dirty", lines[1])
	assert.Equal(t, "commit time: 2026-12-05T22:21:35Z", lines[2])
	assert.Equal(t, "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[3])
	// What crypto_backend: auto resolves to here: a Manager with no TLS
	// material resolves it exactly as a node does.
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{}))
	require.NoError(t, err)
	backend, detail := mgr.CryptoBackend(), mgr.CryptoBackendInfo()
	assert.Equal(t, "crypto_backend: "+string(backend)+" ("+detail+")", lines[4])
	if testenv.CI() {
		// scripts/test installs openssl, which brings libcrypto.so.3.
		assert.Regexp(t, `^crypto_backend: openssl \(OpenSSL 3\.`, lines[4])
	}
	code, flag := run(bin, "--version")
	assert.Equal(t, 0, code, flag)
	assert.Equal(t, v, flag, "--version prints what version prints")

	code, out2 := run(bin, "version", "extra")
	assert.Equal(t, 2, code, out2)
	assert.Contains(t, out2, `unknown command "extra" for "ssld version"`)

	// A plain build: the module version Go stamped ((devel), or with VCS
	// stamping a pseudo-version from the commit), as `go version -m` reads it.
	plainBin := ssldBinary(t)
	code, plain := run(plainBin, "version")
	require.Equal(t, 0, code, plain)
	m, err := exec.Command("go", "version", "-m", plainBin).CombinedOutput()
	require.NoError(t, err, "%s", m)
	mod := regexp.MustCompile(`(?m)^\s+mod\s+github\.com/ssld/ssld\s+(\S+)`).FindStringSubmatch(string(m))
	require.NotNil(t, mod, "go version -m: %s", m)
	assert.True(t, strings.HasPrefix(plain, "ssld "+strings.TrimPrefix(mod[1], "v")+"\n"), "a build without -X reports the module version %s: %s", mod[1], plain)
	if rev := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=(\w{12})`).FindStringSubmatch(string(m)); rev != nil {
		assert.Contains(t, plain, "\nrevision: "+rev[1], "and the VCS stamp's revision")
	}
}

// TestVersionReported: a node says its build in the "ssld ready" log line,
// in @@version_comment (read with the mysql CLI, which prints it on
// connect) and in ssld_build_info, whose crypto_backend is the node's.
func TestVersionReported(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	// What cmd/ssld gives the node from its linker stamp (TestVersionCommand
	// checks the stamp itself).
	build := node.Build{Version: "9.8.7-test", Revision: "fedcba9876543210", ShortRevision: "fedcba987654",
		GoVersion: runtime.Version()}

	tn := newTestNode(t, "crypto_backend: go\n")
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	sock := filepath.Join(tn.Dir, "v.sock")
	cfg, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tn.Config, append(cfg, "metrics_listen: 127.0.0.1:0\n"...), 0o600))
	n, err := node.Start(context.Background(), node.Options{Config: tn.Config, Listen: "127.0.0.1:0", Socket: sock, Build: build}, log)
	require.NoError(t, err)
	t.Cleanup(func() { n.Shutdown(time.Second) })

	assert.Regexp(t, `msg="ssld ready" version=9\.8\.7-test revision=fedcba987654 `, buf.String())

	out, err := mysqlSocket(mysqlBin, sock, "admin", adminPW, "--batch", "--skip-column-names", "-e", "select @@version_comment limit 1")
	require.NoError(t, err, out)
	assert.Equal(t, "ssld 9.8.7-test (TLS reload daemon)", strings.TrimSpace(out))
	out, err = mysqlSocket(mysqlBin, sock, "admin", adminPW, "-e", "status")
	require.NoError(t, err, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^Server version:\s+8\.0\.35-ssld ssld 9\.8\.7-test \(TLS reload daemon\)$`), out)

	s := testenv.ScrapeMetrics(t, "http://"+n.MetricsAddr().String()+"/metrics")
	assert.Equal(t, 1.0, s.Value(t, "ssld_build_info", "version", "9.8.7-test", "revision", "fedcba9876543210",
		"goversion", runtime.Version(), "crypto_backend", "go"))
}

// TestHelpAndCompletionCommands: the help and completion commands that
// `ssld --help` lists run (cobra adds them inside Execute, after the
// unknown-command check), and the completion scripts' hidden request
// command answers.
func TestHelpAndCompletionCommands(t *testing.T) {
	code, out, errOut := runCLI(t, "help", "serve")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Run an ssld node.")
	code, out, errOut = runCLI(t, "completion", "bash")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "__start_ssld")
	code, out, errOut = runCLI(t, "__complete", "ver")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "version\t")
	code, _, errOut = runCLI(t, "nosuch")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "nosuch" for "ssld"`)
	code, out, _ = runCLI(t, "--help")
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "  man ", "the packaging command stays hidden")
}
