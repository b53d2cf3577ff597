package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHostileClusterPasswordWord: `ssld cluster reload|status ... -p
// SECRET` (two words: the password is not attached to -p, so -p prompts
// and SECRET is a stray argument) is refused with exit code 2 and an
// error that counts the arguments without printing them, as `ssld
// reload` does, before any node is dialled. Before: cobra's `unknown
// command "SECRET" for "ssld cluster reload"` printed the password.
func TestHostileClusterPasswordWord(t *testing.T) {
	const secret = "Sup3r-Secret-pw"
	for _, sub := range []string{"reload", "status"} {
		for _, flag := range []string{"-p", "--password"} {
			code, out, errOut := runCLI(t, "cluster", sub, "--master", "127.0.0.1:1", "--user", "admin", flag, secret)
			assert.Equal(t, 2, code, "%s %s: %s%s", sub, flag, out, errOut)
			assert.Contains(t, errOut, "takes no arguments (1 given, not shown: one may be a password)", sub)
			assert.NotContains(t, out+errOut, secret, "%s %s", sub, flag)
		}
		// Two stray words after the flags: counted, not shown.
		code, out, errOut := runCLI(t, "cluster", sub, "--master", "127.0.0.1:1", "-u", "admin", "-p", secret, secret+"2")
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, "takes no arguments (2 given")
		assert.NotContains(t, out+errOut, secret)
	}
}
