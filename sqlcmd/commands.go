// Package sqlcmd turns a statement into a typed command (Parse) and executes
// it against the interfaces it is given (Executor.Exec). Executor.Run is the
// one funnel the protocol layer calls: Parse, SUPER check, Exec.
//
// ssld's own statements (SSL_RELOAD, ALTER INSTANCE RELOAD TLS, FLUSH SSL,
// SHOW SSL STATUS, SHOW SSL HISTORY, SHOW AGGREGATORS, SHOW LEAVES) are recognised here; every
// other statement goes through dolthub/vitess's sqlparser. sqlcmd never opens
// sockets.
package sqlcmd

import (
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/ssld/ssld/tlsctx"
)

// Command is a parsed statement. Commands are plain values, safe to share.
type Command interface {
	// RequiresSuper reports whether the statement needs the SUPER privilege.
	RequiresSuper() bool
}

// Reload syntaxes, as stored in Reload.Syntax.
const (
	SyntaxSSLReload     = "SSL_RELOAD"
	SyntaxAlterInstance = "ALTER INSTANCE RELOAD TLS"
	SyntaxFlushSSL      = "FLUSH SSL"
)

// Reload reloads the TLS contexts: SSL_RELOAD (SingleStore), ALTER INSTANCE
// RELOAD TLS (MySQL) or FLUSH SSL (MariaDB).
type Reload struct {
	Syntax     string         // SyntaxSSLReload, SyntaxAlterInstance or SyntaxFlushSSL
	Channel    tlsctx.Channel // "" = all channels
	NoRollback bool           // NO ROLLBACK ON ERROR was given (accepted, see Exec)
}

// FlushPrivileges is FLUSH PRIVILEGES (what mariadb-admin reload and
// mysqladmin reload send): reread the accounts from the config file.
type FlushPrivileges struct{}

// RequiresSuper implements Command.
func (FlushPrivileges) RequiresSuper() bool { return true }

// FilterKind selects how a Filter matches.
type FilterKind uint8

const (
	FilterNone  FilterKind = iota // no LIKE / WHERE
	FilterLike                    // LIKE pattern (Patterns[0])
	FilterEqual                   // = value (Patterns[0]), case-insensitive
	FilterIn                      // IN (Patterns...), case-insensitive
)

// Filter is the LIKE or the supported WHERE of SHOW VARIABLES / SHOW STATUS:
// one comparison on the Variable_name or Value column.
type Filter struct {
	Kind     FilterKind
	Column   string // "Variable_name" or "Value"; "" means Variable_name
	Patterns []string
	Negate   bool // NOT LIKE, !=, NOT IN
}

// ShowVariables is SHOW [GLOBAL|SESSION] VARIABLES [LIKE ... | WHERE ...].
type ShowVariables struct {
	Global bool
	Filter Filter
}

// ShowStatus is SHOW [GLOBAL|SESSION] STATUS [LIKE ... | WHERE ...].
type ShowStatus struct {
	Global bool
	Filter Filter
}

// ShowSSLStatus is SHOW SSL STATUS: one row per TLS channel.
type ShowSSLStatus struct{}

// ShowSSLHistory is SHOW SSL HISTORY: the last loads of TLS material
// (start-up and reload attempts), newest first, one row per channel.
type ShowSSLHistory struct{}

// ShowSSLSessions is SHOW SSL SESSIONS: the open TLS sessions with a
// client certificate and whether the live CA set and CRLs still trust it.
type ShowSSLSessions struct{}

// ShowAggregators is SHOW AGGREGATORS [EXTENDED].
type ShowAggregators struct{}

// ShowLeaves is SHOW LEAVES.
type ShowLeaves struct{}

// ShowGrants is SHOW GRANTS [FOR user[@host] | FOR CURRENT_USER[()]].
type ShowGrants struct {
	User string // "" = the current user
	Host string
}

// ShowWarnings is SHOW WARNINGS, SHOW ERRORS (ErrorsOnly) and their
// COUNT(*) forms (Count).
type ShowWarnings struct {
	ErrorsOnly bool
	Count      bool
}

// ShowDatabases is SHOW DATABASES / SHOW SCHEMAS.
type ShowDatabases struct{}

// Use is USE db.
type Use struct{ DB string }

// ItemKind is what a SELECT item evaluates.
type ItemKind uint8

const (
	ItemLiteral ItemKind = iota // Value holds nil, string, int64 or uint64
	ItemSysVar                  // @@[global.|session.]Name
	ItemUserVar                 // @Name
	ItemFunc                    // Name() without arguments: VERSION, DATABASE, ...
	ItemExpr                    // an expression the evaluator knows (Expr)
)

// VarScope says which value of a variable a statement means.
type VarScope uint8

const (
	ScopeDefault VarScope = iota // @@x / SET x: session value if any, else global
	ScopeSession                 // @@session.x, SET SESSION x
	ScopeGlobal                  // @@global.x, SET GLOBAL x
)

// SelectItem is one output column of a Select.
type SelectItem struct {
	Column string // result column name (alias, or the expression as typed)
	Kind   ItemKind
	Name   string         // variable or function name, lower-case
	Scope  VarScope       // for ItemSysVar
	Value  any            // for ItemLiteral
	Expr   sqlparser.Expr // for ItemExpr; never modified after Parse
}

// Select is a FROM-less SELECT of literals, variables and the session
// functions clients use (SELECT @@version_comment LIMIT 1, SELECT 1, ...).
type Select struct {
	Items  []SelectItem
	Limit  *uint64 // nil = no LIMIT
	Offset uint64
}

// Assignment is one SET target.
type Assignment struct {
	Name    string   // lower-case variable name; for user variables without the '@'
	Scope   VarScope // ignored when User
	User    bool     // @name = ...
	Value   string
	Null    bool // value is NULL
	Default bool // value is DEFAULT
	// Expr, when set, is evaluated when the statement runs (it reads
	// variables: SET sql_mode = CONCAT(@@sql_mode, ',X')); Value, Null and
	// Default are then unused. It is never modified after Parse.
	Expr sqlparser.Expr
}

// Set is SET ..., SET NAMES ..., SET [SESSION] TRANSACTION ...
type Set struct {
	Assignments []Assignment
}

// Nop is a statement accepted and ignored: BEGIN, COMMIT, ROLLBACK. ssld has
// no data, so there is nothing to commit.
type Nop struct{ Statement string }

// RequiresSuper implements Command.
func (Reload) RequiresSuper() bool { return true }

// RequiresSuper implements Command.
func (ShowVariables) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowStatus) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowSSLStatus) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowSSLHistory) RequiresSuper() bool { return false }

// RequiresSuper implements Command: any user sees their own sessions,
// SUPER all (as SHOW PROCESSLIST).
func (ShowSSLSessions) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowAggregators) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowLeaves) RequiresSuper() bool { return false }

// RequiresSuper implements Command. SHOW GRANTS FOR another user is checked
// in Exec (it needs SUPER only when the user differs).
func (ShowGrants) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowWarnings) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (ShowDatabases) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (Use) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (Select) RequiresSuper() bool { return false }

// RequiresSuper implements Command. SET GLOBAL is refused for every ssld
// variable (they come from the config file), so no privilege is needed to be
// told so.
func (Set) RequiresSuper() bool { return false }

// RequiresSuper implements Command.
func (Nop) RequiresSuper() bool { return false }
