package sqlcmd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/ssld/ssld/tlsctx"
)

// Parse turns one statement into a Command. Leading and trailing whitespace,
// comments and semicolons are ignored; executable comments (/*!40100 ... */)
// whose version is not above 8.0.35 are part of the statement, as in MySQL. The error is always an *Error: 1065
// for an empty statement, 1064 for a syntax error, 1235 for valid SQL that
// ssld does not support, 1149 for an unknown TLS channel, 1436 for a
// statement over one of the bounds of bounds.go (checked before any
// parser sees the text). Parse is safe for
// concurrent use. A panic in vitess's parser is reported as a syntax error
// (see vitessParse); a panic in ssld's own parsing is not hidden, so the
// statement fuzz target finds it.
func Parse(query string) (cmd Command, err error) {
	c, e := parse(query)
	if e != nil {
		return nil, e
	}
	return c, nil
}

func parse(query string) (Command, *Error) {
	if err := checkStatementText(query); err != nil {
		return nil, err
	}
	query = expandExecutable(query, versionNumber)
	toks, lexErr := lex(query)
	if lexErr == errTooManyTokens {
		return nil, errTooComplex("a statement of more than %d tokens; ssld's parser allows at most %d", MaxStatementTokens, MaxStatementTokens)
	}
	// Drop trailing semicolons: "SSL_RELOAD;" and "select 1;;" are one
	// statement each.
	for len(toks) > 0 && toks[len(toks)-1].kind == tokSymbol && toks[len(toks)-1].text == ";" {
		toks = toks[:len(toks)-1]
	}
	if lexErr == nil && len(toks) == 0 {
		return nil, newError(mysql.EREmptyQuery, mysql.SSClientError, "Query was empty")
	}
	if lexErr == nil {
		if cmd, handled, err := parseOwn(query, toks); handled {
			return cmd, err
		}
	}
	core := query
	offset := 0
	if lexErr == nil {
		offset = toks[0].start
		core = query[offset:toks[len(toks)-1].end]
	}
	stmt, err := vitessParse(core)
	if err != nil {
		return nil, vitessSyntaxError(query, offset, core, err)
	}
	return fromVitess(stmt, toks)
}

// vitessParse is the one call into vitess's parser. It is generated code; a
// panic there must not take the connection down, so it becomes an error
// (reported as a syntax error by the caller).
func vitessParse(sql string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmt, err = nil, fmt.Errorf("syntax error (parser panic: %v)", r)
		}
	}()
	return sqlparser.ParseWithOptions(context.Background(), sql, sqlparser.ParserOptions{})
}

// parseOwn recognises the statements vitess does not know. handled is false
// when the statement is not one of them.
func parseOwn(query string, toks []token) (cmd Command, handled bool, err *Error) {
	word := func(i int) string {
		if i < len(toks) && toks[i].kind == tokWord {
			return toks[i].upper()
		}
		return ""
	}
	near := func(i int) *Error {
		if i >= len(toks) {
			return errSyntax("")
		}
		return errSyntax(query[toks[i].start:])
	}
	// end requires that toks[i:] is empty.
	end := func(i int, c Command) (Command, bool, *Error) {
		if i < len(toks) {
			return nil, true, near(i)
		}
		return c, true, nil
	}
	switch word(0) {
	case "SSL_RELOAD":
		return end(1, Reload{Syntax: SyntaxSSLReload})
	case "FLUSH":
		if word(1) == "SSL" {
			return end(2, Reload{Syntax: SyntaxFlushSSL})
		}
		if word(1) == "PRIVILEGES" {
			return end(2, FlushPrivileges{})
		}
		if f, ok := parseFlush(toks); ok {
			return f, true, nil
		}
	case "SHOW":
		switch word(1) {
		case "SSL":
			switch word(2) {
			case "STATUS":
				return end(3, ShowSSLStatus{})
			case "HISTORY":
				return end(3, ShowSSLHistory{})
			case "SESSIONS":
				return end(3, ShowSSLSessions{})
			}
			return nil, true, near(2)
		case "AGGREGATORS":
			i := 2
			if word(2) == "EXTENDED" {
				i = 3
			}
			return end(i, ShowAggregators{})
		case "LEAVES":
			return end(2, ShowLeaves{})
		}
	case "CHECK":
		return parseCheck(query, toks, word, near, end)
	case "ALTER":
		if word(1) == "INSTANCE" {
			return parseAlterInstance(query, toks, word, near, end)
		}
	}
	return nil, false, nil
}

// parseAlterInstance parses ALTER INSTANCE RELOAD TLS [FOR CHANNEL name]
// [NO ROLLBACK ON ERROR].
func parseAlterInstance(query string, toks []token, word func(int) string,
	near func(int) *Error, end func(int, Command) (Command, bool, *Error)) (Command, bool, *Error) {
	if word(2) != "RELOAD" || word(3) != "TLS" {
		if word(2) != "" && (word(2) != "RELOAD" || word(3) != "") {
			// Other ALTER INSTANCE actions (ROTATE ... MASTER KEY, RELOAD
			// KEYRING, ...) are valid MySQL that ssld has no use for.
			what := "ALTER INSTANCE " + word(2)
			if word(3) != "" {
				what += " " + word(3)
			}
			return nil, true, errNotSupported(what)
		}
		if word(2) != "RELOAD" {
			return nil, true, near(2)
		}
		return nil, true, near(3)
	}
	r := Reload{Syntax: SyntaxAlterInstance}
	i, e := forChannel("ALTER INSTANCE RELOAD TLS", toks, word, near, 4, &r.Channel)
	if e != nil {
		return nil, true, e
	}
	if word(i) == "NO" {
		for k, w := range []string{"ROLLBACK", "ON", "ERROR"} {
			if word(i+1+k) != w {
				return nil, true, near(i + 1 + k)
			}
		}
		r.NoRollback = true
		i += 4
	}
	return end(i, r)
}

var vitessPosRE = regexp.MustCompile(`syntax error at position (\d+)(?: near '(.*)')?`)

// vitessSyntaxError turns a vitess parse error into MySQL's 1064 text, quoting
// the query from the offending token on, as MySQL does.
func vitessSyntaxError(query string, offset int, core string, err error) *Error {
	m := vitessPosRE.FindStringSubmatch(err.Error())
	if m == nil {
		return errSyntax(core)
	}
	pos, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return errSyntax(core)
	}
	// vitess reports the position just after the offending token.
	start := pos - 1 - len(m[2])
	if start < 0 {
		start = 0
	}
	if start > len(core) {
		start = len(core)
	}
	abs := offset + start
	if abs > len(query) {
		abs = len(query)
	}
	return errSyntax(query[abs:])
}

// statementName describes an unsupported statement by its first two words,
// e.g. "CREATE TABLE", for the 1235 message.
func statementName(toks []token) string {
	var words []string
	for _, t := range toks {
		if t.kind != tokWord || len(words) == 2 {
			break
		}
		words = append(words, t.upper())
	}
	if len(words) == 0 {
		return "this statement"
	}
	return strings.Join(words, " ")
}

func fromVitess(stmt sqlparser.Statement, toks []token) (Command, *Error) {
	switch st := stmt.(type) {
	case *sqlparser.Show:
		cmd, err := fromShow(st)
		if err != nil {
			return nil, err
		}
		return withLexedLike(cmd, toks), nil
	case *sqlparser.ShowGrants:
		g := ShowGrants{}
		if st.For != nil && !st.CurrentUser {
			g.User, g.Host = st.For.Name, st.For.Host
		}
		return g, nil
	case *sqlparser.Select:
		return fromSelect(st)
	case *sqlparser.Set:
		cmd, err := fromSet(st)
		if err != nil {
			return nil, err
		}
		return withNamesCollate(cmd.(Set), toks)
	case *sqlparser.Use:
		return Use{DB: st.DBName.String()}, nil
	case *sqlparser.Kill:
		return fromKill(st)
	case *sqlparser.Begin:
		return Nop{Statement: "BEGIN"}, nil
	case *sqlparser.Commit:
		return Nop{Statement: "COMMIT"}, nil
	case *sqlparser.Rollback:
		return Nop{Statement: "ROLLBACK"}, nil
	}
	return nil, errNotSupported(statementName(toks))
}

// withLexedLike replaces a SHOW ... LIKE pattern by the one ssld's lexer
// read: vitess drops the backslash of \_ and \%, which would turn an escaped
// underscore back into a wildcard.
func withLexedLike(cmd Command, toks []token) Command {
	pattern, ok := "", false
	for i := len(toks) - 2; i >= 0; i-- {
		if toks[i].kind == tokWord && toks[i].upper() == "LIKE" && toks[i+1].kind == tokQuoted {
			pattern, ok = toks[i+1].text, true
			break
		}
	}
	if !ok {
		return cmd
	}
	fix := func(f Filter) Filter {
		if f.Kind == FilterLike && len(f.Patterns) == 1 {
			f.Patterns = []string{pattern}
		}
		return f
	}
	switch c := cmd.(type) {
	case ShowVariables:
		c.Filter = fix(c.Filter)
		return c
	case ShowStatus:
		c.Filter = fix(c.Filter)
		return c
	}
	return cmd
}

func fromShow(st *sqlparser.Show) (Command, *Error) {
	typ := strings.ToLower(st.Type)
	global := strings.EqualFold(st.Scope, "global")
	switch typ {
	case "variables", "status":
		f, err := fromShowFilter(st.Filter)
		if err != nil {
			return nil, err
		}
		if typ == "variables" {
			return ShowVariables{Global: global, Filter: f}, nil
		}
		return ShowStatus{Global: global, Filter: f}, nil
	case "warnings", "errors":
		return ShowWarnings{ErrorsOnly: typ == "errors", Count: st.CountStar}, nil
	case "databases", "schemas":
		return ShowDatabases{}, nil
	case "processlist":
		return ShowProcesslist{Full: st.Full}, nil
	case "tables":
		t := ShowTables{Full: st.Full}
		if st.ShowTablesOpt != nil {
			t.DB = st.ShowTablesOpt.DbName
		}
		return t, nil
	}
	return nil, errNotSupported("SHOW " + strings.ToUpper(typ))
}

func fromShowFilter(sf *sqlparser.ShowFilter) (Filter, *Error) {
	if sf == nil {
		return Filter{}, nil
	}
	if sf.Filter == nil {
		return Filter{Kind: FilterLike, Column: "Variable_name", Patterns: []string{sf.Like}}, nil
	}
	unsupported := errNotSupported("SHOW ... WHERE other than one comparison on Variable_name or Value")
	cmp, ok := sf.Filter.(*sqlparser.ComparisonExpr)
	if !ok || cmp.Escape != nil {
		return Filter{}, unsupported
	}
	col, ok := cmp.Left.(*sqlparser.ColName)
	if !ok || !cmp.Left.(*sqlparser.ColName).Qualifier.IsEmpty() {
		return Filter{}, unsupported
	}
	var column string
	switch strings.ToLower(col.Name.String()) {
	case "variable_name":
		column = "Variable_name"
	case "value":
		column = "Value"
	default:
		return Filter{}, newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'where clause'", col.Name.String())
	}
	f := Filter{Column: column}
	switch cmp.Operator {
	case sqlparser.EqualStr, sqlparser.NotEqualStr, "<>":
		f.Kind, f.Negate = FilterEqual, cmp.Operator != sqlparser.EqualStr
	case sqlparser.LikeStr, sqlparser.NotLikeStr:
		f.Kind, f.Negate = FilterLike, cmp.Operator == sqlparser.NotLikeStr
	case sqlparser.InStr, sqlparser.NotInStr:
		f.Kind, f.Negate = FilterIn, cmp.Operator == sqlparser.NotInStr
	default:
		return Filter{}, unsupported
	}
	var rights []sqlparser.Expr
	if tuple, ok := cmp.Right.(sqlparser.ValTuple); ok {
		if f.Kind != FilterIn {
			return Filter{}, unsupported
		}
		rights = tuple
	} else {
		if f.Kind == FilterIn {
			return Filter{}, unsupported
		}
		rights = []sqlparser.Expr{cmp.Right}
	}
	for _, r := range rights {
		v, ok := r.(*sqlparser.SQLVal)
		if !ok {
			return Filter{}, unsupported
		}
		f.Patterns = append(f.Patterns, string(v.Val))
	}
	return f, nil
}

func fromSelect(st *sqlparser.Select) (Command, *Error) {
	if cmd, ok, err := fromTLSChannelStatus(st); ok {
		return cmd, err
	}
	if cmd, ok := fromInfoSchemaSelect(st); ok {
		return cmd, nil
	}
	if len(st.From) > 1 {
		return nil, errNotSupported("SELECT ... FROM")
	}
	if len(st.From) == 1 {
		t, ok := st.From[0].(*sqlparser.AliasedTableExpr)
		if !ok {
			return nil, errNotSupported("SELECT ... FROM")
		}
		name, ok := t.Expr.(sqlparser.TableName)
		if !ok || !strings.EqualFold(name.Name.String(), "dual") || !name.DbQualifier.IsEmpty() {
			return nil, errNotSupported("SELECT ... FROM")
		}
	}
	if st.Where != nil || st.Having != nil || len(st.GroupBy) > 0 || len(st.OrderBy) > 0 || st.With != nil {
		return nil, errNotSupported("SELECT with WHERE, GROUP BY, HAVING, ORDER BY or WITH")
	}
	sel := Select{}
	for _, e := range st.SelectExprs {
		ae, ok := e.(*sqlparser.AliasedExpr)
		if !ok {
			return nil, errNotSupported("SELECT *")
		}
		item, err := selectItem(ae.Expr)
		if err != nil {
			return nil, err
		}
		item.Column = columnName(ae)
		sel.Items = append(sel.Items, item)
	}
	if st.Limit != nil {
		n, err := limitValue(st.Limit.Rowcount)
		if err != nil {
			return nil, err
		}
		sel.Limit = &n
		if st.Limit.Offset != nil {
			off, err := limitValue(st.Limit.Offset)
			if err != nil {
				return nil, err
			}
			sel.Offset = off
		}
	}
	return sel, nil
}

func limitValue(e sqlparser.Expr) (uint64, *Error) {
	v, ok := e.(*sqlparser.SQLVal)
	if !ok || v.Type != sqlparser.IntVal {
		return 0, errNotSupported("LIMIT with a non-constant value")
	}
	n, err := strconv.ParseUint(string(v.Val), 10, 64)
	if err != nil {
		return 0, errSyntax(string(v.Val))
	}
	return n, nil
}

// columnName is the result column name MySQL would use: the alias, else the
// expression as typed.
func columnName(ae *sqlparser.AliasedExpr) string {
	if !ae.As.IsEmpty() {
		return ae.As.String()
	}
	if c, ok := ae.Expr.(*sqlparser.ColName); ok && c.Qualifier.IsEmpty() {
		return c.Name.String()
	}
	if s := strings.TrimSpace(ae.InputExpression); s != "" {
		return s
	}
	return sqlparser.String(ae.Expr)
}

// sessionFuncs are the argument-less functions SELECT supports.
var sessionFuncs = map[string]bool{
	"version": true, "database": true, "schema": true, "user": true, "current_user": true,
	"session_user": true, "system_user": true, "connection_id": true,
}

func selectItem(e sqlparser.Expr) (SelectItem, *Error) {
	switch x := e.(type) {
	case *sqlparser.ParenExpr:
		return selectItem(x.Expr)
	case *sqlparser.NullVal:
		return SelectItem{Kind: ItemLiteral, Value: nil}, nil
	case sqlparser.BoolVal:
		v := int64(0)
		if x {
			v = 1
		}
		return SelectItem{Kind: ItemLiteral, Value: v}, nil
	case *sqlparser.SQLVal:
		v, err := literal(x)
		if err != nil {
			return SelectItem{}, err
		}
		return SelectItem{Kind: ItemLiteral, Value: v}, nil
	case *sqlparser.UnaryExpr:
		if v, ok := x.Expr.(*sqlparser.SQLVal); ok && x.Operator == "-" && v.Type == sqlparser.IntVal {
			if n, err := strconv.ParseInt("-"+string(v.Val), 10, 64); err == nil {
				return SelectItem{Kind: ItemLiteral, Value: n}, nil
			}
		}
	case *sqlparser.FuncExpr:
		name := strings.ToLower(x.Name.String())
		if x.Qualifier.IsEmpty() && len(x.Exprs) == 0 && sessionFuncs[name] {
			return SelectItem{Kind: ItemFunc, Name: name}, nil
		}
		if err := evaluable(x, 0); err != nil {
			return SelectItem{}, err
		}
		return SelectItem{Kind: ItemExpr, Expr: x}, nil
	case *sqlparser.ColName:
		col, scope, specified, err := varScopeForColName(x)
		if err != nil {
			return SelectItem{}, errSyntax(sqlparser.String(x))
		}
		name := strings.ToLower(col.Name.String())
		switch scope {
		case sqlparser.SetScope_User:
			return SelectItem{Kind: ItemUserVar, Name: name}, nil
		case sqlparser.SetScope_Session:
			// @@x (nothing specified) means "session value if any, else
			// global"; @@session.x / @@local.x insist on the session scope.
			s := ScopeDefault
			if specified != "" {
				s = ScopeSession
			}
			return SelectItem{Kind: ItemSysVar, Name: name, Scope: s}, nil
		case sqlparser.SetScope_Global:
			return SelectItem{Kind: ItemSysVar, Name: name, Scope: ScopeGlobal}, nil
		case sqlparser.SetScope_None:
			return SelectItem{}, newError(mysql.ERBadFieldError, mysql.SSBadFieldError, "Unknown column '%s' in 'field list'", x.Name.String())
		}
	}
	if err := evaluable(e, 0); err != nil {
		return SelectItem{}, err
	}
	return SelectItem{Kind: ItemExpr, Expr: e}, nil
}

func literal(v *sqlparser.SQLVal) (any, *Error) {
	s := string(v.Val)
	switch v.Type {
	case sqlparser.StrVal, sqlparser.FloatVal:
		return s, nil
	case sqlparser.IntVal:
		if n, ok := integer(s); ok {
			return n, nil
		}
		return s, nil
	case sqlparser.HexVal:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, errSyntax("x'" + s + "'")
		}
		return string(b), nil
	case sqlparser.HexNum:
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64)
		if err != nil {
			return nil, errSyntax(s)
		}
		return n, nil
	}
	return nil, errNotSupported("literal " + s)
}

func fromSet(st *sqlparser.Set) (Command, *Error) {
	out := Set{}
	for _, e := range st.Exprs {
		if e == nil || e.Name == nil {
			return nil, errSyntax("")
		}
		name := strings.ToLower(e.Name.Name.String())
		if e.Scope == sqlparser.SetScope_User {
			a, err := assignmentValue(Assignment{Name: name, User: true}, e.Expr)
			if err != nil {
				return nil, err
			}
			out.Assignments = append(out.Assignments, a)
			continue
		}
		scope := ScopeDefault
		switch e.Scope {
		case sqlparser.SetScope_Global, sqlparser.SetScope_Persist, sqlparser.SetScope_PersistOnly:
			scope = ScopeGlobal
		case sqlparser.SetScope_Session:
			scope = ScopeSession
		}
		switch name {
		case "names", "charset", "character set":
			a, err := assignmentValue(Assignment{Scope: ScopeSession}, e.Expr)
			if err != nil {
				return nil, err
			}
			targets := []string{"character_set_client", "character_set_connection", "character_set_results"}
			if name != "names" {
				targets = []string{"character_set_client", "character_set_results"}
			}
			for _, t := range targets {
				a.Name = t
				out.Assignments = append(out.Assignments, a)
			}
			continue
		case sqlparser.TransactionStr:
			as, err := transactionAssignments(scope, e.Expr)
			if err != nil {
				return nil, err
			}
			out.Assignments = append(out.Assignments, as...)
			continue
		}
		a, err := assignmentValue(Assignment{Name: name, Scope: scope}, e.Expr)
		if err != nil {
			return nil, err
		}
		out.Assignments = append(out.Assignments, a)
	}
	return out, nil
}

func assignmentValue(a Assignment, e sqlparser.Expr) (Assignment, *Error) {
	switch x := e.(type) {
	case *sqlparser.SQLVal:
		v, err := literal(x)
		if err != nil {
			return a, err
		}
		a.Value = text(v)
		return a, nil
	case sqlparser.BoolVal:
		a.Value = "0"
		if x {
			a.Value = "1"
		}
		return a, nil
	case *sqlparser.NullVal:
		a.Null = true
		return a, nil
	case *sqlparser.Default:
		a.Default = true
		return a, nil
	case *sqlparser.ColName:
		// SET sql_mode = TRADITIONAL, SET autocommit = ON: bare words are
		// values; @@var and @var are read when the statement runs.
		if x.Qualifier.IsEmpty() && !strings.HasPrefix(x.Name.String(), "@") {
			a.Value = x.Name.String()
			return a, nil
		}
	case *sqlparser.UnaryExpr:
		if v, ok := x.Expr.(*sqlparser.SQLVal); ok && x.Operator == "-" && v.Type == sqlparser.IntVal {
			a.Value = "-" + string(v.Val)
			return a, nil
		}
	}
	if err := evaluable(e, 0); err != nil {
		return a, err
	}
	a.Expr = e
	return a, nil
}

// transactionAssignments maps SET [SESSION] TRANSACTION ISOLATION LEVEL ... /
// READ ONLY / READ WRITE onto the session variables MySQL changes.
func transactionAssignments(scope VarScope, e sqlparser.Expr) ([]Assignment, *Error) {
	v, ok := e.(*sqlparser.SQLVal)
	if !ok {
		return nil, errNotSupported("SET TRANSACTION")
	}
	var out []Assignment
	for _, part := range strings.Split(strings.ToLower(string(v.Val)), ",") {
		part = strings.Join(strings.Fields(part), " ")
		switch {
		case strings.HasPrefix(part, "isolation level "):
			level := strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(part, "isolation level "), " ", "-"))
			out = append(out,
				Assignment{Name: "transaction_isolation", Scope: scope, Value: level},
				Assignment{Name: "tx_isolation", Scope: scope, Value: level})
		case part == "read only" || part == "read write":
			val := "OFF"
			if part == "read only" {
				val = "ON"
			}
			out = append(out,
				Assignment{Name: "transaction_read_only", Scope: scope, Value: val},
				Assignment{Name: "tx_read_only", Scope: scope, Value: val})
		default:
			return nil, errNotSupported("SET TRANSACTION " + strings.ToUpper(part))
		}
	}
	return out, nil
}

// forChannel parses an optional FOR CHANNEL name at token i of stmt (ALTER
// INSTANCE RELOAD TLS, CHECK TLS) into *ch and returns the index after it.
func forChannel(stmt string, toks []token, word func(int) string, near func(int) *Error, i int, ch *tlsctx.Channel) (int, *Error) {
	if word(i) != "FOR" {
		return i, nil
	}
	if word(i+1) != "CHANNEL" {
		return 0, near(i + 1)
	}
	if i+2 >= len(toks) || toks[i+2].kind == tokSymbol {
		return 0, near(i + 2)
	}
	c, err := tlsctx.ParseChannel(toks[i+2].text)
	if err != nil {
		// MySQL's grammar knows its channel names: another is 1149
		// ER_SYNTAX_ERROR there (mysql-test's ssl_dynamic asserts it).
		// The reason follows MySQL's text, so the operator sees the names.
		return 0, newError(mysql.ERSyntaxError, mysql.SSClientError,
			"You have an error in your SQL syntax; check the manual that corresponds to your ssld version for the right syntax to use: %v", err)
	}
	*ch = c
	return i + 3, nil
}

// varScopeForColName is vitess's sqlparser.VarScopeForColName, which panics
// on a bare "@@" or "@@session." (an index out of range in its quote
// trimming); such a name is a syntax error.
func varScopeForColName(c *sqlparser.ColName) (col *sqlparser.ColName, scope sqlparser.SetScope, specified string, err error) {
	defer func() {
		if r := recover(); r != nil {
			col, scope, specified, err = nil, sqlparser.SetScope_None, "", errors.New("empty variable name")
		}
	}()
	return sqlparser.VarScopeForColName(c)
}

// withNamesCollate applies the COLLATE of SET NAMES cs COLLATE coll, which
// vitess's AST drops: collation_connection is set after the character sets
// (so it is not reset to the character set's default collation).
// The collation must belong to the character set (1253 otherwise, as in
// MySQL).
func withNamesCollate(c Set, toks []token) (Command, *Error) {
	if len(toks) < 5 || toks[0].upper() != "SET" || toks[1].upper() != "NAMES" || len(c.Assignments) == 0 {
		return c, nil
	}
	for i := 2; i+1 < len(toks); i++ {
		if toks[i].kind == tokSymbol && toks[i].text == "," {
			return c, nil // SET NAMES x, other = ...: no COLLATE
		}
		if toks[i].kind != tokWord || toks[i].upper() != "COLLATE" || toks[i+1].kind == tokSymbol {
			continue
		}
		name := toks[i+1].text
		if toks[i+1].kind == tokWord && strings.EqualFold(name, "DEFAULT") {
			return c, nil
		}
		coll, cs, err := canonicalCollation(name)
		if err != nil {
			return nil, err
		}
		if names := c.Assignments[0]; !names.Null && names.Expr == nil {
			if want, err := canonicalCharset(names.Value); err == nil && want != cs {
				return nil, newError(mysql.ERCollationCharsetMismatch, mysql.SSClientError,
					"COLLATION '%s' is not valid for CHARACTER SET '%s'", name, names.Value)
			}
		}
		c.Assignments = append(c.Assignments, Assignment{Name: "collation_connection", Scope: ScopeSession, Value: coll})
		return c, nil
	}
	return c, nil
}
