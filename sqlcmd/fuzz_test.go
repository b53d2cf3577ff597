package sqlcmd

import (
	"errors"
	"strings"
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
	// Deep keyword runs and nesting: vitess's tokenizer recurses once per
	// NOT / FOR; Parse must refuse them (1436) before it sees them.
	for _, s := range []string{
		"SELECT " + strings.Repeat("NOT ", MaxKeywordRun+1) + "1",
		"SELECT 1 " + strings.Repeat("FOR\t", 2*MaxKeywordRun),
		"SELECT /*!" + strings.Repeat("not ", MaxKeywordRun+1) + "*/ 1",
		"SELECT " + strings.Repeat("(", MaxStatementTokens) + "1",
		"SELECT 1" + strings.Repeat("+1", MaxStatementTokens),
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
