package sqlcmd

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// The expressions drivers send in SET and SELECT are evaluated here, over
// vitess's AST: literals, @@system and @user variables, CONCAT, CONCAT_WS,
// IF, IFNULL, COALESCE, NULLIF, UPPER, LOWER, REPLACE, comparisons with =,
// <=>, != and <>, IS [NOT] NULL, NOT, AND, OR and parentheses. Anything else
// is 1235, naming what is not supported. Values are nil (NULL), string,
// int64 or uint64, as in Result rows.

// maxEvalDepth bounds the nesting of an expression, so that a hostile
// statement cannot exhaust the stack.
const maxEvalDepth = 64

// evalFuncs are the functions the evaluator knows, with their argument
// counts (min, max; -1 = any).
var evalFuncs = map[string][2]int{
	"concat": {1, -1}, "concat_ws": {2, -1}, "if": {3, 3}, "ifnull": {2, 2}, "coalesce": {1, -1},
	"nullif": {2, 2}, "upper": {1, 1}, "ucase": {1, 1}, "lower": {1, 1}, "lcase": {1, 1}, "replace": {3, 3},
}

// evaluable reports whether e is made only of what the evaluator knows; it
// returns the 1235 error for the first part it does not.
func evaluable(e sqlparser.Expr, depth int) *Error {
	if depth > maxEvalDepth {
		return errNotSupported("expressions nested deeper than " + strconv.Itoa(maxEvalDepth))
	}
	switch x := e.(type) {
	case *sqlparser.SQLVal, *sqlparser.NullVal, sqlparser.BoolVal:
		return nil
	case *sqlparser.ColName:
		if !x.Qualifier.IsEmpty() || !strings.HasPrefix(x.Name.String(), "@") {
			return newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'field list'", x.Name.String())
		}
		return nil
	case *sqlparser.ParenExpr:
		return evaluable(x.Expr, depth+1)
	case *sqlparser.UnaryExpr:
		if x.Operator != sqlparser.UMinusStr && x.Operator != sqlparser.UPlusStr {
			break
		}
		return evaluable(x.Expr, depth+1)
	case *sqlparser.NotExpr:
		return evaluable(x.Expr, depth+1)
	case *sqlparser.IsExpr:
		if x.Operator != sqlparser.IsNullStr && x.Operator != sqlparser.IsNotNullStr {
			break
		}
		return evaluable(x.Expr, depth+1)
	case *sqlparser.AndExpr:
		return firstErr(evaluable(x.Left, depth+1), evaluable(x.Right, depth+1))
	case *sqlparser.OrExpr:
		return firstErr(evaluable(x.Left, depth+1), evaluable(x.Right, depth+1))
	case *sqlparser.ComparisonExpr:
		switch x.Operator {
		case sqlparser.EqualStr, sqlparser.NotEqualStr, "<>", sqlparser.NullSafeEqualStr:
			if x.Escape == nil {
				return firstErr(evaluable(x.Left, depth+1), evaluable(x.Right, depth+1))
			}
		}
	case *sqlparser.FuncExpr:
		name := strings.ToLower(x.Name.String())
		n, ok := evalFuncs[name]
		if !ok || !x.Qualifier.IsEmpty() || x.Distinct || x.Over != nil {
			if sessionFuncs[name] && len(x.Exprs) == 0 {
				return nil
			}
			return errNotSupported("function " + strings.ToUpper(x.Name.String()) + "()")
		}
		if len(x.Exprs) < n[0] || (n[1] >= 0 && len(x.Exprs) > n[1]) {
			return newError(ErrWrongParamCount, mysql.SSClientError, "Incorrect parameter count in the call to native function '%s'", x.Name.String())
		}
		for _, a := range x.Exprs {
			ae, ok := a.(*sqlparser.AliasedExpr)
			if !ok {
				return errNotSupported("* as a function argument")
			}
			if err := evaluable(ae.Expr, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return errNotSupported("expression '" + sqlparser.String(e) + "'")
}

func firstErr(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// eval evaluates an expression that evaluable accepted, for session s.
func (x *Executor) eval(s *Session, e sqlparser.Expr) (any, *Error) {
	if err := evaluable(e, 0); err != nil {
		return nil, err
	}
	return x.evalExpr(s, e)
}

func (x *Executor) evalExpr(s *Session, e sqlparser.Expr) (any, *Error) {
	switch v := e.(type) {
	case *sqlparser.SQLVal:
		return literal(v)
	case *sqlparser.NullVal:
		return nil, nil
	case sqlparser.BoolVal:
		return boolInt(bool(v)), nil
	case *sqlparser.ParenExpr:
		return x.evalExpr(s, v.Expr)
	case *sqlparser.ColName:
		return x.evalVarRef(s, v)
	case *sqlparser.UnaryExpr:
		val, err := x.evalExpr(s, v.Expr)
		if err != nil || val == nil || v.Operator == sqlparser.UPlusStr {
			return val, err
		}
		return negate(val), nil
	case *sqlparser.NotExpr:
		val, err := x.evalExpr(s, v.Expr)
		if err != nil || val == nil {
			return nil, err
		}
		return boolInt(!truthy(val)), nil
	case *sqlparser.IsExpr:
		val, err := x.evalExpr(s, v.Expr)
		if err != nil {
			return nil, err
		}
		return boolInt((val == nil) == (v.Operator == sqlparser.IsNullStr)), nil
	case *sqlparser.AndExpr, *sqlparser.OrExpr:
		return x.evalLogic(s, v)
	case *sqlparser.ComparisonExpr:
		l, err := x.evalExpr(s, v.Left)
		if err != nil {
			return nil, err
		}
		r, err := x.evalExpr(s, v.Right)
		if err != nil {
			return nil, err
		}
		if v.Operator == sqlparser.NullSafeEqualStr {
			if l == nil || r == nil {
				return boolInt(l == nil && r == nil), nil
			}
			return boolInt(equal(l, r)), nil
		}
		if l == nil || r == nil {
			return nil, nil
		}
		eq := equal(l, r)
		if v.Operator != sqlparser.EqualStr {
			eq = !eq
		}
		return boolInt(eq), nil
	case *sqlparser.FuncExpr:
		return x.evalFunc(s, v)
	}
	return nil, errNotSupported("expression '" + sqlparser.String(e) + "'")
}

// evalVarRef reads @@[scope.]name or @name.
func (x *Executor) evalVarRef(s *Session, c *sqlparser.ColName) (any, *Error) {
	col, scope, specified, err := varScopeForColName(c)
	if err != nil {
		return nil, errSyntax(sqlparser.String(c))
	}
	name := strings.ToLower(col.Name.String())
	switch scope {
	case sqlparser.SetScope_User:
		if v, ok := s.Vars["@"+name]; ok {
			return v, nil
		}
		return nil, nil
	case sqlparser.SetScope_Session, sqlparser.SetScope_Global:
		sc := ScopeDefault
		switch {
		case scope == sqlparser.SetScope_Global:
			sc = ScopeGlobal
		case specified != "":
			sc = ScopeSession
		}
		v, text, e := x.varValue(s, name, sc)
		if e != nil {
			return nil, e
		}
		val, _ := typedValue(v, text)
		return val, nil
	}
	return nil, newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'field list'", c.Name.String())
}

func (x *Executor) evalLogic(s *Session, e sqlparser.Expr) (any, *Error) {
	var left, right sqlparser.Expr
	and := false
	switch v := e.(type) {
	case *sqlparser.AndExpr:
		left, right, and = v.Left, v.Right, true
	case *sqlparser.OrExpr:
		left, right = v.Left, v.Right
	}
	l, err := x.evalExpr(s, left)
	if err != nil {
		return nil, err
	}
	r, err := x.evalExpr(s, right)
	if err != nil {
		return nil, err
	}
	// SQL's three-valued logic.
	if and {
		if (l != nil && !truthy(l)) || (r != nil && !truthy(r)) {
			return int64(0), nil
		}
		if l == nil || r == nil {
			return nil, nil
		}
		return int64(1), nil
	}
	if (l != nil && truthy(l)) || (r != nil && truthy(r)) {
		return int64(1), nil
	}
	if l == nil || r == nil {
		return nil, nil
	}
	return int64(0), nil
}

func (x *Executor) evalFunc(s *Session, f *sqlparser.FuncExpr) (any, *Error) {
	name := strings.ToLower(f.Name.String())
	if _, ok := evalFuncs[name]; !ok {
		v, _ := x.function(s, name)
		return v, nil
	}
	args := make([]any, 0, len(f.Exprs))
	argExpr := func(i int) sqlparser.Expr { return f.Exprs[i].(*sqlparser.AliasedExpr).Expr }
	// IF evaluates only the branch it takes; the rest evaluate all arguments.
	if name == "if" {
		c, err := x.evalExpr(s, argExpr(0))
		if err != nil {
			return nil, err
		}
		if c != nil && truthy(c) {
			return x.evalExpr(s, argExpr(1))
		}
		return x.evalExpr(s, argExpr(2))
	}
	for i := range f.Exprs {
		v, err := x.evalExpr(s, argExpr(i))
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	switch name {
	case "concat":
		var b strings.Builder
		for _, a := range args {
			if a == nil {
				return nil, nil
			}
			b.WriteString(text(a))
		}
		return b.String(), nil
	case "concat_ws":
		if args[0] == nil {
			return nil, nil
		}
		var parts []string
		for _, a := range args[1:] {
			if a != nil {
				parts = append(parts, text(a))
			}
		}
		return strings.Join(parts, text(args[0])), nil
	case "ifnull", "coalesce":
		for _, a := range args {
			if a != nil {
				return a, nil
			}
		}
		return nil, nil
	case "nullif":
		if args[0] != nil && args[1] != nil && equal(args[0], args[1]) {
			return nil, nil
		}
		return args[0], nil
	case "upper", "ucase", "lower", "lcase":
		if args[0] == nil {
			return nil, nil
		}
		if name == "upper" || name == "ucase" {
			return strings.ToUpper(text(args[0])), nil
		}
		return strings.ToLower(text(args[0])), nil
	case "replace":
		for _, a := range args {
			if a == nil {
				return nil, nil
			}
		}
		if text(args[1]) == "" {
			return text(args[0]), nil
		}
		return strings.ReplaceAll(text(args[0]), text(args[1]), text(args[2])), nil
	}
	return nil, errNotSupported("function " + strings.ToUpper(name) + "()")
}

// text renders a value the way MySQL converts it to a string.
func text(v any) string {
	switch n := v.(type) {
	case string:
		return n
	case int64:
		return strconv.FormatInt(n, 10)
	case uint64:
		return strconv.FormatUint(n, 10)
	case nil:
		return ""
	}
	return ""
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// truthy is MySQL's truth of a non-NULL value: a non-zero number; a string
// counts by its leading number ('1abc' is true, 'abc' false).
func truthy(v any) bool {
	switch n := v.(type) {
	case int64:
		return n != 0
	case uint64:
		return n != 0
	case string:
		f, _ := leadingNumber(n)
		return f != 0
	}
	return false
}

// leadingNumber is the numeric prefix of s, as MySQL casts a string to a
// number (0 when there is none).
func leadingNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (('0' <= s[end] && s[end] <= '9') || s[end] == '.' || (end == 0 && (s[end] == '-' || s[end] == '+'))) {
		end++
	}
	for end > 0 {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f, true
		}
		end--
	}
	return 0, false
}

func negate(v any) any {
	switch n := v.(type) {
	case int64:
		return -n
	case uint64:
		if n <= 1<<63 {
			return -int64(n)
		}
	case string:
		if f, ok := leadingNumber(n); ok {
			return strconv.FormatFloat(-f, 'g', -1, 64)
		}
		return int64(0)
	}
	return v
}

// equal compares two non-NULL values: as numbers when either is a number,
// else as strings, case-insensitively (the default collations are _ci).
func equal(a, b any) bool {
	as, aStr := a.(string)
	bs, bStr := b.(string)
	if aStr && bStr {
		return strings.EqualFold(as, bs)
	}
	toF := func(v any) float64 {
		switch n := v.(type) {
		case int64:
			return float64(n)
		case uint64:
			return float64(n)
		case string:
			f, _ := leadingNumber(n)
			return f
		}
		return 0
	}
	return toF(a) == toF(b)
}
