package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
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
	out, err := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput()
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
	backend, detail := availableBackend()
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

// TestBuildFrom: the linker's values win; without them the module version
// and Go's vcs.* stamp are used; anything but printable ASCII is dropped
// (the version goes into @@version_comment and a Prometheus label).
func TestBuildFrom(t *testing.T) {
	stamp := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ssld/ssld", Version: "v0.1.1-0.20261205222135-58ffdafa7bf1"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be"},
			{Key: "vcs.time", Value: "2026-12-05T22:21:35Z"}, {Key: "vcs.modified", Value: "true"}}}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ssld/ssld", Version: "(devel)"}}
	for _, tc := range []struct {
		name      string
		set       build
		info      *debug.BuildInfo
		want      build
		wantShort string
	}{
		{"linker", build{Version: "0.1.0", Revision: "abcdef0123456789", Time: "2026-01-02T03:04:05Z"}, stamp,
			build{Version: "0.1.0", Revision: "abcdef0123456789", Time: "2026-01-02T03:04:05Z"}, "abcdef012345"},
		{"vcs stamp", build{}, stamp,
			build{Version: "0.1.1-0.20261205222135-58ffdafa7bf1", Revision: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be",
				Time: "2026-12-05T22:21:35Z", Modified: true}, "58ffdafa7bf1-dirty"},
		{"linker version, vcs stamp", build{Version: "0.1.0"}, stamp,
			build{Version: "0.1.0", Revision: "58ffdafa7bf1a863561af8b5d4a6cf08679a95be", Time: "2026-12-05T22:21:35Z", Modified: true},
			"58ffdafa7bf1-dirty"},
		{"devel", build{}, devel, build{Version: "(devel)"}, ""},
		{"no build info", build{}, nil, build{Version: "(devel)"}, ""},
		{"hostile linker value", build{Version: "0.1.0\n' OR 1 -- \x1b[31m" + strings.Repeat("9", 80)}, nil,
			build{Version: ("0.1.0'OR1--[31m" + strings.Repeat("9", 80))[:64]}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildFrom(tc.set, tc.info)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantShort, got.shortRevision())
			assert.Regexp(t, `^ssld [!-~]+ \(TLS reload daemon\)$`, got.versionComment())
		})
	}
}

// TestVersionReported: a node says its build in the "ssld ready" log line,
// in @@version_comment (read with the mysql CLI, which prints it on
// connect) and in ssld_build_info, whose crypto_backend is the node's.
func TestVersionReported(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	saved := [...]string{buildVersion, buildRevision, buildTime, buildModified}
	t.Cleanup(func() { buildVersion, buildRevision, buildTime, buildModified = saved[0], saved[1], saved[2], saved[3] })
	buildVersion, buildRevision, buildTime, buildModified = "9.8.7-test", "fedcba9876543210", "2026-12-05T22:21:35Z", ""

	tn := newTestNode(t, "crypto_backend: go\n")
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	sock := filepath.Join(tn.dir, "v.sock")
	cfg, err := os.ReadFile(tn.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tn.config, append(cfg, "metrics_listen: 127.0.0.1:0\n"...), 0o600))
	n, err := startNode(context.Background(), serveOptions{config: tn.config, listen: "127.0.0.1:0", socket: sock}, log)
	require.NoError(t, err)
	t.Cleanup(func() { n.shutdown(time.Second) })

	assert.Regexp(t, `msg="ssld ready" version=9\.8\.7-test revision=fedcba987654 `, buf.String())

	out, err := mysqlSocket(mysqlBin, sock, "admin", adminPW, "--batch", "--skip-column-names", "-e", "select @@version_comment limit 1")
	require.NoError(t, err, out)
	assert.Equal(t, "ssld 9.8.7-test (TLS reload daemon)", strings.TrimSpace(out))
	out, err = mysqlSocket(mysqlBin, sock, "admin", adminPW, "-e", "status")
	require.NoError(t, err, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^Server version:\s+8\.0\.35-ssld ssld 9\.8\.7-test \(TLS reload daemon\)$`), out)

	s := testenv.ScrapeMetrics(t, "http://"+n.metricsAddr().String()+"/metrics")
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
