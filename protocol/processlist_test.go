package protocol_test

import (
	"database/sql"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// processInfo returns the Info column of the connection's own row of the
// SHOW [FULL] PROCESSLIST statement query.
func processInfo(t *testing.T, conn *sql.Conn, query string) string {
	t.Helper()
	var id int64
	require.NoError(t, conn.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id))
	rows, err := conn.QueryContext(t.Context(), query)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var pid, tm sql.NullInt64
		var user, host, db, cmd, state, info sql.NullString
		require.NoError(t, rows.Scan(&pid, &user, &host, &db, &cmd, &tm, &state, &info))
		if pid.Int64 == id {
			return info.String
		}
	}
	require.NoError(t, rows.Err())
	t.Fatalf("no row for connection %d", id)
	return ""
}

// TestProcesslistInfoCut: over a real socket (go-sql-driver), SHOW
// PROCESSLIST shows the first 100 characters of a statement (of 2-byte
// UTF-8 characters here: 100 characters, 200 bytes, valid UTF-8), SHOW
// FULL PROCESSLIST the whole statement, as MySQL. Before: the first 100
// bytes, 50 characters, and a cut that could fall inside a character.
func TestProcesslistInfoCut(t *testing.T) {
	srv := startFuzzServer(t, nil)
	db := hostileDB(t, srv.Addr().String(), nil)
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()

	q := "SHOW PROCESSLIST /* " + strings.Repeat("é", 150) + "ü */"
	info := processInfo(t, conn, q)
	assert.True(t, utf8.ValidString(info), "valid UTF-8: %q", info)
	assert.Equal(t, 100, utf8.RuneCountInString(info), "%q", info)
	assert.Equal(t, string([]rune(q)[:100]), info)

	q = "SHOW FULL PROCESSLIST /* " + strings.Repeat("é", 150) + "ü */"
	assert.Equal(t, q, processInfo(t, conn, q), "FULL: the whole statement")
}
