package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryLinksNoTestCode: the ssld binary carries no test code. Test
// helpers live in packages only tests import (internal/pkitest,
// internal/testenv); `go tool nm` finds no symbol of package testing.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "tool", "nm", ssldBinary(t)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[len(f)-1], "testing.") {
			found = append(found, f[len(f)-1])
		}
	}
	assert.Empty(t, found, "symbols of package testing in the ssld binary")
	assert.Contains(t, string(out), "main.main", "nm read the binary")
}

// exitCode runs cmd and returns its exit status and combined output; an
// error other than a non-zero exit (the program did not start) fails t.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	return exitStatus(t, err, string(out)), string(out)
}

// exitStatus is the exit code of a command that ended with err (from Run,
// Output or Wait): 0, or the code it exited with. Any other error (it did
// not start, its output was lost) fails t with what.
func exitStatus(t testing.TB, err error, what string) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err, what)
	return 0
}
