package sqlcmd

import (
	"context"
	"errors"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTLSChannelStatusWhere: the WHERE forms monitoring uses on
// performance_schema.tls_channel_status, each counted against the 29
// properties of the client channel (mysql_main) and the 29 of a served
// cluster channel without a certificate (mysql_admin, Enabled No).
func TestTLSChannelStatusWhere(t *testing.T) {
	te := newTestEnv(t)
	count := func(where string) int {
		t.Helper()
		res := run(t, te.x, te.viewer, "SELECT * FROM performance_schema.tls_channel_status "+where)
		return len(res.Rows)
	}
	for where, want := range map[string]int{
		"":                                   58,
		"WHERE channel = 'MYSQL_MAIN'":       29,
		"WHERE channel != 'mysql_main'":      29,
		"WHERE channel <> 'mysql_main'":      29,
		"WHERE property LIKE 'Current_tls%'": 18,
		"WHERE property NOT LIKE 'Ssl%'":     20,
		"WHERE property IN ('Enabled', 'Ssl_accepts') AND channel = 'mysql_admin'":        2,
		"WHERE property NOT IN ('Enabled') AND (channel = 'x' OR channel = 'mysql_main')": 28,
		"WHERE NOT (property = 'Enabled' OR property = 'Ssl_accepts')":                    54,
		"WHERE property = 'Enabled' AND value = 'No'":                                     1,
		"LIMIT 3": 3,
	} {
		assert.Equal(t, want, count(where), where)
	}
	res := run(t, te.x, te.viewer, "SELECT VALUE, channel AS c FROM performance_schema.tls_channel_status WHERE property = 'Ssl_server_not_after'")
	assert.Equal(t, []string{"VALUE", "c"}, colNames(res))
	assert.Equal(t, [][]any{{te.leaf.Cert.NotAfter.UTC().Format(statusTimeFormat), "mysql_main"}, {"", "mysql_admin"}}, res.Rows)

	for q, num := range map[string]int{
		"SELECT * FROM performance_schema.tls_channel_status ORDER BY property":       mysql.ERNotSupportedYet,
		"SELECT 1 FROM performance_schema.tls_channel_status":                         mysql.ERNotSupportedYet,
		"SELECT nope FROM performance_schema.tls_channel_status":                      mysql.ERBadFieldError,
		"SELECT * FROM performance_schema.tls_channel_status WHERE nope = 'x'":        mysql.ERBadFieldError,
		"SELECT * FROM performance_schema.tls_channel_status WHERE value = 1":         mysql.ERNotSupportedYet,
		"SELECT * FROM performance_schema.tls_channel_status WHERE value > 'a'":       mysql.ERNotSupportedYet,
		"SELECT * FROM performance_schema.tls_channel_status WHERE 'a' = value":       mysql.ERNotSupportedYet,
		"SELECT * FROM performance_schema.tls_channel_status LIMIT 1, 2":              mysql.ERNotSupportedYet,
		"SELECT * FROM performance_schema.global_status":                              mysql.ERNotSupportedYet,
		"SELECT * FROM performance_schema.tls_channel_status t, performance_schema.x": mysql.ERNotSupportedYet,
	} {
		_, err := te.x.Run(context.Background(), te.viewer, q)
		var e *Error
		require.True(t, errors.As(err, &e), q)
		assert.Equal(t, num, e.Num, q)
	}
}
