package sqlcmd

import (
	"context"
	"fmt"
	"github.com/dolthub/vitess/go/mysql"
	"strings"
	"testing"

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
	assert.Equal(t, uint16(mysql.ERWrongValueForVar), e.Num)
	assert.Contains(t, e.Msg, "at most 256")
	assert.Len(t, s.Vars, MaxUserVariables, "the failed SET changed nothing")

	run(t, te.x, s, "SET @v0 = NULL, @one_more = 1") // dropping one makes room
	big := strings.Repeat("x", MaxVarValueBytes+1)
	for _, q := range []string{"SET @big = '" + big + "'", "SET sql_mode = '" + big + "'"} {
		_, err = te.x.Run(context.Background(), s, q)
		require.ErrorAs(t, err, &e, q[:20])
		assert.Equal(t, uint16(mysql.ERWrongValueForVar), e.Num)
		if strings.HasPrefix(q, "SET @") {
			assert.Contains(t, e.Msg, "at most 65536 bytes per variable")
		}
	}
	run(t, te.x, s, "SET @v1 = '"+big[:MaxVarValueBytes]+"'") // at the bound: fits
}
