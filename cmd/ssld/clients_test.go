package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// repoRoot is the module root, from this file's location.
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestClients runs the clients people use for real against a node over TLS:
// each connects with certificate verification, runs SSL_RELOAD, and reads
// the served serial from SHOW VARIABLES. Under CI=true none may skip.
func TestClients(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		name string
		cmd  func(t *testing.T) *exec.Cmd
	}{
		{"pymysql", func(t *testing.T) *exec.Cmd {
			py := "/usr/bin/python3" // Debian's python3-pymysql lives there
			if _, err := os.Stat(py); err != nil {
				py = testenv.LookPath(t, "python3")
			}
			if err := exec.Command(py, "-c", "import pymysql").Run(); err != nil {
				if testenv.CI() {
					t.Fatalf("PyMySQL missing under CI (apt-get install python3-pymysql): %v", err)
				}
				t.Skip("PyMySQL not installed (apt-get install python3-pymysql)")
			}
			return exec.Command(py, filepath.Join(root, "testdata/clients/python/reload.py"))
		}},
		{"node-mysql2", func(t *testing.T) *exec.Cmd {
			node := testenv.LookPath(t, "node")
			dir := filepath.Join(root, "testdata/clients/node")
			if _, err := os.Stat(filepath.Join(dir, "node_modules/mysql2")); err != nil {
				if testenv.CI() {
					t.Fatalf("mysql2 missing under CI (npm ci in %s): %v", dir, err)
				}
				t.Skipf("mysql2 not installed (run npm ci in %s)", dir)
			}
			c := exec.Command(node, "reload.js")
			c.Dir = dir
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNode(t, "")
			cmd := tc.cmd(t)
			host, port := splitAddr(t, tn.addr)
			cmd.Env = append(os.Environ(), "SSLD_HOST="+host, "SSLD_PORT="+port, "SSLD_USER=admin",
				"SSLD_PASSWORD="+adminPW, "SSLD_CA="+filepath.Join(tn.dir, "certs/ca.crt"))
			newSerial := tn.rotate()
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Contains(t, string(out), "serial="+newSerial+"\n")
			assert.Regexp(t, `cipher=\S+`, strings.TrimSpace(string(out)))
			assert.Equal(t, newSerial, tn.servedSerial())
		})
	}
}
