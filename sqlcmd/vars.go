package sqlcmd

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sysvars"
)

// varValue returns the value of a system variable for s at the given scope,
// or an *Error (1193 unknown, 1238 wrong scope).
func (x *Executor) varValue(s *Session, name string, scope VarScope) (sysvars.Var, string, *Error) {
	v, ok := x.env.Vars.Get(name)
	if !ok {
		return v, "", errUnknownVar(name)
	}
	switch scope {
	case ScopeGlobal:
		if v.Scope == sysvars.ScopeSession {
			return v, "", newError(mysql.ERIncorrectGlobalLocalVar, mysql.SSUnknownSQLState, "Variable '%s' is a SESSION variable", v.Name)
		}
		return v, v.Value(), nil
	case ScopeSession:
		if v.Scope == sysvars.ScopeGlobal {
			return v, "", newError(mysql.ERIncorrectGlobalLocalVar, mysql.SSUnknownSQLState, "Variable '%s' is a GLOBAL variable", v.Name)
		}
	}
	if val, ok := sessionValueOf(s, v); ok {
		return v, val, nil
	}
	return v, v.Value(), nil
}

// sessionValueOf is a session's own value of v: what SET stored, or, for
// warning_count and error_count, the counts of the previous statement's
// warnings (what SHOW COUNT(*) WARNINGS / ERRORS return).
func sessionValueOf(s *Session, v sysvars.Var) (string, bool) {
	if v.Scope == sysvars.ScopeGlobal || s == nil {
		return "", false
	}
	switch v.Name {
	case "warning_count", "error_count":
		n := 0
		for _, w := range s.Warnings {
			if v.Name == "warning_count" || w.Level == "Error" {
				n++
			}
		}
		return strconv.Itoa(n), true
	}
	val, ok := s.Vars[v.Name]
	return val, ok
}

// typedValue converts a variable's text to what SELECT @@v returns: BIGINT
// for KindInt and KindBool (1/0), VARCHAR otherwise.
func typedValue(v sysvars.Var, val string) (any, bool) {
	switch v.Kind {
	case sysvars.KindBool:
		if boolOn(val) {
			return int64(1), true
		}
		return int64(0), true
	case sysvars.KindInt:
		if n, ok := integer(val); ok {
			return n, true
		}
		return val, false
	}
	return val, false
}

// integer is decimal text as MySQL returns an integer: an int64, or a
// uint64 above its range (BIGINT UNSIGNED).
func integer(s string) (any, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, true
	}
	return nil, false
}

func boolOn(val string) bool {
	switch strings.ToUpper(strings.TrimSpace(val)) {
	case "ON", "1", "TRUE", "YES":
		return true
	}
	return false
}

// normaliseBool maps the accepted spellings of a boolean to ON/OFF.
func normaliseBool(val string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(val)) {
	case "ON", "1", "TRUE":
		return "ON", true
	case "OFF", "0", "FALSE":
		return "OFF", true
	}
	return "", false
}

// set executes SET: session variables go into s.Vars; ssld's global values
// come from the config file, so SET GLOBAL is refused (1238 for read-only
// variables, 1235 otherwise). Assignments run in order, each seeing the ones
// before it (SET @a = @@sql_mode, sql_mode = 'ANSI'), on a copy of the session's
// variables that replaces them only when every assignment succeeded: a
// failing SET changes nothing.
func (x *Executor) set(s *Session, c Set) (*Result, *Error) {
	staged := *s
	staged.Vars = make(map[string]string, len(s.Vars)+len(c.Assignments))
	for k, v := range s.Vars {
		staged.Vars[k] = v
	}
	for _, a := range c.Assignments {
		if a.Expr != nil {
			v, err := x.eval(&staged, a.Expr)
			if err != nil {
				return nil, err
			}
			a.Null, a.Value = v == nil, text(v)
		}
		if a.User {
			if a.Null {
				delete(staged.Vars, "@"+a.Name)
			} else {
				staged.Vars["@"+a.Name] = a.Value
			}
			continue
		}
		v, ok := x.env.Vars.Get(a.Name)
		if !ok {
			return nil, errUnknownVar(a.Name)
		}
		if v.ReadOnly {
			return nil, errReadOnly(v.Name)
		}
		switch {
		case a.Scope == ScopeGlobal:
			return nil, errNotSupported("SET GLOBAL " + v.Name + " (global values come from the ssld config file)")
		case v.Scope == sysvars.ScopeGlobal:
			return nil, newError(mysql.ERGlobalVariable, mysql.SSUnknownSQLState,
				"Variable '%s' is a GLOBAL variable and should be set with SET GLOBAL", v.Name)
		}
		if a.Default {
			for _, name := range append([]string{v.Name}, coupled(v.Name)...) {
				delete(staged.Vars, name)
			}
			continue
		}
		_, current, _ := x.varValue(&staged, v.Name, ScopeDefault)
		vals, err := sessionValue(v, current, a.Value, a.Null)
		if err != nil {
			return nil, err
		}
		for name, val := range vals {
			staged.Vars[name] = val
		}
	}
	if err := checkVarBounds(staged.Vars); err != nil {
		return nil, err
	}
	s.Vars = staged.Vars
	return &Result{}, nil
}

// Per-session bounds: a connection's variables live as long as it does, so
// their number and size are capped (MySQL bounds them only by memory).
const (
	MaxUserVariables = 256      // user variables (@name) per session
	MaxVarValueBytes = 64 << 10 // bytes of one user or session variable's value
)

// checkVarBounds refuses a SET that would leave the session over the
// bounds; the session then keeps its previous variables.
func checkVarBounds(vars map[string]string) *Error {
	users := 0
	for name, v := range vars {
		if strings.HasPrefix(name, "@") {
			users++
		}
		if len(v) > MaxVarValueBytes {
			return newError(mysql.ERWrongValueForVar, mysql.SSClientError,
				"Variable '%s' can't be set to a value of %d bytes: ssld keeps at most %d bytes per variable", name, len(v), MaxVarValueBytes)
		}
	}
	if users > MaxUserVariables {
		return newError(mysql.ERWrongValueForVar, mysql.SSClientError,
			"Too many user variables: a session keeps at most %d in ssld (SET @name = NULL drops one)", MaxUserVariables)
	}
	return nil
}

// selectCmd executes a FROM-less SELECT: one row, or none under LIMIT 0 /
// OFFSET >= 1.
func (x *Executor) selectCmd(s *Session, c Select) (*Result, *Error) {
	res := &Result{Rows: [][]any{}}
	row := make([]any, 0, len(c.Items))
	for _, it := range c.Items {
		col := Column{Name: it.Column}
		var val any
		switch it.Kind {
		case ItemLiteral:
			val = it.Value
			switch val.(type) {
			case int64, uint64:
				col.Int = true
			}
		case ItemUserVar:
			if v, ok := s.Vars["@"+it.Name]; ok {
				val = v
			}
		case ItemSysVar:
			v, raw, err := x.varValue(s, it.Name, it.Scope)
			if err != nil {
				return nil, err
			}
			val, col.Int = typedValue(v, raw)
		case ItemFunc:
			val, col.Int = x.function(s, it.Name)
		case ItemExpr:
			v, err := x.eval(s, it.Expr)
			if err != nil {
				return nil, err
			}
			val = v
			switch v.(type) {
			case int64, uint64:
				col.Int = true
			}
		}
		res.Columns = append(res.Columns, col)
		row = append(row, val)
	}
	if (c.Limit == nil || *c.Limit > 0) && c.Offset == 0 {
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

func (x *Executor) function(s *Session, name string) (any, bool) {
	switch name {
	case "version":
		if v, ok := x.env.Vars.Get("version"); ok {
			return v.Value(), false
		}
		return "", false
	case "database", "schema":
		if s.DB == "" {
			return nil, false
		}
		return s.DB, false
	case "user", "session_user", "system_user":
		return s.User + "@" + s.Host, false
	case "current_user":
		// ssld accounts are not host-qualified, so the matched account is
		// user@'%', as MySQL would print it.
		return s.User + "@%", false
	case "connection_id":
		return uint64(s.ConnectionID), true
	}
	return nil, false
}
