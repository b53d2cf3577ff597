package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestSyscallsPerLogin runs scripts/syscalls (the docs/performance.md
// measurement) for 30 logins: it must work, and every response must leave in
// one write, which keeps the write family under 7.5 calls per login (about
// 6.5 measured; 8.5 when vitess wrote header and payload apart).
func TestSyscallsPerLogin(t *testing.T) {
	testenv.LookPath(t, "strace")
	testenv.LookPath(t, "mysql")
	script, err := filepath.Abs("../scripts/syscalls")
	require.NoError(t, err)
	out, err := exec.Command(script, ssldBinary(t), "30").CombinedOutput()
	require.NoError(t, err, string(out))
	m := regexp.MustCompile(`syscalls per login: ([0-9.]+) total, ([0-9.]+) write family, ([0-9.]+) read family`).FindStringSubmatch(string(out))
	require.NotNil(t, m, string(out))
	writes, err := strconv.ParseFloat(m[2], 64)
	require.NoError(t, err)
	t.Log(m[0])
	assert.Less(t, writes, 7.5, "write calls per login")
}
