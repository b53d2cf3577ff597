package e2e

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// readmeInstall returns the commands of the README's "Install" section,
// one list per sh block, comments dropped.
func readmeInstall(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(b), "\n## Install\n")
	require.True(t, ok, "README.md: no Install section")
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(m[1]), "\n") {
			l, _, _ = strings.Cut(l, "#")
			lines = append(lines, strings.TrimSpace(l))
		}
		blocks = append(blocks, lines)
	}
	require.Len(t, blocks, 2, "README.md's Install section: the package block and the start block")
	return blocks
}

// packages runs the README's `./scripts/package` line as written, in the
// checkout (DIST pointed at a scratch folder's dist/), and returns the
// .deb and the .rpm it wrote (it writes the image too: checked here, run
// by the podman tests).
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	testenv.LookPath(t, "git")
	line := readmeInstall(t)[0][0]
	require.Equal(t, "./scripts/package", line)
	dist := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "DIST="+dist)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/package: %s", out)
	t.Logf("scripts/package: %s", time.Since(start).Round(time.Second))
	version := repoVersion(t)
	deb = filepath.Join(dist, "ssld_"+version+"_"+runtime.GOARCH+".deb")
	rpm = filepath.Join(dist, "ssld-"+version+"."+map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]+".rpm")
	image := filepath.Join(dist, "ssld-"+version+"-oci.tar")
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, 3, "scripts/package prints the two packages and the image: %s", out)
	assert.Equal(t, []string{deb, rpm}, lines[:2])
	assert.Equal(t, []string{image, "localhost/ssld:" + version}, strings.Fields(lines[2])[:2], "the image line: archive, name, ID")
	require.FileExists(t, deb)
	require.FileExists(t, rpm)
	require.FileExists(t, image)
	return deb, rpm
}

// TestPackage: scripts/package builds a .deb that lintian passes with no
// error or warning (the few informational tags are overridden with their
// reason in deploy/package/lintian-overrides) and an .rpm that rpm reads;
// both hold the same files. The packaged binary reports the VERSION and
// the checkout's commit; the unit is the repository's with /usr/bin/ssld;
// the default config is a conffile that `ssld check` refuses until its
// certificates exist, and passes once they do.
func TestPackage(t *testing.T) {
	lintian := testenv.LookPath(t, "lintian")
	rpmBin := testenv.LookPath(t, "rpm")
	testenv.LookPath(t, "dpkg-deb")
	deb, rpm := packages(t)
	version := repoVersion(t)

	cmd := exec.Command(lintian, "--fail-on", "error,warning", "--tag-display-limit", "0", deb)
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "lintian: %s", out)
	for _, l := range strings.Split(string(out), "\n") {
		assert.False(t, strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: "), "lintian: %s", l)
	}

	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "--field", deb, name).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, version, field("Version"))
	assert.Equal(t, "libc6 (>= 2.34), systemd", field("Depends"), "Depends stays minimal")
	ctl := t.TempDir()
	out, err = exec.Command("dpkg-deb", "--control", deb, ctl).CombinedOutput()
	require.NoError(t, err, "%s", out)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	require.NoError(t, err)
	assert.Equal(t, "/etc/ssld/ssld.yaml\n", string(conffiles))

	root := t.TempDir()
	out, err = exec.Command("dpkg-deb", "--extract", deb, root).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var debFiles []string
	require.NoError(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			debFiles = append(debFiles, strings.TrimPrefix(p, root))
		}
		return err
	}))
	out, err = exec.Command(rpmBin, "-qpl", rpm).CombinedOutput()
	require.NoError(t, err, "rpm -qpl: %s", out)
	rpmFiles := strings.Fields(string(out))
	// The .deb alone has Debian's copyright, changelog and lintian files.
	var common []string
	for _, f := range debFiles {
		switch f {
		case "/usr/share/doc/ssld/copyright", "/usr/share/doc/ssld/changelog.gz", "/usr/share/lintian/overrides/ssld":
		default:
			common = append(common, f)
		}
	}
	sort.Strings(common)
	sort.Strings(rpmFiles)
	assert.Equal(t, common, rpmFiles, "the .rpm holds the .deb's files")
	out, err = exec.Command(rpmBin, "-qp", "--queryformat", "%{VERSION} %{ARCH}", rpm).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, version+" "+map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH], string(out))
	out, err = exec.Command(rpmBin, "-qp", "--configfiles", rpm).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "/etc/ssld/ssld.yaml", strings.TrimSpace(string(out)))

	for _, f := range []string{"/usr/bin/ssld", "/usr/lib/systemd/system/ssld.service", "/usr/lib/sysusers.d/ssld.conf",
		"/usr/lib/tmpfiles.d/ssld.conf", "/etc/ssld/ssld.yaml", "/usr/share/ssld/certbot/deploy-hook",
		"/usr/share/ssld/prometheus/ssld-rules.yml", "/usr/share/bash-completion/completions/ssld",
		"/usr/share/man/man1/ssld.1.gz", "/usr/share/doc/ssld/operations.md"} {
		assert.Contains(t, debFiles, f)
	}

	// The binary: the VERSION and the checkout's commit.
	bin := filepath.Join(root, "usr/bin/ssld")
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	head, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "ssld "+version+"\nrevision: "+string(head[:12])), "%s", out)

	// The unit: the repository's, at /usr/bin/ssld.
	repoUnit, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/systemd/ssld.service"))
	require.NoError(t, err)
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/ssld.service"))
	require.NoError(t, err)
	assert.Equal(t, strings.ReplaceAll(string(repoUnit), "/usr/local/bin/ssld", "/usr/bin/ssld"), string(unit))
	assert.NotContains(t, string(unit), "/usr/local")
	assert.Equal(t, 3, strings.Count(string(unit), "=/usr/bin/ssld "), "ExecStartPre, ExecStart and ExecReload")

	// A man page per command, from the commands' own help.
	for _, page := range []string{"ssld", "ssld-serve", "ssld-check", "ssld-reload", "ssld-status", "ssld-passwd",
		"ssld-cluster-reload", "ssld-cluster-status", "ssld-version"} {
		f, err := os.Open(filepath.Join(root, "usr/share/man/man1", page+".1.gz"))
		if !assert.NoError(t, err, page) {
			continue
		}
		zr, err := gzip.NewReader(f)
		require.NoError(t, err, page)
		b, err := io.ReadAll(zr)
		f.Close()
		require.NoError(t, err, page)
		assert.Contains(t, string(b), `.TH "`+strings.ToUpper(page)+`" "1"`, page)
	}
	completion, err := os.ReadFile(filepath.Join(root, "usr/share/bash-completion/completions/ssld"))
	require.NoError(t, err)
	assert.Contains(t, string(completion), "__start_ssld")
	// The completion script asks the binary: its request command works.
	out, err = exec.Command(bin, "__complete", "clu").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "cluster\t")

	// The default config: refused while its certificates do not exist,
	// accepted once they do (the same file, its /etc/ssld/certs pointed at
	// a scratch folder).
	conf, err := os.ReadFile(filepath.Join(root, "etc/ssld/ssld.yaml"))
	require.NoError(t, err)
	certs := t.TempDir()
	scratch := filepath.Join(certs, "ssld.yaml")
	require.NoError(t, os.WriteFile(scratch, []byte(strings.ReplaceAll(string(conf), "/etc/ssld/certs/", certs+"/")), 0o600))
	out, err = exec.Command(bin, "check", "--config", scratch, "--allow-expired").CombinedOutput()
	assert.Equal(t, 1, exitStatus(t, err, "ssld check"), "%s", out)
	assert.Contains(t, string(out), `ssl_cert "`+certs+`/server.crt"`)
	ca := pkitest.MustCA(t, "package CA")
	leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	require.NoError(t, os.WriteFile(filepath.Join(certs, "server.crt"), leaf.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(certs, "server.key"), leaf.KeyPEM, 0o600))
	out, err = exec.Command(bin, "check", "--config", scratch).CombinedOutput()
	assert.NoError(t, err, "the default config with its certificates in place: %s", out)
}
