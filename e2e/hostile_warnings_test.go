package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileWarningsCapped: a config whose reload finds 1,500 distinct
// problems (1,500 require_x509 accounts on a node with neither ssl_ca nor
// ssl_capath, one warning each) reports at most 1,024 of them, MySQL's
// max_error_count: SSL_RELOAD over the socket (go-sql-driver) leaves 1,024
// rows for SHOW WARNINGS, the last saying how many were left out (477),
// and the reload logs at most 1,024 warning lines, as does the start-up.
// Before: 1,500 warning lines per reload in the log, and SHOW WARNINGS
// cut at 1,024 without a word.
func TestHostileWarningsCapped(t *testing.T) {
	n := newChildNode(t, goodLeaf)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: \"127.0.0.1:0\"\nsocket: %s\nrole: aggregator\nssl_cert: %s\nssl_key: %s\nusers:\n", devSocket, devServerCert, devServerKey)
	fmt.Fprintf(&cfg, "  - name: admin\n    password: %s\n    privileges: [SUPER]\n", adminPW)
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&cfg, "  - name: x509user%04d\n    password: pw\n    require_x509: true\n", i)
	}
	require.NoError(t, os.WriteFile(n.config, []byte(cfg.String()), 0o600))
	n.cmd = n.serveCmd(t)
	startChild(t, n.cmd)
	n.waitSocket(t)
	admin := childSocketDB(t, n, "admin", adminPW)
	conn, err := admin.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	startLines := strings.Count(n.log.String(), "has require_x509 but neither ssl_ca")
	assert.LessOrEqual(t, startLines, 1024, "start-up warning lines")
	assert.Greater(t, startLines, 1000)

	_, err = conn.ExecContext(t.Context(), "SSL_RELOAD")
	require.NoError(t, err, "%s", n.log)
	rows, err := conn.QueryContext(t.Context(), "SHOW WARNINGS")
	require.NoError(t, err)
	var msgs []string
	for rows.Next() {
		var level, msg string
		var code int
		require.NoError(t, rows.Scan(&level, &code, &msg))
		msgs = append(msgs, msg)
	}
	require.NoError(t, rows.Err())
	require.Len(t, msgs, 1024, "max_error_count rows")
	assert.Contains(t, msgs[0], `"x509user0000" has require_x509`)
	assert.Contains(t, msgs[1022], `"x509user1022" has require_x509`)
	assert.Contains(t, msgs[1023], "477 more warnings were left out")
	var count int
	require.NoError(t, conn.QueryRowContext(t.Context(), "SHOW COUNT(*) WARNINGS").Scan(&count))
	assert.Equal(t, 1024, count)

	reloadLines := strings.Count(n.log.String(), "has require_x509 but neither ssl_ca") - startLines
	assert.LessOrEqual(t, reloadLines, 1024, "reload warning lines")
	assert.True(t, strings.Contains(n.log.String(), "477 more warnings were left out"), "the log says how many were left out")
}
