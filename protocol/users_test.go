package protocol

import "testing"

// TestNativePasswordHash pins the stored form against MySQL's own: SELECT
// PASSWORD('admin') in MySQL 5.7 and MariaDB.
func TestNativePasswordHash(t *testing.T) {
	if got := NativePasswordHash("admin"); got != "*4ACFE3202A5FF5CF467898FC58AAB1D615029441" {
		t.Errorf("NativePasswordHash(admin) = %s", got)
	}
}
