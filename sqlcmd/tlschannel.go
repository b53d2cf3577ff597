package sqlcmd

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// SelectTLSChannelStatus is SELECT ... FROM
// performance_schema.tls_channel_status [WHERE ...] [LIMIT n]: MySQL 8's
// table of TLS properties per connection interface (CHANNEL, PROPERTY,
// VALUE), what MySQL 8.4 monitoring reads since have_ssl went away. The
// client channel is MySQL's mysql_main; the cluster channel, where the node
// serves it, mysql_admin (MySQL's second TLS interface, on its own port).
type SelectTLSChannelStatus struct {
	Columns []tlsStatusColumn
	Where   sqlparser.Expr // nil: every row; column comparisons, AND, OR, NOT
	Limit   *uint64
}

// tlsStatusColumn is one result column: the table's column (0 CHANNEL,
// 1 PROPERTY, 2 VALUE) under its result name.
type tlsStatusColumn struct {
	Index int
	Name  string
}

// RequiresSuper implements Command: the table is readable by any user, as
// SHOW STATUS is.
func (SelectTLSChannelStatus) RequiresSuper() bool { return false }

var tlsStatusColumns = []string{"CHANNEL", "PROPERTY", "VALUE"}

func tlsStatusColumnIndex(name string) int {
	for i, c := range tlsStatusColumns {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// fromTLSChannelStatus recognises a SELECT from
// performance_schema.tls_channel_status; ok is false for any other FROM.
func fromTLSChannelStatus(st *sqlparser.Select) (cmd Command, ok bool, err *Error) {
	if len(st.From) != 1 {
		return nil, false, nil
	}
	t, isAliased := st.From[0].(*sqlparser.AliasedTableExpr)
	if !isAliased {
		return nil, false, nil
	}
	name, isName := t.Expr.(sqlparser.TableName)
	if !isName || !strings.EqualFold(name.DbQualifier.String(), "performance_schema") ||
		!strings.EqualFold(name.Name.String(), "tls_channel_status") {
		return nil, false, nil
	}
	if st.Having != nil || len(st.GroupBy) > 0 || len(st.OrderBy) > 0 || st.With != nil || st.QueryOpts.Distinct || st.Window != nil || st.Into != nil {
		return nil, true, errNotSupported("SELECT FROM performance_schema.tls_channel_status with GROUP BY, HAVING, ORDER BY, DISTINCT, WINDOW, INTO or WITH")
	}
	sel := SelectTLSChannelStatus{}
	for _, e := range st.SelectExprs {
		switch x := e.(type) {
		case *sqlparser.StarExpr:
			for i, c := range tlsStatusColumns {
				sel.Columns = append(sel.Columns, tlsStatusColumn{Index: i, Name: c})
			}
		case *sqlparser.AliasedExpr:
			c, isCol := x.Expr.(*sqlparser.ColName)
			if !isCol {
				return nil, true, errNotSupported("SELECT of an expression FROM performance_schema.tls_channel_status")
			}
			i := tlsStatusColumnIndex(c.Name.String())
			if i < 0 {
				return nil, true, newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'field list'", c.Name.String())
			}
			sel.Columns = append(sel.Columns, tlsStatusColumn{Index: i, Name: columnName(x)})
		default:
			return nil, true, errNotSupported("SELECT FROM performance_schema.tls_channel_status")
		}
	}
	if st.Where != nil {
		if err := checkTLSStatusWhere(st.Where.Expr); err != nil {
			return nil, true, err
		}
		sel.Where = st.Where.Expr
	}
	if st.Limit != nil {
		if st.Limit.Offset != nil {
			return nil, true, errNotSupported("LIMIT with an offset FROM performance_schema.tls_channel_status")
		}
		n, err := limitValue(st.Limit.Rowcount)
		if err != nil {
			return nil, true, err
		}
		sel.Limit = &n
	}
	return sel, true, nil
}

// checkTLSStatusWhere accepts what monitoring queries use: comparisons of a
// column with string literals (=, !=, <>, IN, NOT IN, LIKE, NOT LIKE),
// combined with AND, OR, NOT and parentheses.
func checkTLSStatusWhere(e sqlparser.Expr) *Error {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		if err := checkTLSStatusWhere(x.Left); err != nil {
			return err
		}
		return checkTLSStatusWhere(x.Right)
	case *sqlparser.OrExpr:
		if err := checkTLSStatusWhere(x.Left); err != nil {
			return err
		}
		return checkTLSStatusWhere(x.Right)
	case *sqlparser.NotExpr:
		return checkTLSStatusWhere(x.Expr)
	case *sqlparser.ParenExpr:
		return checkTLSStatusWhere(x.Expr)
	case *sqlparser.ComparisonExpr:
		c, ok := x.Left.(*sqlparser.ColName)
		if !ok {
			break
		}
		if tlsStatusColumnIndex(c.Name.String()) < 0 {
			return newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'where clause'", c.Name.String())
		}
		if x.Escape != nil {
			break
		}
		switch x.Operator {
		case sqlparser.EqualStr, sqlparser.NotEqualStr, sqlparser.LikeStr, sqlparser.NotLikeStr:
			if _, ok := stringLiteral(x.Right); ok {
				return nil
			}
		case sqlparser.InStr, sqlparser.NotInStr:
			tuple, ok := x.Right.(sqlparser.ValTuple)
			if !ok {
				break
			}
			for _, v := range tuple {
				if _, ok := stringLiteral(v); !ok {
					return errNotSupported("WHERE on performance_schema.tls_channel_status other than column comparisons with strings")
				}
			}
			return nil
		}
	}
	return errNotSupported("WHERE on performance_schema.tls_channel_status other than column comparisons with strings")
}

func stringLiteral(e sqlparser.Expr) (string, bool) {
	v, ok := e.(*sqlparser.SQLVal)
	if !ok || v.Type != sqlparser.StrVal {
		return "", false
	}
	return string(v.Val), true
}

// matchTLSStatus evaluates a WHERE that checkTLSStatusWhere accepted on one
// row. Comparisons are case-insensitive, as with MySQL's default
// collation.
func matchTLSStatus(e sqlparser.Expr, row [3]string) bool {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		return matchTLSStatus(x.Left, row) && matchTLSStatus(x.Right, row)
	case *sqlparser.OrExpr:
		return matchTLSStatus(x.Left, row) || matchTLSStatus(x.Right, row)
	case *sqlparser.NotExpr:
		return !matchTLSStatus(x.Expr, row)
	case *sqlparser.ParenExpr:
		return matchTLSStatus(x.Expr, row)
	case *sqlparser.ComparisonExpr:
		v := row[tlsStatusColumnIndex(x.Left.(*sqlparser.ColName).Name.String())]
		switch x.Operator {
		case sqlparser.EqualStr, sqlparser.NotEqualStr:
			s, _ := stringLiteral(x.Right)
			return strings.EqualFold(v, s) == (x.Operator == sqlparser.EqualStr)
		case sqlparser.LikeStr, sqlparser.NotLikeStr:
			s, _ := stringLiteral(x.Right)
			return sysvars.Like(s, v) == (x.Operator == sqlparser.LikeStr)
		case sqlparser.InStr, sqlparser.NotInStr:
			in := false
			for _, t := range x.Right.(sqlparser.ValTuple) {
				s, _ := stringLiteral(t)
				in = in || strings.EqualFold(v, s)
			}
			return in == (x.Operator == sqlparser.InStr)
		}
	}
	return false
}

// selectTLSChannelStatus runs a SelectTLSChannelStatus.
func (x *Executor) selectTLSChannelStatus(c SelectTLSChannelStatus) *Result {
	res := &Result{Rows: [][]any{}}
	for _, col := range c.Columns {
		res.Columns = append(res.Columns, Column{Name: col.Name})
	}
	for _, row := range x.tlsChannelStatusRows() {
		if c.Limit != nil && uint64(len(res.Rows)) >= *c.Limit {
			break
		}
		if c.Where != nil && !matchTLSStatus(c.Where, row) {
			continue
		}
		out := make([]any, len(c.Columns))
		for i, col := range c.Columns {
			out[i] = row[col.Index]
		}
		res.Rows = append(res.Rows, out)
	}
	return res
}

// OpenSSL's SSL_VERIFY_* bits, as MySQL reports Ssl_ctx_verify_mode.
const (
	sslVerifyPeer             = 1
	sslVerifyFailIfNoPeerCert = 2
	sslVerifyClientOnce       = 4
	unlimitedVerifyDepth      = "18446744073709551615" // OpenSSL's -1: no limit, as crypto/tls
	ticketLifetimeSeconds     = "604800"               // crypto/tls accepts a session ticket for 7 days
)

// tlsChannelStatusRows are the table's rows, in MySQL's order: per channel
// Enabled, then the properties of MySQL's Ssl_acceptor_context_data.
// OpenSSL counters crypto/tls has no counterpart of (renegotiations,
// session-cache statistics, client connects) are 0: crypto/tls never
// renegotiates as a server and resumes through tickets, not a cache.
func (x *Executor) tlsChannelStatusRows() [][3]string {
	var out [][3]string
	counts, _ := x.env.Processes.(TLSAcceptCounter)
	for _, ch := range []struct {
		name string
		ch   tlsctx.Channel
	}{{"mysql_main", tlsctx.ChannelClient}, {"mysql_admin", tlsctx.ChannelCluster}} {
		var snap *tlsctx.Snapshot
		if x.env.Certs != nil {
			snap = x.env.Certs.Current(ch.ch)
		}
		if snap == nil && ch.ch == tlsctx.ChannelCluster {
			continue // not served: MySQL lists mysql_admin only with an admin port too
		}
		enabled := snap.Enabled()
		accepts, finished := uint64(0), uint64(0)
		if counts != nil {
			accepts, finished = counts.SSLAccepts(ch.ch)
		}
		mode := 0
		switch {
		case !enabled:
		case ch.ch == tlsctx.ChannelCluster:
			mode = sslVerifyPeer | sslVerifyFailIfNoPeerCert | sslVerifyClientOnce
		case snap.CAs != nil:
			mode = sslVerifyPeer | sslVerifyClientOnce
		}
		cur := x.currentTLS(snap) // the same values as the status variables
		notAfter, notBefore := "", ""
		if enabled {
			notAfter = snap.NotAfter().UTC().Format(statusTimeFormat)
			notBefore = snap.NotBefore().UTC().Format(statusTimeFormat)
		}
		yes := "No"
		if enabled {
			yes = "Yes"
		}
		props := [][2]string{
			{"Enabled", yes},
			{"Ssl_accept_renegotiates", "0"},
			{"Ssl_accepts", strconv.FormatUint(accepts, 10)},
			{"Ssl_callback_cache_hits", "0"},
			{"Ssl_client_connects", "0"},
			{"Ssl_connect_renegotiates", "0"},
			{"Ssl_ctx_verify_depth", unlimitedVerifyDepth},
			{"Ssl_ctx_verify_mode", strconv.Itoa(mode)},
			{"Current_tls_ca", cur["Current_tls_ca"]},
			{"Current_tls_capath", cur["Current_tls_capath"]},
			{"Current_tls_cert", cur["Current_tls_cert"]},
			{"Current_tls_cipher", cur["Current_tls_cipher"]},
			{"Current_tls_ciphersuites", cur["Current_tls_ciphersuites"]},
			{"Current_tls_crl", cur["Current_tls_crl"]},
			{"Current_tls_crlpath", cur["Current_tls_crlpath"]},
			{"Current_tls_key", cur["Current_tls_key"]},
			{"Current_tls_version", cur["Current_tls_version"]},
			{"Ssl_finished_accepts", strconv.FormatUint(finished, 10)},
			{"Ssl_finished_connects", "0"},
			{"Ssl_server_not_after", notAfter},
			{"Ssl_server_not_before", notBefore},
			{"Ssl_session_cache_hits", "0"},
			{"Ssl_session_cache_misses", "0"},
			{"Ssl_session_cache_mode", "OFF"},
			{"Ssl_session_cache_overflows", "0"},
			{"Ssl_session_cache_size", "0"},
			{"Ssl_session_cache_timeouts", "0"},
			{"Ssl_used_session_cache_entries", "0"},
			{"Ssl_session_cache_timeout", ticketLifetimeSeconds},
		}
		for _, p := range props {
			out = append(out, [3]string{ch.name, p[0], p[1]})
		}
	}
	return out
}
