package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
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

// runCLI runs the CLI in-process with args and returns its exit status,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}
