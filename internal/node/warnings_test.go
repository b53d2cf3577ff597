package node_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestShowWarningsOverWire reads what the mysql CLI reports with -vvv: the
// warning count of each statement's OK / EOF packet and the SHOW WARNINGS
// rows. A key both channels use gives one warning, not one per channel;
// SHOW WARNINGS and SHOW COUNT(*) WARNINGS list it without adding warnings
// of their own, and a later statement clears it.
func TestShowWarningsOverWire(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	// The cluster channel is served on the same files: one finding for both.
	tn := nodetest.New(t, "cluster_listen: 127.0.0.1:0\n")
	key := filepath.Join(tn.Dir, "certs/server.key")
	require.NoError(t, os.Chmod(key, 0o644))
	out, err := tn.MySQLTLS(t, mysqlBin, "admin", nodetest.AdminPW, "-vvv", "-e",
		"SSL_RELOAD; SHOW WARNINGS; SHOW COUNT(*) WARNINGS; SHOW WARNINGS; SELECT 1; SHOW WARNINGS")
	require.NoError(t, err, out)
	// One block per statement: "----\nSTATEMENT\n----\n<result>".
	blocks := strings.Split(out, "--------------\n")
	var results []string
	for i := 2; i < len(blocks); i += 2 {
		results = append(results, blocks[i])
	}
	require.Len(t, results, 6, out)
	assert.Contains(t, results[0], "Query OK, 0 rows affected, 1 warning (")
	warningRow := regexp.MustCompile(`\| Warning \| 3888 \| channels client, cluster: ssl_key "` + regexp.QuoteMeta(key) + `" is readable by others \(mode 0644\); chmod o-rwx it \(0640 with a group such as ssl-cert, or 0600\) \|`)
	for _, i := range []int{1, 3} {
		assert.Len(t, warningRow.FindAllString(results[i], -1), 1, "SHOW WARNINGS: one row for the one finding:\n%s", results[i])
		assert.Contains(t, results[i], "1 row in set (", "no warning count of its own:\n%s", results[i])
	}
	assert.Regexp(t, `\|\s+1 \|\n`, results[2])
	assert.Contains(t, results[2], "1 row in set (")
	assert.Contains(t, results[4], "1 row in set (")
	assert.Contains(t, results[5], "Empty set (", "SELECT 1 raised none, so the list is empty")
	assert.NotRegexp(t, `\d+ warnings?`, strings.Join(results[1:], ""), "only SSL_RELOAD reports a warning")
}
