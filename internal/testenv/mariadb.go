package testenv

import (
	"context"
	"testing"

	"github.com/ssld/ssld/internal/mariadbtest"
)

// MariaDB starts a throw-away mariadbd (mariadbtest.Start) for tb and stops
// it when tb ends. When mariadbd or mariadb-install-db is missing, tb is
// skipped on a developer's machine and fails under CI=true.
func MariaDB(tb testing.TB, o mariadbtest.Options) *mariadbtest.Server {
	tb.Helper()
	RequireMariaDB(tb)
	s, err := mariadbtest.Start(context.Background(), o)
	if err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// RequireMariaDB skips tb (or fails it under CI=true) when the MariaDB
// binaries are missing.
func RequireMariaDB(tb testing.TB) {
	tb.Helper()
	if _, _, err := mariadbtest.Binaries(); err != nil {
		// LookPath skips or fails with the reason; it returns only if the
		// tool is in PATH after all, which Binaries would have found.
		LookPath(tb, "mariadbd")
		LookPath(tb, "mariadb-install-db")
		tb.Fatalf("mariadbtest: %v", err)
	}
}
