package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestAdminPasswordOnCommandLine: `ssld reload` and `ssld status` take
// the password as mysql does: -pSECRET or --password=SECRET work with a
// warning on stderr (ps and /proc show argv to every user); `-p SECRET`
// (a separate word, which mysql takes for a database name) is refused
// without printing the word; -p alone prompts on the terminal with echo
// off, or says there is none. Before, -pSECRET failed with an error that
// quoted the password as unknown shorthand flags.
func TestAdminPasswordOnCommandLine(t *testing.T) {
	tn := newTestNode(t, "")
	t.Setenv("SSLD_PASSWORD", "")
	warning := "Warning: a password on the command line can be read by other users (ps, /proc); use -p to be prompted or SSLD_PASSWORD"

	for _, cmd := range []string{"reload", "status"} {
		for _, pw := range [][]string{{"-p" + adminPW}, {"--password=" + adminPW}, {"-p=" + adminPW}} {
			code, out, errOut := runCLI(t, append([]string{cmd, "--socket", tn.socket, "-u", "admin"}, pw...)...)
			assert.Equal(t, 0, code, "%v: %s%s", pw, out, errOut)
			assert.Contains(t, errOut, "ssld "+cmd+": "+warning, pw)
			assert.NotContains(t, out+errOut, adminPW)
		}

		for _, flag := range []string{"-p", "--password"} {
			code, out, errOut := runCLI(t, cmd, "--socket", tn.socket, "-u", "admin", flag, adminPW)
			assert.Equal(t, 2, code, out+errOut)
			assert.Contains(t, errOut, "takes no arguments (1 given, not shown: one may be a password)")
			assert.NotContains(t, out+errOut, adminPW)
		}

		// No warning when the password comes from the environment.
		t.Setenv("SSLD_PASSWORD", adminPW)
		code, out, errOut := runCLI(t, cmd, "--socket", tn.socket, "-u", "admin")
		assert.Equal(t, 0, code, out+errOut)
		assert.NotContains(t, errOut, "Warning")
		t.Setenv("SSLD_PASSWORD", "")

		// -p alone without any terminal: a clear usage error.
		c := exec.Command(ssldBinary(t), cmd, "--socket", tn.socket, "-u", "admin", "-p")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		var eb bytes.Buffer
		c.Stderr = &eb
		var ee *exec.ExitError
		require.True(t, errors.As(c.Run(), &ee), eb.String())
		assert.Equal(t, 2, ee.ExitCode())
		assert.Contains(t, eb.String(), "-p without a value prompts on a terminal")

		// -p on a terminal (script(1) gives the command a pty): prompt,
		// echo off, the login works.
		script := testenv.LookPath(t, "script")
		line := ssldBinary(t) + " " + cmd + " --socket " + tn.socket + " -u admin -p"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sc := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
		stdin, err := sc.StdinPipe()
		require.NoError(t, err)
		var tty lockedBuffer
		sc.Stdout, sc.Stderr = &tty, &tty
		require.NoError(t, sc.Start())
		testenv.Eventually(t, 20*time.Second, func() bool { return strings.Contains(tty.String(), "Enter password:") },
			"no password prompt: %s", &tty)
		_, err = io.WriteString(stdin, adminPW+"\n")
		require.NoError(t, err)
		assert.NoError(t, sc.Wait(), tty.String())
		cancel()
		assert.Contains(t, tty.String(), map[string]string{"reload": "ok: ", "status": "serial:"}[cmd])
		assert.NotContains(t, tty.String(), adminPW, "no echo")
		assert.NotContains(t, tty.String(), "Warning")
	}
}
