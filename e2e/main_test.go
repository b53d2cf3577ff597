package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/node"
)

// TestUsageExitCodes: cobra's own errors (unknown command, unknown flag, a
// flag without its value, extra arguments) exit 2; an error that merely
// mentions a flag, such as a missing config file named flag.yaml, exits 1.
func TestUsageExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "flag.yaml")
	cases := []struct {
		name     string
		args     []string
		expected int
	}{
		{"unknown command", []string{"bogus"}, 2},
		{"unknown flag", []string{"serve", "--bogus"}, 2},
		{"flag without value", []string{"serve", "--config"}, 2},
		{"extra argument", []string{"serve", "extra"}, 2},
		{"extra argument to a nested command", []string{"cluster", "status", "extra"}, 2},
		{"missing config file named flag", []string{"serve", "--config", missing}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			assert.Equal(t, tc.expected, code, out+errOut)
			assert.Contains(t, errOut, "ssld:")
		})
	}
}

// TestLogSettings: log_level and log_format in the config file decide the
// daemon's log unless --log-level / --log-format are given; a bad value is
// an error naming the setting.
func TestLogSettings(t *testing.T) {
	tn := newTestNode(t, "")
	cases := []struct {
		name          string
		file          string // appended to the node's config
		level, format string // the flags
		expectJSON    bool
		expectInfo    bool
		expectedErr   string
	}{
		{name: "defaults", expectInfo: true},
		{name: "json from the file", file: "log_format: json\n", expectJSON: true, expectInfo: true},
		{name: "warn from the file", file: "log_level: warn\n"},
		{name: "flags win", file: "log_level: warn\nlog_format: json\n", level: "info", format: "text", expectInfo: true},
		{name: "bad level", file: "log_level: loud\n", expectedErr: `log_level "loud"`},
		{name: "bad format", file: "log_format: xml\n", expectedErr: `log_format "xml"`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(tn.Dir, fmt.Sprintf("log%d.yaml", i))
			body := strings.Replace(configYAML(tc.file), "socket: ssld.sock", fmt.Sprintf("socket: log%d.sock", i), 1)
			require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
			var buf lockedBuffer
			n, err := node.Start(context.Background(), node.Options{Config: cfg, LogOut: &buf, LogLevel: tc.level, LogFormat: tc.format}, nil)
			if tc.expectedErr != "" {
				require.ErrorContains(t, err, tc.expectedErr)
				return
			}
			require.NoError(t, err)
			n.Shutdown(time.Second)
			out := buf.String()
			assert.Equal(t, tc.expectJSON, strings.HasPrefix(out, "{"), out)
			assert.Equal(t, tc.expectInfo, strings.Contains(out, "INFO"), out)
		})
	}
}

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
