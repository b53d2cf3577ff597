package sqlcmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// Warning is one row of SHOW WARNINGS.
type Warning struct {
	Level   string // "Note", "Warning" or "Error"
	Code    uint16
	Message string
}

// Column is a result column. Int columns are BIGINT, all others VARCHAR.
type Column struct {
	Name string
	Int  bool
}

// Result is a statement's outcome: a result set when Columns is non-empty,
// otherwise an OK packet with RowsAffected. Row values are nil (NULL),
// string, int64 or uint64.
type Result struct {
	Columns      []Column
	Rows         [][]any
	RowsAffected uint64
	Warnings     []Warning
}

// Reloader reloads the TLS contexts; *tlsctx.Manager implements it. Reload
// must be safe for concurrent use and return a *tlsctx.ReloadError on failure.
type Reloader interface {
	Reload(ctx context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error)
}

// Certs returns the live snapshot of a channel; *tlsctx.Manager implements it.
// Current must be safe for concurrent use; nil means "no such channel".
type Certs interface {
	Current(ch tlsctx.Channel) *tlsctx.Snapshot
}

// UsersReloader rereads the accounts (FLUSH PRIVILEGES). ReloadUsers must
// apply all of them or none, be safe for concurrent use, and return an
// error naming the file, the entry and the reason when it applies none;
// by is who asked ("admin@localhost"), for the log. Warnings are non-fatal
// findings.
type UsersReloader interface {
	ReloadUsers(ctx context.Context, by string) (warnings []string, err error)
}

// Node is one cluster member for SHOW AGGREGATORS / SHOW LEAVES.
type Node struct {
	Host  string
	Port  int
	Role  string // aggregators: "master" (or "leader") marks the master aggregator
	State string // "" is reported as "online"
}

// Env is what statements execute against. It is shared by all connections
// and must not be modified after NewExecutor; every function in it must be
// safe for concurrent use. Nil fields disable what needs them: a nil
// Reloader makes reloads fail with 3888, nil Topology gives empty
// SHOW AGGREGATORS / LEAVES, nil Accounts makes SHOW GRANTS describe only
// the session's own privileges, nil ThreadsConnected omits Threads_connected.
type Env struct {
	Reloader Reloader
	// Validator answers CHECK TLS; when nil, Reloader is used if it
	// implements Validator too (*tlsctx.Manager does).
	Validator Validator
	Certs     Certs
	Vars      *sysvars.Registry
	Topology  func() (aggregators, leaves []Node)
	// Accounts looks up the account SHOW GRANTS describes.
	Accounts func(user string) (Account, bool)
	Started  time.Time
	// Users, if set, is what FLUSH PRIVILEGES runs; nil makes it fail
	// with 1105.
	Users UsersReloader

	// ThreadsConnected, if set, reports the number of open connections for
	// SHOW STATUS (an addition to the shared contract).
	ThreadsConnected func() int

	// Processes, if set, is the connection table of SHOW PROCESSLIST and
	// KILL, and counts Questions; nil gives an empty process list and
	// 1094 for every KILL.
	Processes Processes
}

// TLSAcceptCounter is implemented by a Processes whose server counts TLS
// handshakes per channel: SHOW STATUS reports the client channel's as
// Ssl_accepts (every handshake) and Ssl_finished_accepts (completed ones),
// and a successful reload statement resets the reloaded channels' counts,
// as MariaDB's FLUSH SSL does. Safe for concurrent use.
type TLSAcceptCounter interface {
	SSLAccepts(ch tlsctx.Channel) (accepts, finished uint64)
	ResetSSLAccepts(ch tlsctx.Channel)
}

// SSLSession is one open TLS session with a client certificate, as SHOW
// SSL SESSIONS lists it.
type SSLSession struct {
	ID                      uint32
	User, Host              string
	Channel                 tlsctx.Channel
	PeerSubject, PeerSerial string
	// TrustedNow is tlsctx.TrustYes, or why the live material no longer
	// trusts the peer (revoked, CA no longer trusted, expired).
	TrustedNow string
}

// SSLSessionLister is implemented by a Processes whose server tracks its
// TLS sessions with a client certificate (SHOW SSL SESSIONS). Safe for
// concurrent use.
type SSLSessionLister interface {
	SSLSessions() []SSLSession
}

// PanicCounter is implemented by a Processes whose server counts the
// panics it recovered in connection goroutines (each closed its
// connection); SHOW STATUS reports the count as Ssld_recovered_panics.
type PanicCounter interface {
	RecoveredPanics() int64
}

// Session is the per-connection state. The protocol layer serialises calls
// per connection, so a Session is never used concurrently; Exec and Run
// mutate it (USE, SET, warnings).
type Session struct {
	ConnectionID uint32
	User, Host   string
	Privileges   []string // upper-case, e.g. "SUPER"
	DB           string
	TLS          *tls.ConnectionState // nil = no TLS
	Transport    string               // "tcp", "unix" or "cluster"
	Vars         map[string]string    // session overrides, lower-case names; user variables as "@name"
	Warnings     []Warning            // warnings of the previous statement (SHOW WARNINGS)
	// StatementWarnings is the number of warnings the last statement raised
	// itself: the warning count of its OK or EOF packet. It equals
	// len(Warnings), except after SHOW WARNINGS / SHOW ERRORS, which keep
	// the list and raise none.
	StatementWarnings int
	// CloseAfterReply is set by KILL of the session's own connection: the
	// protocol layer closes the connection once the answer is sent.
	CloseAfterReply bool
	// ServerCert is the leaf certificate this session's TLS handshake
	// got (nil without TLS): SHOW STATUS reports its dates, so a session
	// keeps reporting its own certificate after a reload.
	ServerCert *x509.Certificate
}

// HasPrivilege reports whether the session holds priv (case-insensitive);
// ALL and ALL PRIVILEGES imply every privilege.
func (s *Session) HasPrivilege(priv string) bool {
	for _, p := range s.Privileges {
		p = strings.ToUpper(strings.TrimSpace(p))
		if p == strings.ToUpper(priv) || p == "ALL" || p == "ALL PRIVILEGES" {
			return true
		}
	}
	return false
}

// Executor runs commands against an Env. It holds no per-connection state
// and is safe for concurrent use by many connections.
type Executor struct {
	env *Env
	now func() time.Time // seam for tests
}

// NewExecutor returns an Executor over env (which must not be nil).
func NewExecutor(env *Env) *Executor {
	if env == nil {
		env = &Env{}
	}
	if env.Vars == nil {
		env.Vars = sysvars.NewRegistry()
	}
	return &Executor{env: env, now: time.Now}
}

// Run is the one funnel for a statement from the wire: Parse, the SUPER check
// (1227) and Exec. It records the statement's warnings (or its error, as an
// "Error" warning) in s.Warnings for SHOW WARNINGS, except that SHOW WARNINGS
// and SHOW ERRORS leave them as they are, as in MySQL. The error is always an
// *Error; a panic in a command is recovered and reported as 1105 so that a
// bug cannot kill the connection.
func (x *Executor) Run(ctx context.Context, s *Session, query string) (res *Result, err error) {
	if s == nil {
		return nil, errInternal()
	}
	cmd, perr := Parse(query)
	if perr != nil {
		e, ok := perr.(*Error)
		if !ok {
			e = errInternal()
		}
		s.Warnings, s.StatementWarnings = []Warning{{Level: "Error", Code: uint16(e.Num), Message: CutMessage(e.Message)}}, 0
		return nil, e
	}
	return x.Exec(ctx, s, cmd)
}

// Exec executes an already parsed command. It performs the same privilege
// check as Run, so calling it directly cannot bypass SUPER. Concurrency and
// error contract as for Run.
func (x *Executor) Exec(ctx context.Context, s *Session, cmd Command) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, errInternal()
		}
		if s == nil {
			return
		}
		_, isShowWarnings := cmd.(ShowWarnings)
		switch {
		case err != nil:
			if e, ok := err.(*Error); ok {
				e.Message = CutMessage(e.Message)
				s.Warnings = []Warning{{Level: "Error", Code: uint16(e.Num), Message: e.Message}}
			}
			s.StatementWarnings = 0
		case isShowWarnings:
			// SHOW WARNINGS keeps the list and raises no warning itself.
			s.StatementWarnings = 0
		case res != nil:
			s.Warnings, s.StatementWarnings = keptWarnings(res.Warnings)
		}
	}()
	if s == nil {
		return nil, errInternal()
	}
	if cmd == nil {
		return nil, newError(mysql.EREmptyQuery, mysql.SSClientError, "Query was empty")
	}
	if cmd.RequiresSuper() && !s.HasPrivilege("SUPER") {
		if !reloadStatement(cmd) {
			return nil, errSuperRequired()
		}
		// MySQL 8 needs CONNECTION_ADMIN for ALTER INSTANCE RELOAD TLS;
		// SingleStore needs SUPER for SSL_RELOAD: either reloads.
		if !s.HasPrivilege("CONNECTION_ADMIN") {
			return nil, errReloadPrivilege()
		}
	}
	r, e := x.exec(ctx, s, cmd)
	if e != nil {
		return nil, e
	}
	return r, nil
}

// reloadStatement reports whether cmd is a reload (SSL_RELOAD, ALTER
// INSTANCE RELOAD TLS, FLUSH SSL) or its pre-flight (CHECK TLS): SUPER or
// CONNECTION_ADMIN runs them.
func reloadStatement(cmd Command) bool {
	switch cmd.(type) {
	case Reload, CheckTLS:
		return true
	}
	return false
}

func (x *Executor) exec(ctx context.Context, s *Session, cmd Command) (*Result, *Error) {
	switch c := cmd.(type) {
	case Reload:
		return x.reload(ctx, s, c)
	case FlushPrivileges:
		return x.flushPrivileges(ctx, s)
	case CheckTLS:
		return x.checkTLS(ctx, c)
	case ShowVariables:
		return x.showVariables(s, c)
	case ShowStatus:
		return x.showStatus(s, c)
	case ShowSSLStatus:
		return x.showSSLStatus(), nil
	case ShowSSLHistory:
		return x.showSSLHistory(), nil
	case ShowSSLSessions:
		return x.showSSLSessions(s), nil
	case ShowAggregators:
		return x.showAggregators(), nil
	case ShowLeaves:
		return x.showLeaves(), nil
	case ShowGrants:
		return x.showGrants(s, c)
	case ShowWarnings:
		return showWarnings(s, c), nil
	case ShowDatabases:
		return &Result{Columns: []Column{{Name: "Database"}}, Rows: [][]any{{informationSchema}}}, nil
	case Use:
		if !strings.EqualFold(c.DB, informationSchema) {
			return nil, newError(mysql.ERBadDb, mysql.SSClientError, "Unknown database '%s'", c.DB)
		}
		s.DB = informationSchema
		return &Result{}, nil
	case Select:
		return x.selectCmd(s, c)
	case Set:
		return x.set(s, c)
	case Nop:
		return &Result{}, nil
	case ShowProcesslist:
		return x.showProcesslist(s, c), nil
	case Kill:
		return x.kill(s, c)
	case Flush:
		return &Result{}, nil
	case ShowTables:
		return x.showTables(s, c)
	case SelectTLSChannelStatus:
		return x.selectTLSChannelStatus(c), nil
	case SelectEmpty:
		res := &Result{Rows: [][]any{}}
		for _, name := range c.Columns {
			res.Columns = append(res.Columns, Column{Name: name})
		}
		return res, nil
	}
	return nil, errNotSupported(fmt.Sprintf("%T", cmd))
}

// informationSchema is the only database ssld reports; it exists so that
// clients that USE it or list databases are content.
const informationSchema = "information_schema"

// MaxKeptWarnings is how many warnings a session keeps for SHOW WARNINGS:
// MySQL's max_error_count default (1024). The warning count of the
// statement still counts them all, as MySQL's warning_count does.
const MaxKeptWarnings = 1024

// keptWarnings is what a session keeps of a statement's warnings: each
// finding once (SHOW WARNINGS lists it once), its message cut to
// MaxMessageBytes, at most MaxKeptWarnings of them, the last of which, when
// there are more, is a note saying how many were left out; and the
// statement's warning count (the distinct findings, kept or not).
func keptWarnings(ws []Warning) ([]Warning, int) {
	var out []Warning
	seen := make(map[Warning]bool, len(ws))
	n := 0
	for _, w := range ws {
		w.Message = CutMessage(w.Message)
		if seen[w] {
			continue
		}
		seen[w] = true
		n++
		if len(out) < MaxKeptWarnings {
			out = append(out, w)
		}
	}
	if n > MaxKeptWarnings {
		out[MaxKeptWarnings-1] = Warning{Level: "Note", Code: mysql.ERUnknownError,
			Message: fmt.Sprintf("%d more warnings were left out (max_error_count is %d)", n-(MaxKeptWarnings-1), MaxKeptWarnings)}
	}
	return out, n
}

func showWarnings(s *Session, c ShowWarnings) *Result {
	var ws []Warning
	for _, w := range s.Warnings {
		if !c.ErrorsOnly || w.Level == "Error" {
			ws = append(ws, w)
		}
	}
	if c.Count {
		name := "@@session.warning_count"
		if c.ErrorsOnly {
			name = "@@session.error_count"
		}
		return &Result{Columns: []Column{{Name: name, Int: true}}, Rows: [][]any{{int64(len(ws))}}}
	}
	res := &Result{Columns: []Column{{Name: "Level"}, {Name: "Code", Int: true}, {Name: "Message"}}, Rows: [][]any{}}
	for _, w := range ws {
		res.Rows = append(res.Rows, []any{w.Level, int64(w.Code), w.Message})
	}
	return res
}
