package sqlcmd

import (
	"strings"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// The statements the admin tools send: mariadb-admin (processlist, kill,
// flush-status, refresh), mariadb-dump (SHOW TABLES, the tablespace query on
// information_schema.FILES) and the mysql CLI.

// Process is one connection as SHOW PROCESSLIST lists it.
type Process struct {
	ID      uint32
	User    string
	Host    string // client address as host:port, "localhost" on the Unix socket
	DB      string // "" = NULL
	Command string // "Sleep", "Query", "Connect", ...
	Time    int64  // seconds in the current command
	State   string
	Info    string // the running statement, "" = NULL
}

// Processes is the server's table of connections; protocol.Server implements
// it. Every method must be safe for concurrent use.
type Processes interface {
	// List returns every connection, in id order.
	List() []Process
	// Kill closes connection id (queryOnly=false) or interrupts the
	// statement it is running (queryOnly=true). It reports whether the
	// connection exists.
	Kill(id uint32, queryOnly bool) bool
	// Questions is the number of statements received since start.
	Questions() uint64
}

// ShowProcesslist is SHOW [FULL] PROCESSLIST (and COM_PROCESS_INFO).
type ShowProcesslist struct{ Full bool }

// Kill is KILL [CONNECTION | QUERY] id. (vitess's grammar takes a number
// only, not MySQL's expression: KILL CONNECTION_ID() is a syntax error.)
type Kill struct {
	ID        uint64
	QueryOnly bool
}

// Flush is FLUSH of what ssld has nothing to flush for: STATUS, TABLES,
// LOGS, HOSTS, THREADS, ... It needs SUPER (MySQL's RELOAD) and changes
// nothing.
type Flush struct{ What []string }

// ShowTables is SHOW [FULL] TABLES [FROM db]: ssld has no tables.
type ShowTables struct {
	Full bool
	DB   string // "" = the session's database
}

// SelectEmpty is a SELECT from an information_schema table: ssld has no
// tables, tablespaces, routines or events, so every one of them is empty.
// Columns are the select list's names.
type SelectEmpty struct{ Columns []string }

// RequiresSuper implements Command. KILL of another user's connection needs
// SUPER; that is checked in Exec.
func (ShowProcesslist) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (Kill) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (Flush) RequiresSuper() bool { return true }

// RequiresSuper implements Command.
func (ShowTables) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (SelectEmpty) RequiresSuper() bool { return false }

// flushOptions are the FLUSH options that have nothing to act on in ssld.
var flushOptions = map[string]bool{
	"STATUS": true, "TABLES": true, "TABLE": true, "LOGS": true, "HOSTS": true, "THREADS": true,
	"USER_RESOURCES": true, "OPTIMIZER_COSTS": true, "QUERY CACHE": true,
	"BINARY LOGS": true, "ENGINE LOGS": true, "ERROR LOGS": true, "GENERAL LOGS": true,
	"RELAY LOGS": true, "SLOW LOGS": true,
}

// parseFlush parses FLUSH [NO_WRITE_TO_BINLOG | LOCAL] option [, option]...
// for the options in flushOptions; ok is false for anything else (FLUSH
// SSL, FLUSH PRIVILEGES and FLUSH TABLES ... are handled elsewhere).
func parseFlush(toks []token) (Flush, bool) {
	i := 1
	if i < len(toks) && toks[i].kind == tokWord && (toks[i].upper() == "NO_WRITE_TO_BINLOG" || toks[i].upper() == "LOCAL") {
		i++
	}
	var f Flush
	for i < len(toks) {
		if toks[i].kind != tokWord {
			return Flush{}, false
		}
		opt := toks[i].upper()
		i++
		if i < len(toks) && toks[i].kind == tokWord && (toks[i].upper() == "LOGS" || toks[i].upper() == "CACHE") {
			opt += " " + toks[i].upper()
			i++
		}
		if !flushOptions[opt] {
			return Flush{}, false
		}
		f.What = append(f.What, opt)
		if i < len(toks) {
			if toks[i].kind != tokSymbol || toks[i].text != "," {
				return Flush{}, false
			}
			i++
			if i == len(toks) {
				return Flush{}, false
			}
		}
	}
	return f, len(f.What) > 0
}

func fromKill(st *sqlparser.Kill) (Command, *Error) {
	v, ok := st.ConnID.(*sqlparser.SQLVal)
	if !ok || v.Type != sqlparser.IntVal {
		return nil, errNotSupported("KILL with an expression")
	}
	n, err := literal(v)
	if err != nil {
		return nil, err
	}
	k := Kill{QueryOnly: !st.Connection}
	switch id := n.(type) {
	case int64:
		k.ID = uint64(id)
	case uint64:
		k.ID = id
	default:
		return nil, errSyntax(string(v.Val))
	}
	return k, nil
}

// fromInfoSchemaSelect recognises SELECT ... FROM information_schema.t
// [WHERE ...] [GROUP BY ...] [ORDER BY ...]: ok is false for any other FROM.
func fromInfoSchemaSelect(st *sqlparser.Select) (Command, bool) {
	if len(st.From) != 1 {
		return nil, false
	}
	t, ok := st.From[0].(*sqlparser.AliasedTableExpr)
	if !ok {
		return nil, false
	}
	name, ok := t.Expr.(sqlparser.TableName)
	if !ok || !strings.EqualFold(name.DbQualifier.String(), informationSchema) {
		return nil, false
	}
	var cols []string
	for _, e := range st.SelectExprs {
		ae, ok := e.(*sqlparser.AliasedExpr)
		if !ok {
			return nil, false // SELECT *: the table's columns are not known
		}
		cols = append(cols, columnName(ae))
	}
	return SelectEmpty{Columns: cols}, true
}

func (x *Executor) showProcesslist(s *Session, c ShowProcesslist) *Result {
	res := &Result{
		Columns: []Column{{Name: "Id", Int: true}, {Name: "User"}, {Name: "Host"}, {Name: "db"}, {Name: "Command"},
			{Name: "Time", Int: true}, {Name: "State"}, {Name: "Info"}},
		Rows: [][]any{},
	}
	if x.env.Processes == nil {
		return res
	}
	// As in MySQL without the PROCESS privilege (SUPER here), a user sees
	// only the connections of the same user.
	all := s.HasPrivilege("SUPER")
	for _, p := range x.env.Processes.List() {
		if !all && p.User != s.User {
			continue
		}
		info := processInfo(p.Info, c.Full)
		res.Rows = append(res.Rows, []any{int64(p.ID), p.User, p.Host, nullIfEmpty(p.DB), p.Command,
			p.Time, nullIfEmpty(p.State), nullIfEmpty(info)})
	}
	return res
}

// ProcesslistInfoChars is how much of a statement SHOW PROCESSLIST shows
// without FULL: its first 100 characters, as MySQL.
const ProcesslistInfoChars = 100

// processInfo is the Info column: the statement's first
// ProcesslistInfoChars characters (cut at a character, never inside a
// UTF-8 sequence), or with FULL the whole statement, as MySQL shows it,
// up to MaxStatementBytes: a longer statement is refused by Parse before
// it runs, so it is never more than a moment in the list, and a listing
// stays bounded by what any statement may be.
func processInfo(info string, full bool) string {
	if full {
		return cutBytes(info, MaxStatementBytes)
	}
	n := 0
	for i := range info {
		if n == ProcesslistInfoChars {
			return info[:i]
		}
		n++
	}
	return info
}

// kill runs KILL. Killing the session's own connection or statement is
// 1317 "Query execution was interrupted", as in MySQL; for KILL CONNECTION
// the session is marked CloseAfterReply, and the protocol layer closes the
// connection once that error is sent.
func (x *Executor) kill(s *Session, c Kill) (*Result, *Error) {
	if c.ID == uint64(s.ConnectionID) {
		if !c.QueryOnly {
			s.CloseAfterReply = true
		}
		return nil, newError(mysql.ERQueryInterrupted, mysql.SSQueryInterrupted, "Query execution was interrupted")
	}
	unknown := newError(mysql.ERNoSuchThread, mysql.SSUnknownSQLState, "Unknown thread id: %d", c.ID)
	if x.env.Processes == nil || c.ID > uint64(^uint32(0)) {
		return nil, unknown
	}
	id := uint32(c.ID)
	var target *Process
	for _, p := range x.env.Processes.List() {
		if p.ID == id {
			target = &p
			break
		}
	}
	if target == nil {
		return nil, unknown
	}
	// Another user's connection: MySQL 8 asks for CONNECTION_ADMIN (SUPER
	// is its deprecated equivalent), as the reload statements do here.
	if target.User != s.User && !s.HasPrivilege("SUPER") && !s.HasPrivilege("CONNECTION_ADMIN") {
		return nil, newError(mysql.ERKillDenied, mysql.SSUnknownSQLState, "You are not owner of thread %d", c.ID)
	}
	if !x.env.Processes.Kill(id, c.QueryOnly) {
		return nil, unknown
	}
	return &Result{}, nil
}

func (x *Executor) showTables(s *Session, c ShowTables) (*Result, *Error) {
	db := c.DB
	if db == "" {
		db = s.DB
	}
	if db == "" {
		return nil, newError(mysql.ERNoDb, mysql.SSNoDB, "No database selected")
	}
	if !strings.EqualFold(db, informationSchema) {
		return nil, newError(mysql.ERBadDb, mysql.SSClientError, "Unknown database '%s'", db)
	}
	res := &Result{Columns: []Column{{Name: "Tables_in_" + informationSchema}}, Rows: [][]any{}}
	if c.Full {
		res.Columns = append(res.Columns, Column{Name: "Table_type"})
	}
	return res, nil
}
