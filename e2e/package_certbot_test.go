package e2e

import (
	"context"
	"fmt"
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

	"github.com/ssld/ssld/internal/testenv"
)

// certbotTree returns bootTree's Debian tree with Debian's certbot added,
// built once next to it (a copy, then apt-get inside it with
// systemd-nspawn: about a minute and 60 MB more) and reused. It skips
// where bootTree does.
func certbotTree(t *testing.T) string {
	t.Helper()
	base := bootTree(t)
	dir := filepath.Join(bootCacheDir(), "debian-"+bootSuite+"-systemd-certbot")
	done := filepath.Join(dir, ".ssld-tree-complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if !testenv.CI() {
		t.Skipf("no Debian tree with certbot at %s: CI=true builds it (about a minute), then it is reused", dir)
	}
	lock, err := os.OpenFile(filepath.Join(bootCacheDir(), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	partial := dir + ".partial"
	require.NoError(t, os.RemoveAll(partial))
	start := time.Now()
	out, err := exec.Command("cp", "-a", "--reflink=auto", base, partial).CombinedOutput()
	require.NoError(t, err, "copy %s: %s", base, out)
	require.NoError(t, os.Remove(filepath.Join(partial, ".ssld-tree-complete")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-nspawn", "--register=no", "--keep-unit", "--quiet", "-D", partial,
		"--resolv-conf=copy-host", "--timezone=off", "--link-journal=no", "--setenv=DEBIAN_FRONTEND=noninteractive",
		"/bin/sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends certbot && apt-get clean")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "apt-get install certbot in %s: %s", partial, tail(string(out), 4000))
	require.NoError(t, os.WriteFile(filepath.Join(partial, ".ssld-tree-complete"), []byte("certbot\n"), 0o644))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(partial, dir))
	t.Logf("built %s in %s", dir, time.Since(start).Round(time.Second))
	return dir
}

// TestPackageCertbot: the .deb with certbot inside the booted tree and
// pebble outside it (the tree shares the host's network). certbot issues
// a certificate; docs/operations.md's certbot lines for a package install
// (the ssl-cert group's read access, the hook linked into
// renewal-hooks/deploy) are run as written; ssld serves certbot's live/
// files; `certbot renew` runs the packaged hook, which reloads ssld: the
// renewed serial is served and certbot's log has the hook's success.
func TestPackageCertbot(t *testing.T) {
	tree := certbotTree(t)
	testenv.LookPath(t, "openssl")
	a := startPebble(t)
	deb, _ := packages(t)
	started := time.Now()
	b := bootContainer(t, tree, filepath.Dir(deb)+":/src/dist", a.dir+":/srv/acme")

	b.must("apt-get install -y /src/dist/" + filepath.Base(deb) + " 2>&1")
	certbot := fmt.Sprintf("REQUESTS_CA_BUNDLE=/srv/acme/ca.pem certbot --non-interactive --server %s --standalone --http-01-address 127.0.0.1 --http-01-port %s",
		a.server, a.port)
	b.must(certbot + " certonly --agree-tos --register-unsafely-without-email -d " + a.domain + " 2>&1")

	// docs/operations.md's lines for certbot with the package, as written
	// (db1.example.com is the domain pebble issued).
	var lines []string
	for _, blk := range docBlocks(t, "docs/operations.md", "sh") {
		if strings.Contains(blk, "/usr/share/ssld/certbot/deploy-hook") {
			for _, l := range strings.Split(strings.TrimSpace(blk), "\n") {
				lines = append(lines, strings.ReplaceAll(l, "db1.example.com", a.domain))
			}
		}
	}
	require.NotEmpty(t, lines, "docs/operations.md: the certbot block of the package section")
	for _, l := range lines {
		if strings.HasPrefix(l, "systemctl ") {
			continue // run below, once the ports are the test's
		}
		b.must(l)
	}
	addr, metrics := freeAddr(t), freeAddr(t)
	b.must(fmt.Sprintf("sed -i 's|^listen: 127.0.0.1:3307$|listen: %s|; s|^metrics_listen: 127.0.0.1:9180$|metrics_listen: %s|' /etc/ssld/ssld.yaml && grep -qx 'listen: %s' /etc/ssld/ssld.yaml && grep -qx 'ssl_cert: /etc/letsencrypt/live/%s/fullchain.pem' /etc/ssld/ssld.yaml",
		addr, metrics, addr, a.domain))
	for _, l := range lines {
		if strings.HasPrefix(l, "systemctl ") {
			b.must(l)
		}
	}
	liveSerial := func() string {
		out := b.must("openssl x509 -noout -serial -in /etc/letsencrypt/live/" + a.domain + "/cert.pem 2>/dev/null || " +
			"sed -n '1,/END CERTIFICATE/p' /etc/letsencrypt/live/" + a.domain + "/fullchain.pem")
		if s, ok := strings.CutPrefix(strings.TrimSpace(out), "serial="); ok {
			return s
		}
		f := filepath.Join(t.TempDir(), "cert.pem")
		require.NoError(t, os.WriteFile(f, []byte(out), 0o644))
		return fileSerial(t, f)
	}
	served := func() string {
		t.Helper()
		s, err := opensslServedSerial(addr)
		require.NoError(t, err)
		return s
	}
	_, st := b.sh("systemctl is-active ssld")
	require.Equal(t, "active", strings.TrimSpace(st), b.must("systemctl status --no-pager ssld || true"))
	first := liveSerial()
	assert.Equal(t, first, served())

	out := b.must(certbot + " renew --force-renewal --no-random-sleep-on-renew 2>&1")
	renewed := liveSerial()
	require.NotEqual(t, first, renewed, out)
	assert.Equal(t, renewed, served(), "the hook reloaded ssld: %s", out)
	log := b.must("cat /var/log/letsencrypt/letsencrypt.log")
	assert.Regexp(t, regexp.MustCompile(`ok: reloaded`), log, "certbot's log has the hook's success")
	assert.NotContains(t, log, "ran with error output", "the hook's success is not a warning")
	t.Logf("TestPackageCertbot: %s after pebble and the packages", time.Since(started).Round(time.Second))
}
