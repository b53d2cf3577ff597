package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/ssld/ssld/sqlcmd"
)

// Handler is the one mysql.Handler of every listener. Every statement goes
// through sqlcmd.Executor.Run, and every error through sqlError.
//
// Concurrency: vitess calls a Handler serially per connection and
// concurrently across connections. Shared state (exec, log) is safe for
// concurrent use; per-connection state (*sqlcmd.Session) lives on the
// connection itself in mysql.Conn.ClientData and is only touched from that
// connection's goroutine.
type Handler struct {
	// shared
	exec      *sqlcmd.Executor
	transport string
	log       *slog.Logger
	hooks     Hooks
	procs     *procList      // the server's connection table, shared by its listeners
	tracker   SessionTracker // re-checks TLS sessions after reloads (sessions.go); nil when the TLSProvider cannot
}

var _ mysql.Handler = (*Handler)(nil)

func newHandler(exec *sqlcmd.Executor, transport string, log *slog.Logger, hooks Hooks, procs *procList) *Handler {
	if hooks == nil {
		hooks = noHooks{}
	}
	if procs == nil {
		procs = newProcList()
	}
	return &Handler{exec: exec, transport: transport, log: log, hooks: hooks, procs: procs}
}

// session returns the connection's session, creating it after login.
func (h *Handler) session(c *mysql.Conn) *sqlcmd.Session {
	if s, ok := c.ClientData.(*sqlcmd.Session); ok {
		return s
	}
	s := &sqlcmd.Session{
		ConnectionID: c.ConnectionID,
		User:         c.User,
		Transport:    h.transport,
		Vars:         map[string]string{},
	}
	if id, ok := c.UserData.(*identity); ok {
		s.Host = id.host
		s.Privileges = id.acct.privileges
	}
	s.TLS = connTLS(c.Conn)
	s.ServerCert = connServedCert(c.Conn)
	c.ClientData = s
	return s
}

// sqlError is the single funnel from Go errors to MySQL error packets.
// vitess writes the number and state of a *mysql.SQLError as they are, so it
// must be returned unwrapped.
// Every message is cut to sqlcmd.MaxMessageBytes (MySQL's
// MYSQL_ERRMSG_SIZE) on the way.
func sqlError(err error) error {
	if err == nil {
		return nil
	}
	var se *mysql.SQLError
	if errors.As(err, &se) {
		if len(se.Message) > sqlcmd.MaxMessageBytes {
			return &mysql.SQLError{Num: se.Num, State: se.State, Message: sqlcmd.CutMessage(se.Message)}
		}
		return se
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return mysql.NewSQLError(mysql.ERQueryInterrupted, mysql.SSQueryInterrupted, "Query execution was interrupted")
	}
	return mysql.NewSQLError(mysql.ERUnknownError, mysql.SSUnknownSQLState, "%s", sqlcmd.CutMessage(err.Error()))
}

// NewConnection implements mysql.Handler.
// The connection enters the process list; autocommit is on, as the OK
// packets' status flags tell drivers.
func (h *Handler) NewConnection(c *mysql.Conn) {
	h.procs.add(c)
	c.StatusFlags |= mysql.ServerStatusAutocommit
	h.hooks.ConnOpened(listenerLabel(h.transport))
}

// loggedIn is called by the auth server after a successful login, before
// the first command is read: the process list learns the user, and the
// commands vitess does not dispatch are hooked (see commandhook.go).
func (h *Handler) loggedIn(c *mysql.Conn, user string) {
	if p := h.procs.get(c.ConnectionID); p != nil {
		p.loggedIn(user)
		h.trackPeer(c, p, user)
	}
	if !hookCommands(c, h) {
		h.log.Debug("COM_STATISTICS, COM_PROCESS_INFO, COM_REFRESH and COM_PROCESS_KILL not hooked on this connection",
			"transport", h.transport, "remote", remoteString(c))
	}
}

// ConnectionClosed implements mysql.Handler.
func (h *Handler) ConnectionClosed(c *mysql.Conn) {
	c.ClientData = nil
	h.procs.remove(c.ConnectionID)
	h.hooks.ConnClosed(listenerLabel(h.transport))
}

// ConnectionAborted implements mysql.Handler.
func (h *Handler) ConnectionAborted(c *mysql.Conn, reason string) error {
	h.log.Debug("connection aborted", "transport", h.transport, "remote", remoteString(c), "reason", abortReason(reason))
	if gc, ok := c.Conn.(*guardedConn); ok && strings.HasPrefix(reason, "Cannot parse") {
		// vitess closes without a word on a handshake response it cannot
		// parse; MySQL and MariaDB answer 1043.
		_ = gc.refuse(erHandshake, mysql.SSNetError, "Bad handshake", errBadHandshake)
	}
	h.hooks.Login(listenerLabel(h.transport), false)
	return nil
}

// abortReason is vitess's reason for an aborted connection as ssld logs
// it: the user name it quotes cut to 32 characters, the whole at most 512
// bytes.
func abortReason(reason string) string {
	const prefix, suffix = "Error authenticating user ", " using: "
	if rest, ok := strings.CutPrefix(reason, prefix); ok {
		if i := strings.LastIndex(rest, suffix); i >= 0 {
			reason = prefix + sqlcmd.CutUserName(rest[:i]) + rest[i:]
		}
	}
	return sqlcmd.CutMessage(reason)
}

func remoteString(c *mysql.Conn) string {
	if c == nil || c.Conn == nil || c.Conn.RemoteAddr() == nil {
		return ""
	}
	return c.Conn.RemoteAddr().String()
}

// ComInitDB implements mysql.Handler: COM_INIT_DB is USE.
func (h *Handler) ComInitDB(c *mysql.Conn, schemaName string) error {
	_, err := h.exec.Exec(context.Background(), h.session(c), sqlcmd.Use{DB: schemaName})
	return sqlError(err)
}

// ComQuery implements mysql.Handler.
func (h *Handler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	return h.run(ctx, c, query, callback, false)
}

// ComMultiQuery implements mysql.Handler: it runs the first statement and
// returns the rest, which vitess hands back for the next one. The split
// (sqlcmd.SplitFirst) reads only the first statement, so a whole text
// costs time linear in its length. As in MySQL, the first statement that
// fails ends the text: its error is the last answer.
func (h *Handler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	first, rest := sqlcmd.SplitFirst(query)
	if err := h.run(ctx, c, first, callback, rest != ""); err != nil {
		return "", err
	}
	return rest, nil
}

func (h *Handler) run(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn, more bool) error {
	s := h.session(c)
	h.procs.questions.Add(1)
	if p := h.procs.get(c.ConnectionID); p != nil {
		var cancel context.CancelFunc
		ctx, cancel = p.begin(ctx, query)
		defer func() {
			cancel()
			p.end(s.DB)
		}()
	}
	res, err := h.exec.Run(ctx, s, query)
	// SET autocommit shows in the status flags of this and later packets.
	if v, ok := s.Vars["autocommit"]; ok && v == "OFF" {
		c.StatusFlags &^= mysql.ServerStatusAutocommit
	} else {
		c.StatusFlags |= mysql.ServerStatusAutocommit
	}
	if err != nil {
		return sqlError(err)
	}
	return callback(toSQLResult(res), more)
}

// toSQLResult converts an sqlcmd result into the vitess wire form.
func toSQLResult(r *sqlcmd.Result) *sqltypes.Result {
	out := &sqltypes.Result{RowsAffected: r.RowsAffected}
	if len(r.Columns) == 0 {
		return out
	}
	out.Fields = make([]*querypb.Field, len(r.Columns))
	for i, col := range r.Columns {
		f := &querypb.Field{Name: col.Name, Type: querypb.Type_VARCHAR, Charset: 33, ColumnLength: 1024}
		if col.Int {
			f = &querypb.Field{Name: col.Name, Type: querypb.Type_INT64, Charset: 63, ColumnLength: 21,
				Flags: uint32(querypb.MySqlFlag_NUM_FLAG)}
		}
		out.Fields[i] = f
	}
	out.Rows = make([][]sqltypes.Value, len(r.Rows))
	for i, row := range r.Rows {
		vals := make([]sqltypes.Value, len(r.Columns))
		for j := range vals {
			if j < len(row) {
				vals[j] = toValue(row[j])
			}
		}
		out.Rows[i] = vals
	}
	return out
}

func toValue(v any) sqltypes.Value {
	switch x := v.(type) {
	case nil:
		return sqltypes.NULL
	case string:
		return sqltypes.NewVarChar(x)
	case int64:
		return sqltypes.NewInt64(x)
	case int:
		return sqltypes.NewInt64(int64(x))
	case uint64:
		return sqltypes.NewVarChar(strconv.FormatUint(x, 10))
	case bool:
		if x {
			return sqltypes.NewInt64(1)
		}
		return sqltypes.NewInt64(0)
	default:
		return sqltypes.NewVarChar(fmt.Sprint(x))
	}
}

// notSupported is the answer to the binary protocol, which ssld does not
// implement: its statements are all text.
func notSupported(what string) error {
	return mysql.NewSQLError(mysql.ERNotSupportedYet, mysql.SSClientError, "This version of ssld doesn't yet support '%s'", what)
}

// ComPrepare implements mysql.Handler.
func (h *Handler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	// vitess stored the statement before asking; a refused one must not
	// stay in the connection's map until it closes.
	delete(c.PrepareData, prepare.StatementID)
	return nil, notSupported("prepared statements")
}

// ComStmtExecute implements mysql.Handler.
func (h *Handler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return notSupported("prepared statements")
}

// WarningCount implements mysql.Handler: the warnings the last statement
// raised (none for SHOW WARNINGS itself, which lists the previous ones).
func (h *Handler) WarningCount(c *mysql.Conn) uint16 {
	if s, ok := c.ClientData.(*sqlcmd.Session); ok {
		return uint16(min(s.StatementWarnings, 65535))
	}
	return 0
}

// ComResetConnection implements mysql.Handler: session variables and
// warnings are dropped, the login stays.
func (h *Handler) ComResetConnection(c *mysql.Conn) error {
	if s, ok := c.ClientData.(*sqlcmd.Session); ok {
		s.Vars = map[string]string{}
		s.Warnings, s.StatementWarnings = nil, 0
	}
	return nil
}

// ParserOptionsForConnection implements mysql.Handler.
func (h *Handler) ParserOptionsForConnection(c *mysql.Conn) (sqlparser.ParserOptions, error) {
	return sqlparser.ParserOptions{}, nil
}
