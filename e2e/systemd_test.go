package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
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

// unitDirectives reads deploy/systemd/ssld.service as key -> values.
func unitDirectives(t *testing.T) map[string][]string {
	f, err := os.Open(filepath.Join(repoRoot(t), "deploy/systemd/ssld.service"))
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, l)
		out[k] = append(out[k], v)
	}
	require.NoError(t, sc.Err())
	return out
}

// TestSystemdInstallAndUnit: deploy/systemd/install into a scratch root
// puts the binary where ExecStart looks, the unit, the ssld user in
// ssl-cert, and group read access to certbot's 0700 live/ and archive/;
// `systemd-analyze verify` is clean on it and `systemd-analyze security`
// rates the unit 3.0 or better.
func TestSystemdInstallAndUnit(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze")
	testenv.LookPath(t, "systemd-sysusers")
	u := unitDirectives(t)
	assert.Equal(t, []string{"notify"}, u["Type"])
	assert.Equal(t, []string{"ssld"}, u["User"])
	assert.Equal(t, []string{"ssl-cert"}, u["SupplementaryGroups"])
	require.Len(t, u["ExecStart"], 1)
	require.Len(t, u["ExecReload"], 1)
	execStart := strings.Fields(u["ExecStart"][0])
	assert.Equal(t, []string{"/usr/local/bin/ssld", "serve", "--config", "/etc/ssld/ssld.yaml"}, execStart)
	assert.Equal(t, "/usr/local/bin/ssld reload --config /etc/ssld/ssld.yaml", u["ExecReload"][0])
	assert.Equal(t, []string{"/usr/local/bin/ssld check --config /etc/ssld/ssld.yaml --allow-expired"}, u["ExecStartPre"],
		"the start check: no '-' prefix, so its failure fails the start")
	assert.Equal(t, []string{"exec"}, u["NotifyAccess"], "the start check's STATUS= is accepted, not only the main process's")
	assert.Equal(t, []string{"on-failure"}, u["Restart"])
	assert.Equal(t, []string{"5s"}, u["RestartSec"], "fewer than 5 starts in 10 s: a manual start is never refused by the start limit")

	root := t.TempDir()
	le := filepath.Join(root, "etc/letsencrypt")
	for _, d := range []string{"live", "archive"} {
		require.NoError(t, os.MkdirAll(filepath.Join(le, d, "db1"), 0o755))
		require.NoError(t, os.Chmod(filepath.Join(le, d), 0o700))
	}
	key := filepath.Join(le, "archive/db1/privkey1.pem")
	require.NoError(t, os.WriteFile(key, []byte("key"), 0o600))
	require.NoError(t, os.Symlink("../../archive/db1/privkey1.pem", filepath.Join(le, "live/db1/privkey.pem")))

	cmd := exec.Command(filepath.Join(repoRoot(t), "deploy/systemd/install"))
	cmd.Env = append(os.Environ(), "DESTDIR="+root)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	st, err := os.Stat(filepath.Join(root, execStart[0]))
	require.NoError(t, err, "ExecStart's binary after the install")
	assert.NotZero(t, st.Mode()&0o111)
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^ssld:x:\d+:\d+:`, string(passwd))
	group, err := os.ReadFile(filepath.Join(root, "etc/group"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^ssl-cert:x:(\d+):(.*)$`).FindStringSubmatch(string(group))
	require.NotNil(t, m, string(group))
	assert.Contains(t, strings.Split(m[2], ","), "ssld")
	certGID, _ := strconv.Atoi(m[1])
	for path, mode := range map[string]os.FileMode{filepath.Join(le, "live"): 0o750, filepath.Join(le, "archive"): 0o750, key: 0o640} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), path)
		assert.Equal(t, certGID, statGID(st), path)
	}

	// verify needs the system's own units in the scratch root.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755))
	require.NoError(t, exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/system")).Run())
	verify := func() (string, error) {
		out, err := exec.Command(analyze, "verify", "--root="+root, "--man=no", "ssld.service").CombinedOutput()
		return string(out), err
	}
	out2, err := verify()
	require.NoError(t, err, out2)
	assert.Empty(t, strings.TrimSpace(out2), "systemd-analyze verify")
	// The check can fail: a broken copy of the unit is reported.
	unitPath := filepath.Join(root, "etc/systemd/system/ssld.service")
	good, err := os.ReadFile(unitPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unitPath, []byte(strings.Replace(string(good), "Type=notify", "Type=notyfy", 1)), 0o644))
	out2, _ = verify()
	assert.Contains(t, out2, "notyfy")
	require.NoError(t, os.WriteFile(unitPath, good, 0o644))

	sec, err := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "ssld.service").CombinedOutput()
	require.NoError(t, err, string(sec))
	sm := regexp.MustCompile(`Overall exposure level for ssld.service: (\d+\.\d+)`).FindStringSubmatch(string(sec))
	require.NotNil(t, sm, string(sec))
	score, err := strconv.ParseFloat(sm[1], 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, score, 3.0, "systemd-analyze security")

	// docs/operations.md's second install line: a build from elsewhere,
	// with no Go on PATH, lands where ExecStart looks.
	line := docCommand(t, "SSLD_BINARY=/tmp/ssld deploy/systemd/install")
	root2 := t.TempDir()
	inst := exec.Command("sh", "-c", strings.Replace(line, "/tmp/ssld", ssldBinary(t), 1))
	inst.Dir = repoRoot(t)
	inst.Env = append(os.Environ(), "DESTDIR="+root2, "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "GO=/nonexistent/go")
	out3, err := inst.CombinedOutput()
	require.NoError(t, err, "%s\n%s", line, out3)
	built, err := os.ReadFile(ssldBinary(t))
	require.NoError(t, err)
	copied, err := os.ReadFile(filepath.Join(root2, execStart[0]))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(built, copied), "SSLD_BINARY is what is installed")

	// docs/operations.md's two check lines, as written, on the scratch
	// root: both exit 0 on the unit as shipped.
	for _, prefix := range []string{"systemd-analyze verify ", "systemd-analyze security "} {
		line := docCommand(t, prefix)
		line = strings.Replace(line, prefix, analyze+" "+strings.TrimPrefix(prefix, "systemd-analyze ")+"--root="+root+" ", 1)
		line = strings.ReplaceAll(line, "/etc/systemd/system/ssld.service", unitPath)
		out, err := exec.Command("sh", "-c", line).CombinedOutput()
		require.NoError(t, err, "%s\n%s", line, out)
	}
}

// TestSystemdExecReload: the unit's ExecReload= command line, run as the
// service would (over the socket as the current OS user, a unix_socket
// account), exits 0 on new files and 1 when the node refuses them, so
// `systemctl reload ssld` fails.
func TestSystemdExecReload(t *testing.T) {
	argv := strings.Fields(unitDirectives(t)["ExecReload"][0])
	tn, _ := unixSocketNode(t)
	bin := ssldBinary(t)
	run := func() (int, string) {
		args := append([]string{}, argv[1:]...)
		for i, a := range args {
			if a == "/etc/ssld/ssld.yaml" {
				args[i] = tn.Config
			}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SSLD_PASSWORD=")
		return exitCode(t, cmd)
	}
	okOut, failedOut := checkReloadCommand(t, tn, run)
	assert.True(t, strings.HasPrefix(okOut, "ok: reloaded, "), okOut)
	assert.True(t, strings.HasPrefix(failedOut, "failed: "), failedOut)
}

// TestSystemdExecStartPre: the unit's ExecStartPre= line, run on every
// state of checkCases with $NOTIFY_SOCKET set as systemd sets it: it fails
// (exit 1, so `systemctl start` fails) on every broken file, with the
// reason on stderr (the journal) and in one STATUS= datagram (the Status:
// line of `systemctl status`), and passes, sending nothing, on valid files
// and on a certificate that is only expired or not yet valid, on which
// ssld serve then starts degraded: the Unix socket answers and a reload of
// renewed files brings TLS up.
func TestSystemdExecStartPre(t *testing.T) {
	argv := strings.Fields(unitDirectives(t)["ExecStartPre"][0])
	require.Equal(t, "/usr/local/bin/ssld", argv[0])
	bin := worldBinary(t)
	for _, tc := range checkCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := checkCaseDir(t, tc)
			args := append([]string{}, argv[1:]...)
			for i, a := range args {
				if a == "/etc/ssld/ssld.yaml" {
					args[i] = cfg
				}
			}
			// systemd's notification socket, writable by nobody too.
			sock := filepath.Join(dir, "notify")
			conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, os.Chmod(sock, 0o777))
			t.Setenv("NOTIFY_SOCKET", sock)

			code, out, errOut := runCheckCase(t, tc, bin, args...)
			assert.Equal(t, tc.allowed, code, out+errOut)
			reason := strings.ReplaceAll(tc.reason, `"certs/`, `"`+dir+`/certs/`)
			// The check has exited: a datagram it sent is already queued.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			buf := make([]byte, 4096)
			n, err := conn.Read(buf)
			if code != 0 {
				assert.Contains(t, errOut, reason, "the reason, for the journal")
				require.NoError(t, err, "a refused start sends STATUS=")
				msg := string(buf[:n])
				assert.True(t, strings.HasPrefix(msg, "STATUS=start refused by ssld check: "), msg)
				assert.Contains(t, msg, reason)
				assert.NotContains(t, msg, "\n", "STATUS= is one line")
			} else {
				assert.Error(t, err, "nothing is sent when the start goes on: %q", buf[:n])
			}
			if !tc.leafOutside {
				return
			}
			// What the unit starts next: ssld serve, degraded, repaired
			// over its socket.
			me, err := user.Current()
			require.NoError(t, err)
			adminSock := filepath.Join(dir, "ssld.sock")
			require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nsocket: %s\nssl_cert: %s\nssl_key: %s\nssl_ca: %s\n"+
				"users:\n  - {name: %s, plugin: unix_socket, privileges: [SUPER]}\n",
				adminSock, devServerCert, devServerKey, devCACert, me.Username)), 0o644))
			code, out, errOut = runCheckCase(t, tc, bin, args...)
			require.Equal(t, 0, code, out+errOut)
			nd, err := node.Start(t.Context(), node.Options{Config: cfg}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err, "a node whose certificate is only outside its validity window starts")
			t.Cleanup(func() { nd.Shutdown(time.Second) })
			assert.False(t, nd.TLS().Current("client").Enabled(), "degraded: no certificate served")
			ca := pkitest.MustCA(t, "renewed CA")
			renewed := pkitest.MustIssue(t, ca, pki.DevServerOptions())
			writeDevFolder(t, dir, ca, renewed)
			cmd := exec.Command(bin, "reload", "--config", cfg)
			cmd.Env = append(os.Environ(), "SSLD_PASSWORD=")
			code, out = exitCode(t, cmd)
			require.Equal(t, 0, code, out)
			assert.Equal(t, serialOf(renewed.Cert), nd.TLS().Current("client").Serial(), "repaired over the socket, no restart")
		})
	}
}

// checkReloadCommand runs an operator's reload command line (run: its exit
// code and output) against tn twice: after a rotation it exits 0 and the
// new certificate is served; with a broken key it exits 1, names ssl_key,
// and the new certificate stays served. It returns both outputs for the
// caller's wording checks.
func checkReloadCommand(t *testing.T, tn *testNode, run func() (int, string)) (okOut, failedOut string) {
	t.Helper()
	serial := tn.Rotate()
	code, okOut := run()
	require.Equal(t, 0, code, okOut)
	assert.Contains(t, okOut, "ok: reloaded, ")
	assert.Equal(t, serial, tn.ServedSerial())

	require.NoError(t, os.WriteFile(filepath.Join(tn.Dir, devServerKey), []byte("garbage"), 0o600))
	code, failedOut = run()
	assert.Equal(t, 1, code, failedOut)
	assert.Contains(t, failedOut, "failed: ")
	assert.Contains(t, failedOut, "ssl_key")
	assert.Equal(t, serial, tn.ServedSerial())
	return okOut, failedOut
}

// TestSdNotify: with $NOTIFY_SOCKET set (as systemd does for Type=notify),
// ssld sends READY=1 with STATUS= naming the served serial once it serves,
// RELOADING=1 with MONOTONIC_USEC around each reload, and STOPPING=1.
func TestSdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "sdn")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		n, err := conn.Read(buf)
		require.NoError(t, err, "no sd_notify datagram")
		return string(buf[:n])
	}

	tn := newTestNode(t, "")
	msg := next()
	assert.True(t, strings.HasPrefix(msg, "READY=1\n"), msg)
	assert.Contains(t, msg, "STATUS=serving serial "+tn.ServedSerial()+", not_after ")

	t.Setenv("SSLD_PASSWORD", adminPW)
	serial := tn.Rotate()
	code, out, errOut := runCLI(t, "reload", "--socket", tn.Socket)
	require.Equal(t, 0, code, out+errOut)
	assert.Regexp(t, `^RELOADING=1\nMONOTONIC_USEC=\d+$`, next())
	msg = next()
	assert.True(t, strings.HasPrefix(msg, "READY=1\n"), msg)
	assert.Contains(t, msg, "STATUS=serving serial "+serial+", not_after ")
	assert.Contains(t, msg, "generation 2")

	require.NoError(t, os.WriteFile(filepath.Join(tn.Dir, "certs/server.crt"), []byte("junk"), 0o644))
	code, _, _ = runCLI(t, "reload", "--socket", tn.Socket)
	require.Equal(t, 1, code)
	assert.Regexp(t, `^RELOADING=1\n`, next())
	msg = next()
	assert.Contains(t, msg, "STATUS=serving serial "+serial+", ")
	assert.Contains(t, msg, "; last reload failed: ")
	assert.NotContains(t, strings.TrimSuffix(msg[strings.Index(msg, "STATUS="):], "\n"), "\n", "STATUS= is one line")

	tn.N.Shutdown(time.Second)
	assert.Equal(t, "STOPPING=1", next())
}

// TestSystemdExampleConfig: the complete /etc/ssld/ssld.yaml of
// docs/operations.md ("systemd"), its paths pointed at a scratch certbot
// layout (the private key 0640, as deploy/systemd/install leaves it) and
// its ssld account at the test's OS user: the doc's `runuser ... ssld
// check` line passes (with the group-readable key warning the doc
// describes), the node starts, and the unit's ExecReload= line reloads it.
func TestSystemdExampleConfig(t *testing.T) {
	me, err := user.Current()
	require.NoError(t, err)
	var conf string
	for _, b := range docBlocks(t, "docs/operations.md", "yaml") {
		if strings.Contains(b, "/etc/letsencrypt/live/db1.example.com/fullchain.pem") {
			conf = b
		}
	}
	require.NotEmpty(t, conf, "docs/operations.md: the systemd config")

	dir, err := os.MkdirTemp("", "ssld-unitcfg")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	le := filepath.Join(dir, "letsencrypt")
	archive := filepath.Join(le, "archive/db1.example.com")
	live := filepath.Join(le, "live/db1.example.com")
	require.NoError(t, os.MkdirAll(archive, 0o750))
	require.NoError(t, os.MkdirAll(live, 0o750))
	ca := pkitest.MustCA(t, "unit CA")
	issue := func(gen string) string {
		leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
		require.NoError(t, os.WriteFile(filepath.Join(archive, "fullchain"+gen+".pem"), leaf.CertPEM, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(archive, "privkey"+gen+".pem"), leaf.KeyPEM, 0o640))
		for _, f := range []string{"fullchain", "privkey"} {
			link := filepath.Join(live, f+".pem")
			_ = os.Remove(link)
			require.NoError(t, os.Symlink("../../archive/db1.example.com/"+f+gen+".pem", link))
		}
		return serialOf(leaf.Cert)
	}
	first := issue("1")

	conf = strings.NewReplacer("/etc/letsencrypt", le, "/run/ssld", dir,
		"0.0.0.0:3307", "127.0.0.1:0", "127.0.0.1:9180", "127.0.0.1:0",
		"{name: ssld,", "{name: "+me.Username+",", "{name: root,", "{name: certbot-hook,").Replace(conf)
	cfgPath := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(conf), 0o640))

	// The doc's check line: as the service user when the test can switch
	// users (root), else as the test's own user.
	bin := ssldBinary(t)
	line := docCommand(t, "runuser -u ssld -- ssld check ")
	line = strings.Replace(line, "/etc/ssld/ssld.yaml", cfgPath, 1)
	if os.Geteuid() == 0 {
		line = strings.Replace(strings.Replace(line, "-u ssld", "-u "+me.Username, 1), "-- ssld ", "-- "+bin+" ", 1)
	} else {
		line = bin + strings.TrimPrefix(line, "runuser -u ssld -- ssld")
	}
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	require.NoError(t, err, "%s\n%s", line, out)
	assert.Contains(t, string(out), ": ok")
	assert.NotContains(t, string(out), "unknown key")
	assert.NotContains(t, string(out), "readable by others", "root:ssl-cert 0640 is the layout the unit reads keys with: no warning")

	n, err := node.Start(t.Context(), node.Options{Config: cfgPath}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { n.Shutdown(time.Second) })
	require.Equal(t, first, n.TLS().Current("client").Serial())

	renewed := issue("2")
	argv := strings.Fields(unitDirectives(t)["ExecReload"][0])
	for i, a := range argv {
		if a == "/etc/ssld/ssld.yaml" {
			argv[i] = cfgPath
		}
	}
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Env = append(os.Environ(), "SSLD_PASSWORD=")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.HasPrefix(string(out), "ok: reloaded, "), string(out))
	assert.Equal(t, renewed, n.TLS().Current("client").Serial())
}
