package protocol_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestHostileStatementsMySQLCLI drives the statement and message bounds
// with the mysql CLI over the node's Unix socket: a run of 25,000 NOT is
// refused with 1436 (vitess's tokenizer is never asked to recurse through
// it), an unknown column of 100,000 characters comes back in an error
// line of at most 512 bytes of message, and the node answers the next
// client.
func TestHostileStatementsMySQLCLI(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := nodetest.New(t, "")

	out, err := nodetest.MySQLSocket(mysqlBin, tn.Socket, "admin", nodetest.AdminPW, "-e", "SELECT "+strings.Repeat("NOT ", 25_000)+"1")
	require.Error(t, err, out)
	assert.Regexp(t, `ERROR 1436 \(HY000\)( at line 1)?: Thread stack overrun: more than 64 NOT/FOR keywords in a row`, out)

	out, err = nodetest.MySQLSocket(mysqlBin, tn.Socket, "admin", nodetest.AdminPW, "-e", "SELECT `"+strings.Repeat("c", 100_000)+"`")
	require.Error(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n") // the client may echo the statement first
	line := lines[len(lines)-1]
	_, msg, ok := strings.Cut(line, ": ") // "ERROR 1054 (42S22) at line 1: Unknown column ..."
	require.True(t, ok, "%.200s", line)
	assert.True(t, strings.HasPrefix(line, "ERROR 1054 (42S22)"), "%.200s", line)
	assert.True(t, strings.HasPrefix(msg, "Unknown column 'ccc"), "%.200s", msg)
	assert.LessOrEqual(t, len(msg), 512, "%.200s", msg)

	out, err = nodetest.MySQLSocket(mysqlBin, tn.Socket, "admin", nodetest.AdminPW, "--batch", "--skip-column-names", "-e", "SELECT 1")
	require.NoError(t, err, out)
	assert.Equal(t, "1", strings.TrimSpace(out))
}
