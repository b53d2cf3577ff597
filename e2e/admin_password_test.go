package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			code, out, errOut := runCLI(t, append([]string{cmd, "--socket", tn.Socket, "-u", "admin"}, pw...)...)
			assert.Equal(t, 0, code, "%v: %s%s", pw, out, errOut)
			assert.Contains(t, errOut, "ssld "+cmd+": "+warning, pw)
			assert.NotContains(t, out+errOut, adminPW)
		}

		for _, flag := range []string{"-p", "--password"} {
			code, out, errOut := runCLI(t, cmd, "--socket", tn.Socket, "-u", "admin", flag, adminPW)
			assert.Equal(t, 2, code, out+errOut)
			assert.Contains(t, errOut, "takes no arguments (1 given, not shown: one may be a password)")
			assert.NotContains(t, out+errOut, adminPW)
		}

		// No warning when the password comes from the environment.
		t.Setenv("SSLD_PASSWORD", adminPW)
		code, out, errOut := runCLI(t, cmd, "--socket", tn.Socket, "-u", "admin")
		assert.Equal(t, 0, code, out+errOut)
		assert.NotContains(t, errOut, "Warning")
		t.Setenv("SSLD_PASSWORD", "")

		// -p alone without any terminal: a clear usage error.
		c := exec.Command(ssldBinary(t), cmd, "--socket", tn.Socket, "-u", "admin", "-p")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
		var eb bytes.Buffer
		c.Stderr = &eb
		var ee *exec.ExitError
		require.True(t, errors.As(c.Run(), &ee), eb.String())
		assert.Equal(t, 2, ee.ExitCode())
		assert.Contains(t, eb.String(), "-p without a value prompts on a terminal")

		// -p on a terminal (script(1) gives the command a pty): prompt,
		// echo off, the login works.
		tty, err := typeAtPrompt(t, ssldBinary(t)+" "+cmd+" --socket "+tn.Socket+" -u admin -p", adminPW)
		assert.NoError(t, err, tty)
		assert.Contains(t, tty, map[string]string{"reload": "ok: ", "status": "serial:"}[cmd])
		assert.NotContains(t, tty, adminPW, "no echo")
		assert.NotContains(t, tty, "Warning")
	}
}
