// Package testenv is the test kit shared by every package's tests: external
// tools (LookPath: skip on a developer's machine, fail under CI=true), a
// throw-away mariadbd (MariaDB), the one polling helper (Eventually), the
// accept loop of a throw-away server (Serve), a plain TLS peer
// (TLSEchoServer), HTTP GETs (HTTPGet), Prometheus scrapes (ScrapeMetrics)
// and a Kubernetes Secret volume as the kubelet writes it (SecretVolume). It
// imports "testing", so only tests import it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where a missing tool
// is a failure, not a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// LookPath returns the path of an external tool. When it is absent the test
// is skipped on a developer's machine and fails under CI.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if CI() {
		t.Fatalf("%s is required under CI=true but was not found in PATH: %v (scripts/test installs it)", name, err)
	}
	t.Skipf("%s not found in PATH; install it (scripts/test does) to run this test", name)
	return ""
}
