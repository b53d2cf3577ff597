package mariadbtest

import (
	"context"
	"testing"

	"github.com/ssld/ssld/internal/testenv"
)

// StartT is Start for tests. When mariadbd or mariadb-install-db is missing
// the test is skipped on a developer's machine and fails under CI=true
// (see testenv.LookPath). The server is stopped when the test ends.
func StartT(tb testing.TB, o Options) *Server {
	tb.Helper()
	Require(tb)
	s, err := Start(context.Background(), o)
	if err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Require skips tb (or fails it under CI=true) when the MariaDB binaries
// are missing.
func Require(tb testing.TB) {
	tb.Helper()
	if _, _, err := Binaries(); err != nil {
		// LookPath skips or fails with the reason; it returns only if the
		// tool is in PATH after all, which Binaries would have found.
		testenv.LookPath(tb, "mariadbd")
		testenv.LookPath(tb, "mariadb-install-db")
		tb.Fatalf("mariadbtest: %v", err)
	}
}
