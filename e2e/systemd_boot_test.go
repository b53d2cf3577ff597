package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// bootSuite is the Debian release booted to run the unit: its systemd (252)
// is the one the unit is written for.
const bootSuite = "bookworm"

// bootCacheDir is where the Debian tree is kept between runs, outside the
// repository: $XDG_CACHE_HOME/ssld-test, else /var/cache/ssld-test.
func bootCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ssld-test")
	}
	return "/var/cache/ssld-test"
}

// debianMirror is the first mirror apt uses for bootSuite itself (not
// -updates or -security), from /etc/apt/sources.list and the .list and
// deb822 .sources files of /etc/apt/sources.list.d.
func debianMirror(t *testing.T) string {
	t.Helper()
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if strings.HasSuffix(f, ".sources") {
			for _, stanza := range strings.Split(string(b), "\n\n") {
				fields := map[string]string{}
				for _, l := range strings.Split(stanza, "\n") {
					if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") {
						fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
					}
				}
				if strings.Contains(" "+fields["Types"]+" ", " deb ") && strings.Contains(" "+fields["Suites"]+" ", " "+bootSuite+" ") {
					if uris := strings.Fields(fields["URIs"]); len(uris) > 0 {
						return uris[0]
					}
				}
			}
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			w := strings.Fields(sc.Text())
			if len(w) > 0 && w[0] == "deb" {
				w = w[1:]
				if len(w) > 0 && strings.HasPrefix(w[0], "[") {
					for len(w) > 0 && !strings.HasSuffix(w[0], "]") {
						w = w[1:]
					}
					w = w[1:]
				}
				if len(w) >= 2 && w[1] == bootSuite {
					return w[0]
				}
			}
		}
	}
	require.FailNow(t, "no apt source for "+bootSuite+" in /etc/apt/sources.list(.d): debootstrap needs a mirror")
	return ""
}

// bootTree returns a Debian tree with systemd, built once by debootstrap
// into bootCacheDir and reused. Without a cached tree the test is skipped,
// unless CI=true, which builds it (about 3 minutes and 400 MB); under CI the
// tools are required.
func bootTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(bootCacheDir(), "debian-"+bootSuite+"-systemd")
	done := filepath.Join(dir, ".ssld-tree-complete")
	if _, err := os.Stat(done); err != nil && !testenv.CI() {
		t.Skipf("no Debian tree at %s: CI=true builds it with debootstrap (about 3 minutes), then it is reused", dir)
	}
	if os.Geteuid() != 0 {
		if testenv.CI() {
			t.Fatal("booting a Debian tree with systemd-nspawn needs root under CI=true")
		}
		t.Skip("booting a Debian tree with systemd-nspawn needs root")
	}
	testenv.LookPath(t, "systemd-nspawn")
	testenv.LookPath(t, "nsenter")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	debootstrap := testenv.LookPath(t, "debootstrap")
	require.NoError(t, os.MkdirAll(bootCacheDir(), 0o755))
	// One builder at a time (parallel test binaries share the cache).
	lock, err := os.OpenFile(filepath.Join(bootCacheDir(), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	partial := dir + ".partial"
	require.NoError(t, os.RemoveAll(partial))
	mirror := debianMirror(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, debootstrap, "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
		bootSuite, partial, mirror).CombinedOutput()
	require.NoError(t, err, "debootstrap %s from %s: %s", bootSuite, mirror, tail(string(out), 4000))
	require.NoError(t, os.WriteFile(filepath.Join(partial, ".ssld-tree-complete"), []byte(mirror+"\n"), 0o644))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(partial, dir))
	t.Logf("built %s from %s in %s", dir, mirror, time.Since(start).Round(time.Second))
	return dir
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// bootedTree is a Debian tree booted with systemd-nspawn: its systemd is
// PID 1 of a container that shares the host's network.
type bootedTree struct {
	t    *testing.T
	pid1 int
}

// bootContainer boots tree with systemd-nspawn (writes go to a tmpfs
// overlay, the cached tree stays as built), binds are host:container
// folders mounted read-only, and waits for systemd to finish booting. The
// container is powered off at the end of the test.
func bootContainer(t *testing.T, tree string, binds ...string) *bootedTree {
	t.Helper()
	args := []string{"--register=no", "--keep-unit", "--quiet", "-D", tree, "--volatile=overlay",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no"}
	for _, b := range binds {
		args = append(args, "--bind-ro="+b)
	}
	args = append(args, "-b")
	logs := &lockedBuffer{}
	cmd := exec.Command("systemd-nspawn", args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b := &bootedTree{t: t}
	t.Cleanup(func() {
		if b.pid1 > 0 {
			// SIGRTMIN+4: systemd powers off.
			_ = syscall.Kill(b.pid1, syscall.Signal(38))
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for b.pid1 == 0 {
		select {
		case err := <-exited:
			require.FailNow(t, "systemd-nspawn exited", "%v: %s", err, logs)
		default:
		}
		require.True(t, time.Now().Before(deadline), "no PID 1 under systemd-nspawn: %s", logs)
		b.pid1 = containerInit(cmd.Process.Pid)
		if b.pid1 == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var state string
	for ctx.Err() == nil {
		_, state = b.shCtx(ctx, "systemctl is-system-running --wait")
		state = strings.TrimSpace(state)
		if state == "running" || state == "degraded" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Contains(t, []string{"running", "degraded"}, state, "the container's systemd did not finish booting: %s", logs)
	return b
}

// containerInit finds the container's PID 1: a process whose pid in its own
// namespace is 1 and that descends from the systemd-nspawn process, or,
// should it have been reparented, the only one that systemd-nspawn started
// (container=systemd-nspawn in its environment).
func containerInit(nspawn int) int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	var inits []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				parent[pid], _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				if f := strings.Fields(v); len(f) > 1 && f[len(f)-1] == "1" {
					inits = append(inits, pid)
				}
			}
		}
	}
	var started []int
	for _, pid := range inits {
		for p, n := parent[pid], 0; p > 1 && n < 10; p, n = parent[p], n+1 {
			if p == nspawn {
				return pid
			}
		}
		env, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == "container=systemd-nspawn" {
				started = append(started, pid)
			}
		}
	}
	if len(started) == 1 {
		return started[0]
	}
	return 0
}

// sh runs script with /bin/sh inside the container (nsenter into every
// namespace of its PID 1) and returns the exit status and the output.
func (b *bootedTree) sh(script string) (int, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code, out := b.shCtx(ctx, script)
	require.NoError(b.t, ctx.Err(), "timed out: %s\n%s", script, out)
	return code, out
}

func (b *bootedTree) shCtx(ctx context.Context, script string) (int, string) {
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(b.pid1), "-a", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error() + ": " + string(out)
	}
	return 0, string(out)
}

// must runs script in the container and fails the test unless it exits 0.
func (b *bootedTree) must(script string) string {
	b.t.Helper()
	code, out := b.sh(script)
	require.Equal(b.t, 0, code, "%s\n%s", script, out)
	return out
}

// TestSystemdBoot runs deploy/systemd/ssld.service under a real systemd:
// Debian bookworm's, booted with systemd-nspawn in a tree debootstrap
// built (cached outside the repository). deploy/systemd/install installs
// the test's binary, the unit and the sysusers entry; docs/operations.md's
// config (ports and paths pointed at the test's) names certificates from a
// test CA. Then, as an operator would:
//   - `systemctl enable --now ssld` starts it and the certificate is served;
//   - `systemctl reload ssld` of renewed files exits 0 and the new serial is
//     served; of a broken key it exits non-zero, `systemctl status` shows the
//     reason and the previous serial is still served;
//   - `systemctl restart ssld` with a key that does not match, and
//     `systemctl start ssld` with a key the service user cannot read, fail
//     with the reason in `systemctl status`, the unit not active; repaired
//     files bring it up on the unit's next retry;
//   - with an expired certificate and nothing else wrong it starts, degraded,
//     and `systemctl reload ssld` of renewed files brings TLS up.
//
// stagePKI makes a folder a booted container sees (world-readable, outside
// the tree) and a CA named after name; stage writes a pair issued by it
// there as NAME.crt and NAME.key and returns the certificate's serial as
// openssl prints it.
func stagePKI(t *testing.T, name string) (dir string, ca *pki.CA, stage func(name string, l *pki.Leaf) string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssld-"+name+"-pki")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	stage = func(name string, l *pki.Leaf) string {
		crt := filepath.Join(dir, name+".crt")
		require.NoError(t, os.WriteFile(crt, l.CertPEM, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".key"), l.KeyPEM, 0o644))
		return fileSerial(t, crt)
	}
	return dir, pkitest.MustCA(t, name+" CA"), stage
}

func TestSystemdBoot(t *testing.T) {
	tree := bootTree(t)
	testenv.LookPath(t, "openssl")
	started := time.Now()

	pkiDir, ca, stage := stagePKI(t, "boot")
	binDir := filepath.Dir(worldBinary(t))
	now := time.Now()
	first := stage("first", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	renewed := stage("renewed", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	repaired := stage("repaired", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	stage("other", pkitest.MustIssue(t, ca, pki.DevServerOptions()))
	o := pki.DevServerOptions()
	o.NotBefore, o.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour)
	stage("expired", pkitest.MustIssue(t, ca, o))

	b := bootContainer(t, tree, repoRoot(t)+":/src/ssld", binDir+":/src/bin", pkiDir+":/srv/pki")
	t.Logf("booted in %s", time.Since(started).Round(time.Second))

	// Install as docs/operations.md says (a build from elsewhere).
	b.must("SSLD_BINARY=/src/bin/ssld /src/ssld/deploy/systemd/install")
	// deploy puts a staged pair in place the way certbot does: new files,
	// then a rename; the key root:ssld 0640 (mode overrides it).
	deploy := func(crt, key, mode string) {
		t.Helper()
		b.must(fmt.Sprintf(`set -e
mkdir -p /etc/ssld/certs
install -m 0644 /srv/pki/%[1]s.crt /etc/ssld/certs/.server.crt && mv /etc/ssld/certs/.server.crt /etc/ssld/certs/server.crt
install -o root -g ssld -m %[3]s /srv/pki/%[2]s.key /etc/ssld/certs/.server.key && mv /etc/ssld/certs/.server.key /etc/ssld/certs/server.key`, crt, key, mode))
	}
	deploy("first", "first", "0640")

	var conf string
	for _, blk := range docBlocks(t, "docs/operations.md", "yaml") {
		if strings.Contains(blk, "/etc/letsencrypt/live/db1.example.com/fullchain.pem") {
			conf = blk
		}
	}
	require.NotEmpty(t, conf, "docs/operations.md: the systemd config")
	addr, metrics := freeAddr(t), freeAddr(t)
	conf = strings.NewReplacer("0.0.0.0:3307", addr, "127.0.0.1:9180", metrics,
		"/etc/letsencrypt/live/db1.example.com/fullchain.pem", "/etc/ssld/certs/server.crt",
		"/etc/letsencrypt/live/db1.example.com/privkey.pem", "/etc/ssld/certs/server.key").Replace(conf)
	require.NoError(t, os.WriteFile(filepath.Join(pkiDir, "ssld.yaml"), []byte(conf), 0o644))
	b.must("install -o root -g ssld -m 0640 /srv/pki/ssld.yaml /etc/ssld/ssld.yaml")

	served := func() string {
		t.Helper()
		s, err := opensslServedSerial(addr)
		require.NoError(t, err)
		return s
	}
	status := func() string { _, out := b.sh("systemctl status --no-pager --lines=20 ssld"); return out }
	active := func() string { _, out := b.sh("systemctl is-active ssld"); return strings.TrimSpace(out) }

	// enable --now: started, serving.
	out := b.must("systemctl enable --now ssld")
	assert.Equal(t, "active", active(), out)
	assert.Equal(t, first, served())
	assert.Contains(t, status(), "serving serial ")

	// reload with renewed files: rc 0, the new serial served.
	deploy("renewed", "renewed", "0640")
	out = b.must("systemctl reload ssld")
	assert.Equal(t, renewed, served(), out)

	// reload with a key that does not match: rc != 0, the reason in
	// status, the renewed certificate still served.
	deploy("renewed", "other", "0640")
	code, out := b.sh("systemctl reload ssld")
	assert.NotEqual(t, 0, code, "systemctl reload with a mismatched pair: %s", out)
	st := status()
	assert.Contains(t, st, "last reload failed: ")
	assert.Contains(t, st, `ssl_key "/etc/ssld/certs/server.key": private key does not match`)
	assert.Equal(t, "active", active())
	assert.Equal(t, renewed, served(), "the previous certificate stays served")

	// restart with that mismatched pair: the start check refuses it.
	code, out = b.sh("systemctl restart ssld")
	assert.NotEqual(t, 0, code, "systemctl restart with a mismatched pair: %s", out)
	assert.NotEqual(t, "active", active())
	st = status()
	assert.Regexp(t, `Status: "start refused by ssld check: channels? [a-z, ]+: ssl_key "/etc/ssld/certs/server.key": private key does not match`, st,
		"the reason in systemctl status")
	_, err := opensslServedSerial(addr)
	assert.Error(t, err, "nothing serves after a refused restart")

	// start (from stopped) with a key the service user cannot read (root
	// 0600): refused.
	deploy("renewed", "renewed", "0600")
	b.must("systemctl stop ssld")
	code, out = b.sh("systemctl start ssld")
	assert.NotEqual(t, 0, code, "systemctl start with an unreadable key: %s", out)
	assert.NotEqual(t, "active", active())
	assert.Regexp(t, `Status: "start refused by ssld check: .*ssl_key "/etc/ssld/certs/server.key": permission denied`, status())

	// Repaired files bring the node up on their own (the unit retries the
	// start every 5 s).
	deploy("renewed", "renewed", "0640")
	testenv.Eventually(t, 20*time.Second, func() bool { return active() == "active" }, "the retried start after a repair")
	assert.Equal(t, renewed, served())

	// restart with an expired certificate and nothing else wrong: it starts
	// degraded; a reload of renewed files brings TLS up.
	deploy("expired", "expired", "0640")
	out = b.must("systemctl restart ssld")
	assert.Equal(t, "active", active(), out)
	st = status()
	assert.Contains(t, st, "degraded")
	assert.Contains(t, st, "certificate expired at ")
	deploy("repaired", "repaired", "0640")
	out = b.must("systemctl reload ssld")
	assert.Equal(t, repaired, served(), out)

	journal := b.must("journalctl -u ssld --no-pager")
	assert.Contains(t, journal, "ok: reloaded, ", "the reloads are in the journal")
	t.Logf("TestSystemdBoot: %s after the tree was ready", time.Since(started).Round(time.Second))
}
