package sqlcmd

import (
	"errors"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/tlsctx"
)

func u64(n uint64) *uint64 { return &n }

func TestParseGood(t *testing.T) {
	reload := Reload{Syntax: SyntaxSSLReload}
	tests := []struct {
		name  string
		query string
		want  Command
	}{
		// SSL_RELOAD spellings.
		{"plain", "SSL_RELOAD", reload},
		{"lower", "ssl_reload", reload},
		{"mixed", "Ssl_Reload", reload},
		{"semicolon", "SSL_RELOAD;", reload},
		{"semicolons and space", "  SSL_RELOAD ; ; \n", reload},
		{"leading block comment", "/* certbot */ SSL_RELOAD", reload},
		{"trailing block comment", "SSL_RELOAD /* done */;", reload},
		{"executable comment for a later version", "/*!90000 hint */SSL_RELOAD", reload},
		{"executable comment is the statement", "/*!40100 SSL_RELOAD */", reload},
		{"unversioned executable comment", "/*! SSL_RELOAD */;", reload},
		{"MariaDB-only comment is a comment", "/*M!100100 hint */ SSL_RELOAD", reload},
		{"dash comment after", "SSL_RELOAD -- reload now", reload},
		{"dash comment after semicolon", "SSL_RELOAD; -- x", reload},
		{"dash comment line before", "-- deploy hook\nSSL_RELOAD", reload},
		{"hash comment", "# hook\nssl_reload # trailing", reload},
		{"tabs and CRLF", "\t\r\nSSL_RELOAD\r\n", reload},
		{"multi-line comment", "/* a\n * b\n */\nSSL_RELOAD/**/", reload},

		{"flush ssl", "FLUSH SSL", Reload{Syntax: SyntaxFlushSSL}},
		{"flush privileges", "flush privileges", FlushPrivileges{}},
		{"flush ssl lower semicolon", "flush ssl;", Reload{Syntax: SyntaxFlushSSL}},
		{"alter instance", "ALTER INSTANCE RELOAD TLS", Reload{Syntax: SyntaxAlterInstance}},
		{"alter instance lower", "alter instance reload tls;", Reload{Syntax: SyntaxAlterInstance}},
		{"alter instance comment inside", "ALTER /* x */ INSTANCE RELOAD TLS", Reload{Syntax: SyntaxAlterInstance}},
		{"for channel mysql_main", "ALTER INSTANCE RELOAD TLS FOR CHANNEL mysql_main", Reload{Syntax: SyntaxAlterInstance, Channel: tlsctx.ChannelClient}},
		{"for channel mysql_admin", "ALTER INSTANCE RELOAD TLS FOR CHANNEL mysql_admin", Reload{Syntax: SyntaxAlterInstance, Channel: tlsctx.ChannelClient}},
		{"for channel cluster", "alter instance reload tls for channel CLUSTER", Reload{Syntax: SyntaxAlterInstance, Channel: tlsctx.ChannelCluster}},
		{"for channel backquoted", "ALTER INSTANCE RELOAD TLS FOR CHANNEL `client`", Reload{Syntax: SyntaxAlterInstance, Channel: tlsctx.ChannelClient}},
		{"no rollback", "ALTER INSTANCE RELOAD TLS NO ROLLBACK ON ERROR", Reload{Syntax: SyntaxAlterInstance, NoRollback: true}},
		{"channel and no rollback", "ALTER INSTANCE RELOAD TLS FOR CHANNEL cluster NO ROLLBACK ON ERROR;", Reload{Syntax: SyntaxAlterInstance, Channel: tlsctx.ChannelCluster, NoRollback: true}},

		{"show ssl status", "SHOW SSL STATUS", ShowSSLStatus{}},
		{"show ssl status lower", "show ssl status;", ShowSSLStatus{}},
		{"show aggregators", "SHOW AGGREGATORS", ShowAggregators{}},
		{"show aggregators extended", "show aggregators extended", ShowAggregators{}},
		{"show leaves", "SHOW LEAVES;", ShowLeaves{}},

		{"show variables", "SHOW VARIABLES", ShowVariables{}},
		{"show global variables like", "SHOW GLOBAL VARIABLES LIKE 'ssl%'", ShowVariables{Global: true, Filter: Filter{Kind: FilterLike, Column: "Variable_name", Patterns: []string{"ssl%"}}}},
		{"show session variables like", "show session variables like 'version'", ShowVariables{Filter: Filter{Kind: FilterLike, Column: "Variable_name", Patterns: []string{"version"}}}},
		{"show variables where eq", "SHOW VARIABLES WHERE Variable_name = 'port'", ShowVariables{Filter: Filter{Kind: FilterEqual, Column: "Variable_name", Patterns: []string{"port"}}}},
		{"show variables where in", "SHOW VARIABLES WHERE variable_name IN ('port', 'role')", ShowVariables{Filter: Filter{Kind: FilterIn, Column: "Variable_name", Patterns: []string{"port", "role"}}}},
		{"show variables where like", "SHOW VARIABLES WHERE Variable_name LIKE 'ssl%'", ShowVariables{Filter: Filter{Kind: FilterLike, Column: "Variable_name", Patterns: []string{"ssl%"}}}},
		{"show variables where value", "SHOW VARIABLES WHERE Value != ''", ShowVariables{Filter: Filter{Kind: FilterEqual, Column: "Value", Patterns: []string{""}, Negate: true}}},
		{"show status", "SHOW STATUS", ShowStatus{}},
		{"show global status like", "SHOW GLOBAL STATUS LIKE 'Ssl%'", ShowStatus{Global: true, Filter: Filter{Kind: FilterLike, Column: "Variable_name", Patterns: []string{"Ssl%"}}}},
		{"show warnings", "SHOW WARNINGS", ShowWarnings{}},
		{"show errors", "show errors", ShowWarnings{ErrorsOnly: true}},
		{"show count warnings", "SHOW COUNT(*) WARNINGS", ShowWarnings{Count: true}},
		{"show databases", "SHOW DATABASES", ShowDatabases{}},
		{"show grants", "SHOW GRANTS", ShowGrants{}},
		{"show grants current_user()", "SHOW GRANTS FOR CURRENT_USER()", ShowGrants{}},
		{"show grants for", "SHOW GRANTS FOR 'bob'@'%'", ShowGrants{User: "bob", Host: "%"}},

		{"select version_comment limit 1", "select @@version_comment limit 1", Select{Items: []SelectItem{{Column: "@@version_comment", Kind: ItemSysVar, Name: "version_comment"}}, Limit: u64(1)}},
		{"select scopes", "SELECT @@global.port, @@session.autocommit AS ac, @@SESSION.tx_isolation", Select{Items: []SelectItem{
			{Column: "@@global.port", Kind: ItemSysVar, Name: "port", Scope: ScopeGlobal},
			{Column: "ac", Kind: ItemSysVar, Name: "autocommit", Scope: ScopeSession},
			{Column: "@@SESSION.tx_isolation", Kind: ItemSysVar, Name: "tx_isolation", Scope: ScopeSession},
		}}},
		{"select 1", "SELECT 1", Select{Items: []SelectItem{{Column: "1", Kind: ItemLiteral, Value: int64(1)}}}},
		{"select literals", "select 'a', -2, NULL, true", Select{Items: []SelectItem{
			{Column: "a", Kind: ItemLiteral, Value: "a"},
			{Column: "-2", Kind: ItemLiteral, Value: int64(-2)},
			{Column: "NULL", Kind: ItemLiteral, Value: nil},
			{Column: "true", Kind: ItemLiteral, Value: int64(1)},
		}}},
		{"select funcs", "SELECT VERSION(), database(), USER(), CURRENT_USER(), CONNECTION_ID()", Select{Items: []SelectItem{
			{Column: "VERSION()", Kind: ItemFunc, Name: "version"},
			{Column: "database()", Kind: ItemFunc, Name: "database"},
			{Column: "USER()", Kind: ItemFunc, Name: "user"},
			{Column: "CURRENT_USER()", Kind: ItemFunc, Name: "current_user"},
			{Column: "CONNECTION_ID()", Kind: ItemFunc, Name: "connection_id"},
		}}},
		{"select user var", "SELECT @x", Select{Items: []SelectItem{{Column: "@x", Kind: ItemUserVar, Name: "x"}}}},
		{"select from dual", "SELECT 1 FROM DUAL", Select{Items: []SelectItem{{Column: "1", Kind: ItemLiteral, Value: int64(1)}}}},
		{"select with trailing comment", "SELECT 1 -- x", Select{Items: []SelectItem{{Column: "1", Kind: ItemLiteral, Value: int64(1)}}}},

		{"set names", "SET NAMES utf8mb4", Set{Assignments: []Assignment{
			{Name: "character_set_client", Scope: ScopeSession, Value: "utf8mb4"},
			{Name: "character_set_connection", Scope: ScopeSession, Value: "utf8mb4"},
			{Name: "character_set_results", Scope: ScopeSession, Value: "utf8mb4"},
		}}},
		{"set autocommit", "SET autocommit=1", Set{Assignments: []Assignment{{Name: "autocommit", Value: "1"}}}},
		{"set session sql_mode", "SET SESSION sql_mode='STRICT_TRANS_TABLES'", Set{Assignments: []Assignment{{Name: "sql_mode", Scope: ScopeSession, Value: "STRICT_TRANS_TABLES"}}}},
		{"set global", "SET GLOBAL ssl_cert = '/x'", Set{Assignments: []Assignment{{Name: "ssl_cert", Scope: ScopeGlobal, Value: "/x"}}}},
		{"set null", "SET character_set_results = NULL", Set{Assignments: []Assignment{{Name: "character_set_results", Null: true}}}},
		{"set user var", "SET @a = 5", Set{Assignments: []Assignment{{Name: "a", User: true, Value: "5"}}}},
		{"set transaction", "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", Set{Assignments: []Assignment{
			{Name: "transaction_isolation", Scope: ScopeSession, Value: "READ-COMMITTED"},
			{Name: "tx_isolation", Scope: ScopeSession, Value: "READ-COMMITTED"},
		}}},
		{"use", "USE information_schema", Use{DB: "information_schema"}},
		{"begin", "BEGIN", Nop{Statement: "BEGIN"}},
		{"commit", "commit;", Nop{Statement: "COMMIT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.query)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		num     int
		msgPart string
	}{
		{"empty", "", mysql.EREmptyQuery, "Query was empty"},
		{"only comments", "/* x */ -- y\n# z", mysql.EREmptyQuery, "Query was empty"},
		{"only semicolon", ";", mysql.EREmptyQuery, "Query was empty"},
		{"ssl_reload extra", "SSL_RELOAD now", mysql.ERParseError, "near 'now' at line 1"},
		{"ssl_reload two statements", "SSL_RELOAD; SELECT 1", mysql.ERParseError, "near '; SELECT 1'"},
		{"ssl_reload prefix", "SSL_RELOADX", mysql.ERParseError, ""},
		{"flush ssl extra", "FLUSH SSL please", mysql.ERParseError, "near 'please'"},
		{"alter instance missing tls", "ALTER INSTANCE RELOAD", mysql.ERParseError, ""},
		{"alter instance other", "ALTER INSTANCE ROTATE INNODB MASTER KEY", mysql.ERNotSupportedYet, "ALTER INSTANCE ROTATE INNODB"},
		{"alter instance bad for", "ALTER INSTANCE RELOAD TLS FOR mysql_main", mysql.ERParseError, "near 'mysql_main'"},
		{"alter instance no channel", "ALTER INSTANCE RELOAD TLS FOR CHANNEL", mysql.ERParseError, ""},
		{"alter instance unknown channel", "ALTER INSTANCE RELOAD TLS FOR CHANNEL replication", mysql.ERSyntaxError, "You have an error in your SQL syntax; check the manual that corresponds to your ssld version for the right syntax to use: unknown TLS channel 'replication' (want client, cluster, mysql_main or mysql_admin)"},
		{"alter instance half no rollback", "ALTER INSTANCE RELOAD TLS NO ROLLBACK", mysql.ERParseError, ""},
		{"show ssl typo", "SHOW SSL STATE", mysql.ERParseError, "near 'STATE'"},
		{"show leaves extra", "SHOW LEAVES x", mysql.ERParseError, "near 'x'"},
		{"garbage", "blah blah", mysql.ERParseError, "You have an error in your SQL syntax"},
		{"vitess syntax", "SELECT FROM", mysql.ERParseError, "near"},
		{"unterminated comment", "SSL_RELOAD /* oops", mysql.ERParseError, ""},
		{"unterminated quote", "SELECT 'abc", mysql.ERParseError, ""},
		{"create table", "CREATE TABLE t (a int)", mysql.ERNotSupportedYet, "CREATE TABLE"},
		{"select from table", "SELECT * FROM t", mysql.ERNotSupportedYet, "SELECT"},
		{"unsupported show", "SHOW ENGINES", mysql.ERNotSupportedYet, "SHOW ENGINES"},
		{"unsupported function", "SELECT NOW()", mysql.ERNotSupportedYet, "NOW()"},
		{"bare column", "SELECT foo", mysql.ERBadFieldError, "Unknown column 'foo'"},
		{"where or", "SHOW VARIABLES WHERE Variable_name = 'a' OR Variable_name = 'b'", mysql.ERNotSupportedYet, "WHERE"},
		{"where unknown column", "SHOW VARIABLES WHERE foo = 'a'", mysql.ERBadFieldError, "foo"},
		{"set unsupported function", "SET @@session.sql_mode = SUBSTRING(@@sql_mode, 2)", mysql.ERNotSupportedYet, "SUBSTRING()"},
		{"set bare column in expression", "SET sql_mode = CONCAT(foo, 'x')", mysql.ERBadFieldError, "Unknown column 'foo'"},
		{"set wrong argument count", "SET sql_mode = IFNULL('x')", ErrWrongParamCount, "'IFNULL'"},
		{"executable comment with a syntax error", "/*!40100 SET @@SQL_MODE= */", mysql.ERParseError, ""},
		{"only a later version's comment", "/*!99999 SET @@SQL_MODE='' */", mysql.EREmptyQuery, "Query was empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := Parse(tc.query)
			require.Error(t, err, "parsed as %#v", cmd)
			var e *Error
			require.True(t, errors.As(err, &e), "error type %T", err)
			assert.Equal(t, tc.num, e.Num, e.Message)
			assert.Contains(t, e.Message, tc.msgPart)
			if e.Num == mysql.ERParseError {
				assert.Equal(t, mysql.SSClientError, e.State)
			}
		})
	}
}

func TestRequiresSuper(t *testing.T) {
	for _, q := range []string{"SSL_RELOAD", "FLUSH SSL", "ALTER INSTANCE RELOAD TLS", "FLUSH PRIVILEGES"} {
		cmd, err := Parse(q)
		require.NoError(t, err)
		assert.True(t, cmd.RequiresSuper(), q)
	}
	for _, q := range []string{"SHOW SSL STATUS", "SHOW VARIABLES", "SELECT 1", "SET autocommit=1", "SHOW GRANTS", "SHOW AGGREGATORS"} {
		cmd, err := Parse(q)
		require.NoError(t, err)
		assert.False(t, cmd.RequiresSuper(), q)
	}
}

func TestParseLocalScope(t *testing.T) {
	got, err := Parse("SELECT @@local.sql_mode, @@sql_mode")
	require.NoError(t, err)
	sel := got.(Select)
	assert.Equal(t, ScopeSession, sel.Items[0].Scope)
	assert.Equal(t, ScopeDefault, sel.Items[1].Scope)
}

func TestParseLikeEscapeKept(t *testing.T) {
	got, err := Parse(`SHOW VARIABLES LIKE 'ssl\_c%'`)
	require.NoError(t, err)
	assert.Equal(t, []string{`ssl\_c%`}, got.(ShowVariables).Filter.Patterns)
	got, err = Parse(`SHOW STATUS WHERE Variable_name LIKE 'Ssl\_%'`)
	require.NoError(t, err)
	assert.Equal(t, []string{`Ssl\_%`}, got.(ShowStatus).Filter.Patterns)
}
