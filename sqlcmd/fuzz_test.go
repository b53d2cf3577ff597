package sqlcmd

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics and always returns either a
// command or an *Error. The seed corpus lives in testdata/fuzz/FuzzParse and
// runs with every `go test`.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SSL_RELOAD", "ssl_reload;", "/* x */ SSL_RELOAD -- y", "FLUSH SSL",
		"ALTER INSTANCE RELOAD TLS FOR CHANNEL mysql_main NO ROLLBACK ON ERROR",
		"SHOW VARIABLES LIKE 'ssl%'", "select @@version_comment limit 1", "SET NAMES utf8mb4",
		"SHOW SSL STATUS", "SHOW AGGREGATORS", "'", "`", "/*", "-- ", "#", "\x00", "SELECT @@@x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cmd, err := Parse(q)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T, want *Error", q, err)
			}
			if cmd != nil {
				t.Fatalf("Parse(%q) returned both a command and an error", q)
			}
			return
		}
		if cmd == nil {
			t.Fatalf("Parse(%q) returned neither a command nor an error", q)
		}
	})
}
