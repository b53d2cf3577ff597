package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// singleStoreMaster answers SHOW AGGREGATORS and SHOW LEAVES with the
// columns SingleStore documents (docs.singlestore.com, "SHOW LEAVES",
// "SHOW AGGREGATORS"), the master listed at 127.0.0.1 as SingleStore lists
// itself, plus @@version like a SingleStore node.
type singleStoreMaster struct {
	aggregators [][]string // Host, Port, State, Master_Aggregator, Role
	leaves      [][]string // Host, Port, Availability_Group, Pair_Host, Pair_Port, State
}

func startSingleStoreMaster(t *testing.T, ca *pki.CA, h *singleStoreMaster) string {
	t.Helper()
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "master", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	return startFakeNode(t, leaf, "5.7.32", h.answer)
}

func (h *singleStoreMaster) answer(query string, cb mysql.ResultSpoolFn) error {
	q := strings.ToLower(strings.TrimSpace(query))
	str := func(n string) *querypb.Field { return &querypb.Field{Name: n, Type: querypb.Type_VARCHAR} }
	num := func(n string) *querypb.Field { return &querypb.Field{Name: n, Type: querypb.Type_INT64} }
	val := func(s string) sqltypes.Value {
		if s == "NULL" {
			return sqltypes.NULL
		}
		if _, err := strconv.Atoi(s); err == nil {
			return sqltypes.NewInt64(int64(must2(strconv.Atoi(s))))
		}
		return sqltypes.NewVarChar(s)
	}
	switch {
	case strings.Contains(q, "@@version"):
		return cb(&sqltypes.Result{Fields: []*querypb.Field{str("@@version"), str("@@version_comment")},
			Rows: [][]sqltypes.Value{{val("5.7.32"), val("SingleStoreDB source distribution (compatible; MySQL Enterprise & MySQL Commercial)")}}}, false)
	case q == "show aggregators":
		res := &sqltypes.Result{Fields: []*querypb.Field{str("Host"), num("Port"), str("State"), num("Opened_Connections"),
			str("Average_Roundtrip_Latency_ms"), num("Master_Aggregator"), str("Role"), num("NodeID"), str("Runtime_State")}}
		for i, a := range h.aggregators {
			res.Rows = append(res.Rows, []sqltypes.Value{val(a[0]), val(a[1]), val(a[2]), val("0"), val("NULL"), val(a[3]), val(a[4]),
				val(strconv.Itoa(i + 1)), val(a[2])})
		}
		return cb(res, false)
	case q == "show leaves":
		res := &sqltypes.Result{Fields: []*querypb.Field{str("Host"), num("Port"), num("Availability_Group"), str("Pair_Host"),
			num("Pair_Port"), str("State"), num("Opened_Connections"), str("Average_Roundtrip_Latency_ms"), num("NodeId"),
			num("Grace_Period_in_Seconds"), str("Runtime_State")}}
		for i, l := range h.leaves {
			res.Rows = append(res.Rows, []sqltypes.Value{val(l[0]), val(l[1]), val(l[2]), val(l[3]), val(l[4]), val(l[5]),
				val("5"), val("0.299"), val(strconv.Itoa(10 + i)), val("NULL"), val(l[5])})
		}
		return cb(res, false)
	case strings.HasPrefix(q, "show global variables"):
		return cb(&sqltypes.Result{Fields: []*querypb.Field{str("Variable_name"), str("Value")}}, false)
	}
	return cb(&sqltypes.Result{}, false)
}

func must2(n int, err error) int {
	if err != nil {
		panic(err)
	}
	return n
}

// TestClusterDiscoverSingleStore: discovery reads SingleStore's real
// SHOW AGGREGATORS / SHOW LEAVES columns (extra columns, NULLs, the master
// as 127.0.0.1 with Role Leader); offline, detached and attaching nodes are
// skipped with their state and the run still passes.
func TestClusterDiscoverSingleStore(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "leaf")
	live := f.members[0]
	f.Rotate(live)
	lh, lp, _ := net.SplitHostPort(live.addr)
	h := &singleStoreMaster{
		aggregators: [][]string{
			{"127.0.0.1", "3306", "online", "1", "Leader"},
			{"10.9.0.4", "3306", "offline", "0", "Follower"},
		},
		leaves: [][]string{
			{lh, lp, "1", "10.9.0.2", "3306", "online"},
			{"10.9.0.2", "3306", "2", lh, lp, "offline"},
			{"10.9.0.3", "3306", "1", "NULL", "NULL", "detached"},
			{"10.9.0.5", "3306", "2", "NULL", "NULL", "attaching"},
		},
	}
	master := startSingleStoreMaster(t, f.ca, h)
	code, rep, stderr := f.reloadJSON("reload", "--master", master, "--dialect", "auto")
	require.Equal(t, 0, code, "stderr %s\n%+v", stderr, rep)
	// The fake master serves one certificate throughout: unchanged.
	assert.Equal(t, map[string]int{"ok": 1, "unchanged": 1, "skipped": 4}, rep.Summary)
	byAddr := map[string]int{}
	for i, n := range rep.Nodes {
		byAddr[n.Address] = i
	}
	l := rep.Nodes[byAddr[live.addr]]
	assert.Equal(t, "ok", l.Status, l.Error)
	assert.Equal(t, "ssld", l.Dialect)
	for addr, state := range map[string]string{"10.9.0.2:3306": "offline", "10.9.0.3:3306": "detached",
		"10.9.0.5:3306": "attaching", "10.9.0.4:3306": "offline"} {
		n := rep.Nodes[byAddr[addr]]
		assert.Equal(t, "skipped", n.Status, addr)
		assert.Equal(t, state, n.State, addr)
		assert.Contains(t, n.Error, "the cluster reports this node "+state)
	}
	m := rep.Nodes[len(rep.Nodes)-1]
	assert.Equal(t, "master", m.Role)
	assert.Equal(t, master, m.Address, "the master is listed where it was reached")
	assert.Equal(t, "singlestore", m.Dialect)
	assert.Equal(t, "SSL_RELOAD", m.Statement)
	assert.Equal(t, "unchanged", m.Status, m.Error)
}
