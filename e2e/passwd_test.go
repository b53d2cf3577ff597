package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// passwdCLI runs `ssld passwd args...` in-process with stdin.
func passwdCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runIn(append([]string{"passwd"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestPasswdHashLogsIn: the hashes `ssld passwd` prints (both plugins, from
// stdin) are accepted in users: and log in with the password, over the
// Unix socket and over TCP+TLS; a wrong password does not.
func TestPasswdHashLogsIn(t *testing.T) {
	const pw = "s3cret passw0rd"
	code, native, errOut := passwdCLI(t, pw+"\n")
	require.Equal(t, 0, code, errOut)
	native = strings.TrimSpace(native)
	assert.Regexp(t, `^\*[0-9A-F]{40}$`, native)

	code, sha2, errOut := passwdCLI(t, pw, "--plugin", "caching_sha2_password")
	require.Equal(t, 0, code, errOut)
	sha2 = strings.TrimSpace(sha2)
	assert.Regexp(t, `^\$A\$005\$.{20}[./0-9A-Za-z]{43}$`, sha2)
	_, again, _ := passwdCLI(t, pw, "--plugin", "caching_sha2_password")
	assert.NotEqual(t, sha2, strings.TrimSpace(again), "a new salt each time")

	tn := newTestNode(t, `  - name: hashed
    password_hash: "`+native+`"
    privileges: [SUPER]
  - name: hashed2
    password_hash: '`+sha2+`'
    plugin: caching_sha2_password
    privileges: [SUPER]
`)
	tlsName := tn.TLSName(nil)
	for _, user := range []string{"hashed", "hashed2"} {
		for _, via := range []string{"socket", "tcp+tls"} {
			open := func(p string) error {
				if via == "socket" {
					return tn.SocketDB(user, p).Ping()
				}
				db := tn.OpenDB(user, p, tlsName)
				defer db.Close()
				return db.Ping()
			}
			assert.NoError(t, open(pw), "%s over %s", user, via)
			me := sqlErr(t, open(pw+"x"))
			assert.Equal(t, uint16(1045), me.Number, "%s over %s", user, via)
		}
	}

	// Usage errors exit 2 and never print a hash.
	for _, tc := range []struct {
		stdin string
		args  []string
	}{{"", nil}, {"\n", nil}, {pw, []string{"--plugin", "sha256_password"}}, {pw, []string{"extra"}}} {
		code, out, _ := passwdCLI(t, tc.stdin, tc.args...)
		assert.Equal(t, 2, code, "%q %v", tc.stdin, tc.args)
		assert.Empty(t, out)
	}
	// An unknown plugin is named before any password is read.
	code, out, errOut := passwdCLI(t, "", "--plugin", "sha256_password")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `--plugin "sha256_password"`)
}

// TestPasswdTerminalNoEcho: from a terminal (a pty made by script(1)) the
// password is asked twice and never echoed. Each answer is typed only after
// its prompt, as a person would, so an echo would show in the output.
func TestPasswdTerminalNoEcho(t *testing.T) {
	script := testenv.LookPath(t, "script")
	bin := ssldBinary(t)
	const pw = "tty-secret-42"
	cmd := exec.Command(script, "-qec", bin+" passwd", "/dev/null")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.NoError(t, r.SetReadDeadline(time.Now().Add(30*time.Second)))
	var seen bytes.Buffer
	waitFor := func(s string) {
		t.Helper()
		buf := make([]byte, 256)
		for !strings.Contains(seen.String(), s) {
			n, err := r.Read(buf)
			seen.Write(buf[:n])
			require.NoError(t, err, "waiting for %q, got %q", s, seen.String())
		}
	}
	waitFor("Password: ")
	_, err = io.WriteString(stdin, pw+"\n")
	require.NoError(t, err)
	waitFor("Again: ")
	_, err = io.WriteString(stdin, pw+"\n")
	require.NoError(t, err)
	stdin.Close()
	rest, _ := io.ReadAll(r)
	seen.Write(rest)
	require.NoError(t, cmd.Wait(), seen.String())
	out := seen.String()
	assert.NotContains(t, out, pw, "echoed")
	assert.Regexp(t, regexp.MustCompile(`\*[0-9A-F]{40}`), out)
	_, want, _ := passwdCLI(t, pw)
	assert.Contains(t, out, strings.TrimSpace(want))
}
