package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms and fails tb (Fatalf, with format and
// args) when it is still false after within. It is the one polling helper
// of the tests: wait for a condition, never for a fixed time.
func Eventually(tb testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: "+format, append([]any{within}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
