package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestPackageSystemd installs the .deb that scripts/package builds into
// Debian bookworm booted with systemd-nspawn (the tree of TestSystemdBoot,
// in a fresh overlay), with apt-get and no network (its Depends are in the
// tree), and runs it as an operator would:
//   - the install creates the ssld user and /etc/ssld (root:ssld 0750),
//     enables the unit and does not start it: the shipped config names
//     certificates that do not exist yet;
//   - with certificates in /etc/ssld/certs, `systemctl enable --now ssld`
//     serves them (openssl s_client from the host: the tree shares its
//     network);
//   - `systemctl reload ssld` of renewed files exits 0 and the new serial
//     is served, and so does the packaged certbot hook linked as
//     docs/operations.md says; a reload of a mismatched pair fails, the reason is in
//     `systemctl status` and the previous serial is still served;
//   - `systemctl restart ssld` with that pair fails and nothing serves;
//   - `journalctl -u ssld` has the reload lines;
//   - repaired files bring it up on the unit's retry, and an upgrade
//     (a reinstall) restarts it and keeps the changed config;
//   - `apt-get remove ssld` stops it and keeps /etc/ssld, `apt-get purge
//     ssld` removes /etc/ssld.
func TestPackageSystemd(t *testing.T) {
	tree := bootTree(t)
	testenv.LookPath(t, "openssl")
	readme := readmeInstall(t)
	deb, _ := packages(t)
	started := time.Now()

	pkiDir, ca, stage := stagePKI(t, "pkg")
	first := stage("first", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	renewed := stage("renewed", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	hooked := stage("hooked", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	stage("other", pkitest.MustIssue(t, ca, pki.DevServerOptions()))

	b := bootContainer(t, tree, filepath.Dir(deb)+":/src/dist", pkiDir+":/srv/pki")
	booted := time.Now()

	// Copied into the container's own (volatile) tree and installed with
	// the README's line, from the folder that holds dist/, with nothing
	// else: no download (apt says what it needs to get, and prints a Get:
	// line with the URL of each download).
	require.Equal(t, "apt install ./dist/ssld_*.deb", readme[0][1])
	out := b.must("mkdir -p /root/checkout/dist && cp /src/dist/*.deb /root/checkout/dist/ && cd /root/checkout && " + readme[0][1] + " 2>&1")
	assert.Contains(t, out, "0 upgraded, 1 newly installed, 0 to remove")
	assert.Contains(t, out, "Need to get 0 B/", "the install downloads nothing")
	assert.NotRegexp(t, `(?m)^Get:\d+ [a-z]+://`, out, "the install downloads nothing")
	assert.Contains(t, out, "ssld: not started: /etc/ssld/ssld.yaml does not pass 'ssld check' yet", "fresh install: %s", out)
	active := func() string { _, out := b.sh("systemctl is-active ssld"); return strings.TrimSpace(out) }
	status := func() string { _, out := b.sh("systemctl status --no-pager --lines=20 ssld"); return out }
	assert.Equal(t, "inactive", active(), "a fresh install starts nothing")
	assert.Equal(t, "enabled", strings.TrimSpace(b.must("systemctl is-enabled ssld")))
	assert.Equal(t, "750 root ssld", strings.TrimSpace(b.must("stat -c '%a %U %G' /etc/ssld")))
	assert.Contains(t, b.must("id ssld"), "(ssl-cert)")
	assert.Contains(t, b.must("ssld version"), "ssld "+repoVersion(t)+"\n")

	// Certificates in place, and ports free on the shared network.
	deploy := func(crt, key string) {
		t.Helper()
		b.must(fmt.Sprintf(`set -e
install -d -o root -g ssld -m 0750 /etc/ssld/certs
install -m 0644 /srv/pki/%[1]s.crt /etc/ssld/certs/.server.crt && mv /etc/ssld/certs/.server.crt /etc/ssld/certs/server.crt
install -o root -g ssld -m 0640 /srv/pki/%[2]s.key /etc/ssld/certs/.server.key && mv /etc/ssld/certs/.server.key /etc/ssld/certs/server.key`, crt, key))
	}
	deploy("first", "first")
	addr, metrics := freeAddr(t), freeAddr(t)
	b.must(fmt.Sprintf("sed -i 's/^listen: 127.0.0.1:3307$/listen: %s/; s/^metrics_listen: 127.0.0.1:9180$/metrics_listen: %s/' /etc/ssld/ssld.yaml && grep -qx 'listen: %s' /etc/ssld/ssld.yaml",
		addr, metrics, addr))
	served := func() string {
		t.Helper()
		s, err := opensslServedSerial(addr)
		require.NoError(t, err)
		return s
	}

	// The README's start block, as written.
	require.Equal(t, []string{"runuser -u ssld -- ssld check --config /etc/ssld/ssld.yaml", "systemctl enable --now ssld"}, readme[1])
	out = b.must(readme[1][0])
	assert.Contains(t, out, "/etc/ssld/ssld.yaml: ok\n")
	out = b.must(readme[1][1])
	assert.Equal(t, "active", active(), out)
	assert.Equal(t, first, served())
	assert.Contains(t, status(), "serving serial ")

	deploy("renewed", "renewed")
	out = b.must("systemctl reload ssld")
	assert.Equal(t, renewed, served(), out)

	// The certbot hook, linked as docs/operations.md says and run as
	// certbot runs it (as root, RENEWED_LINEAGE set): it reloads through
	// the root unix_socket account of the shipped config.
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/operations.md"))
	require.NoError(t, err)
	link := regexp.MustCompile("`(ln -s /usr/share/ssld/certbot/deploy-hook [^`]+)`").FindStringSubmatch(string(doc))
	require.NotNil(t, link, "docs/operations.md: the hook's ln line")
	b.must("mkdir -p /etc/letsencrypt/renewal-hooks/deploy && " + link[1])
	deploy("hooked", "hooked")
	out = b.must("RENEWED_LINEAGE=/etc/letsencrypt/live/db1.example.com /etc/letsencrypt/renewal-hooks/deploy/ssld")
	assert.Contains(t, out, "ok: reloaded")
	assert.Equal(t, hooked, served(), out)

	deploy("hooked", "other")
	code, out := b.sh("systemctl reload ssld")
	assert.NotEqual(t, 0, code, "systemctl reload with a mismatched pair: %s", out)
	st := status()
	assert.Contains(t, st, `last reload failed: `)
	assert.Contains(t, st, `ssl_key "/etc/ssld/certs/server.key": private key does not match`)
	assert.Equal(t, "active", active())
	assert.Equal(t, hooked, served(), "the previous certificate stays served")

	code, out = b.sh("systemctl restart ssld")
	assert.NotEqual(t, 0, code, "systemctl restart with a mismatched pair: %s", out)
	assert.NotEqual(t, "active", active())
	assert.Contains(t, status(), `Status: "start refused by ssld check: `)
	_, err = opensslServedSerial(addr)
	assert.Error(t, err, "nothing serves after a refused restart")

	journal := b.must("journalctl -u ssld --no-pager")
	assert.Contains(t, journal, "ok: reloaded, ", "the good reload is in the journal")
	assert.Contains(t, journal, "private key does not match", "the refused reload is in the journal")

	// Repaired files: the unit's retried start brings it up. An upgrade
	// (here a reinstall) keeps the changed config and restarts the node.
	deploy("renewed", "renewed")
	testenv.Eventually(t, 20*time.Second, func() bool { return active() == "active" }, "the retried start after a repair")
	pid := strings.TrimSpace(b.must("systemctl show -p MainPID --value ssld"))
	out = b.must("cd /root/checkout && apt-get install -y --reinstall ./dist/ssld_*.deb 2>&1")
	assert.Equal(t, "active", active(), out)
	assert.NotEqual(t, pid, strings.TrimSpace(b.must("systemctl show -p MainPID --value ssld")), "restarted by the upgrade")
	assert.Contains(t, b.must("cat /etc/ssld/ssld.yaml"), "\nlisten: "+addr+"\n", "the changed conffile is kept")
	assert.Equal(t, renewed, served())

	// remove keeps /etc/ssld (the conffile and the certificates), purge
	// removes it.
	out = b.must("apt-get remove -y ssld 2>&1")
	assert.NotEqual(t, "active", active(), out)
	b.must("test ! -e /usr/bin/ssld && test -f /etc/ssld/ssld.yaml && test -f /etc/ssld/certs/server.key")
	assert.Contains(t, b.must("dpkg-query -W -f '${db:Status-Abbrev}' ssld"), "rc")
	out = b.must("apt-get purge -y ssld 2>&1")
	b.must("test ! -e /etc/ssld")
	b.must("test ! -e /etc/systemd/system/multi-user.target.wants/ssld.service && test ! -e /etc/systemd/system/ssld.service")
	code, _ = b.sh("dpkg-query -W ssld")
	assert.NotEqual(t, 0, code, "purged: dpkg knows no ssld: %s", out)
	t.Logf("TestPackageSystemd: %s after the packages were built (boot %s)", time.Since(started).Round(time.Second),
		booted.Sub(started).Round(time.Second))
}
