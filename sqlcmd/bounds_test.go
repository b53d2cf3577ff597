package sqlcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVariableBounds: a session keeps at most MaxUserVariables user
// variables and MaxVarValueBytes per value; a SET over either bound fails
// with 1231 naming the bound and changes nothing.
func TestVariableBounds(t *testing.T) {
	te := newTestEnv(t)
	s := te.viewer
	s.Vars = map[string]string{}
	var sets []string
	for i := 0; i < MaxUserVariables; i++ {
		sets = append(sets, fmt.Sprintf("@v%d = %d", i, i))
	}
	run(t, te.x, s, "SET "+strings.Join(sets, ", "))
	assert.Len(t, s.Vars, MaxUserVariables)

	_, err := te.x.Run(context.Background(), s, "SET @one_more = 1")
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, mysql.ERWrongValueForVar, e.Num)
	assert.Contains(t, e.Message, "at most 256")
	assert.Len(t, s.Vars, MaxUserVariables, "the failed SET changed nothing")

	run(t, te.x, s, "SET @v0 = NULL, @one_more = 1") // dropping one makes room
	big := strings.Repeat("x", MaxVarValueBytes+1)
	for _, q := range []string{"SET @big = '" + big + "'", "SET sql_mode = '" + big + "'"} {
		_, err = te.x.Run(context.Background(), s, q)
		require.ErrorAs(t, err, &e, q[:20])
		assert.Equal(t, mysql.ERWrongValueForVar, e.Num)
		if strings.HasPrefix(q, "SET @") {
			assert.Contains(t, e.Message, "at most 65536 bytes per variable")
		}
	}
	run(t, te.x, s, "SET @v1 = '"+big[:MaxVarValueBytes]+"'") // at the bound: fits
}

// TestStatementBounds: statements over MaxStatementBytes,
// MaxStatementTokens or MaxKeywordRun are refused with 1436 before any
// parser sees them; statements at the bounds parse as before.
func TestStatementBounds(t *testing.T) {
	long := func(n int) string { return "SELECT '" + strings.Repeat("x", n-len("SELECT ''")) + "'" }
	tests := []struct {
		name, q string
		want    string // substring of the 1436 message; "" = not refused by a bound
	}{
		{"bytes at the bound", long(MaxStatementBytes), ""},
		{"bytes over", long(MaxStatementBytes + 1), "at most 262144 bytes"},
		{"NOT run at the bound", "SELECT " + strings.Repeat("NOT ", MaxKeywordRun) + "1", ""},
		{"NOT run over", "SELECT " + strings.Repeat("NOT ", MaxKeywordRun+1) + "1", "NOT/FOR keywords in a row"},
		{"NOT run of 2.5 million", "SELECT " + strings.Repeat("NOT ", MaxStatementBytes/4-4) + "1", "NOT/FOR keywords in a row"},
		{"FOR run over, mixed case, newlines", "SELECT 1 " + strings.Repeat("for\nFoR\t", MaxKeywordRun), "NOT/FOR keywords in a row"},
		{"NOT run inside an executable comment", "SELECT /*!" + strings.Repeat("NOT ", MaxKeywordRun+1) + "*/ 1", "NOT/FOR keywords in a row"},
		{"NOTs apart are no run", "SELECT " + strings.Repeat("NOT a AND ", MaxKeywordRun+1) + "1", ""},
		{"tokens over", "SELECT 1" + strings.Repeat("+1", MaxStatementTokens/2), "more than 4096 tokens"},
		{"parentheses over", "SELECT " + strings.Repeat("(", MaxStatementTokens) + "1" + strings.Repeat(")", MaxStatementTokens), "more than 4096 tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.q)
			var e *Error
			if tc.want == "" {
				if errors.As(err, &e) {
					assert.NotEqual(t, ErrStackOverrun, e.Num, e.Message)
				}
				return
			}
			require.ErrorAs(t, err, &e)
			assert.Equal(t, ErrStackOverrun, e.Num)
			assert.Equal(t, "HY000", e.State)
			assert.Contains(t, e.Message, tc.want)
		})
	}
}

// TestSplitFirst: the multi-statement split honours quotes and comments and
// drops a tail of blanks, comments and semicolons.
func TestSplitFirst(t *testing.T) {
	tests := []struct{ in, first, rest string }{
		{"SELECT 1", "SELECT 1", ""},
		{"SELECT 1;SELECT 2", "SELECT 1", "SELECT 2"},
		{"SELECT 1; SELECT 2;", "SELECT 1", " SELECT 2;"},
		{"SELECT 1; ", "SELECT 1", ""},
		{"SELECT 1; -- done\n /* x */ ;;", "SELECT 1", ""},
		{"SELECT 1; /*!80000 SELECT 2 */", "SELECT 1", " /*!80000 SELECT 2 */"},
		{"SELECT ';' ; SELECT 2", "SELECT ';' ", " SELECT 2"},
		{`SELECT 'a\';b'; SELECT 2`, `SELECT 'a\';b'`, " SELECT 2"},
		{"SELECT `a;b`, \"c;d\"; X", "SELECT `a;b`, \"c;d\"", " X"},
		{"SELECT 1 /* ; */ # ;\n-- ;\n; X", "SELECT 1 /* ; */ # ;\n-- ;\n", " X"},
		{"SELECT 'open; X", "SELECT 'open; X", ""},
		{"SELECT 1 /* open; X", "SELECT 1 /* open; X", ""},
		{";SELECT 1", "", "SELECT 1"},
	}
	for _, tc := range tests {
		first, rest := SplitFirst(tc.in)
		assert.Equal(t, tc.first, first, "%q", tc.in)
		assert.Equal(t, tc.rest, rest, "%q", tc.in)
	}
}
