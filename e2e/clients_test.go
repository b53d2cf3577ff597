package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// needModule skips (fails under CI) when check, which tests for a client
// library, does not succeed; pkg is the Debian package that provides it.
func needModule(t *testing.T, check *exec.Cmd, pkg string) {
	t.Helper()
	if err := check.Run(); err != nil {
		if testenv.CI() {
			t.Fatalf("%s missing under CI (apt-get install %s; scripts/test does): %v", pkg, pkg, err)
		}
		t.Skipf("%s not installed (apt-get install %s)", pkg, pkg)
	}
}

// repoRoot is the module root, from this file's location.
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..")
}

// TestClients runs the clients people use for real against a node over TLS,
// each with its driver's default settings: each connects with certificate
// verification, runs SSL_RELOAD, and reads the served serial from SHOW
// VARIABLES and @@ssl_last_successful_reload_time; each must refuse a server
// whose certificate its CA does not sign. Under CI=true none may skip.
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
		{"perl-dbd-mariadb", func(t *testing.T) *exec.Cmd {
			perl := testenv.LookPath(t, "perl")
			needModule(t, exec.Command(perl, "-MDBD::MariaDB", "-e", "1"), "libdbd-mariadb-perl")
			return exec.Command(perl, filepath.Join(root, "testdata/clients/perl/reload.pl"))
		}},
		{"connector-j", func(t *testing.T) *exec.Cmd {
			java := testenv.LookPath(t, "java")
			jar := "/usr/share/java/mariadb-java-client.jar" // Debian's libmariadb-java
			needModule(t, exec.Command("test", "-r", jar), "libmariadb-java")
			return exec.Command(java, "-cp", jar, filepath.Join(root, "testdata/clients/java/Reload.java"))
		}},
		{"php-mysqli", func(t *testing.T) *exec.Cmd {
			php := testenv.LookPath(t, "php")
			needModule(t, exec.Command(php, "-r", "exit(extension_loaded('mysqli') ? 0 : 1);"), "php-mysql")
			return exec.Command(php, filepath.Join(root, "testdata/clients/php/mysqli.php"))
		}},
		{"php-pdo", func(t *testing.T) *exec.Cmd {
			php := testenv.LookPath(t, "php")
			needModule(t, exec.Command(php, "-r", "exit(extension_loaded('pdo_mysql') ? 0 : 1);"), "php-mysql")
			return exec.Command(php, filepath.Join(root, "testdata/clients/php/pdo.php"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNode(t, "")
			host, port := splitAddr(t, tn.Addr)
			env := func(ca string) []string {
				return append(os.Environ(), "SSLD_HOST="+host, "SSLD_PORT="+port, "SSLD_USER=admin",
					"SSLD_PASSWORD="+adminPW, "SSLD_CA="+ca)
			}
			newSerial := tn.Rotate()
			cmd := tc.cmd(t)
			cmd.Env = env(filepath.Join(tn.Dir, "certs/ca.crt"))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Contains(t, string(out), "serial="+newSerial+"\n")
			assert.Regexp(t, `(?m)^reload_time=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`, string(out))
			assert.Regexp(t, `cipher=\S+`, strings.TrimSpace(string(out)))
			if tc.name == "php-mysqli" { // mysqli::stat() is COM_STATISTICS
				assert.Regexp(t, `(?m)^stat=Uptime: \d+  Threads: \d+  Questions: \d+`, string(out))
			}
			assert.Equal(t, newSerial, tn.ServedSerial())

			// The same client with a CA that did not sign the server's
			// certificate must refuse to talk: verification is really on.
			other := filepath.Join(t.TempDir(), "other-ca.crt")
			require.NoError(t, os.WriteFile(other, pkitest.MustCA(t, "other CA").CertPEM, 0o644))
			cmd = tc.cmd(t)
			cmd.Env = env(other)
			out, err = cmd.CombinedOutput()
			require.Error(t, err, "connected although the CA does not match:\n%s", out)
			assert.NotContains(t, string(out), "serial=")
		})
	}
}
