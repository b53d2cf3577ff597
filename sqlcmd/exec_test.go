package sqlcmd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// fakeReloader records calls and returns a canned result or error.
type fakeReloader struct {
	mu    sync.Mutex
	calls int
	res   tlsctx.Result
	err   error
}

func (f *fakeReloader) Reload(_ context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.res, f.err
}

// fakeCerts serves fixed snapshots.
type fakeCerts map[tlsctx.Channel]*tlsctx.Snapshot

func (f fakeCerts) Current(ch tlsctx.Channel) *tlsctx.Snapshot { return f[ch] }

func snapshotFor(t *testing.T, ch tlsctx.Channel, gen uint64) (*tlsctx.Snapshot, *pki.Leaf) {
	t.Helper()
	ca := pkitest.MustCA(t, "exec test CA")
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "node-1", DNSNames: []string{"node-1.example"}})
	return &tlsctx.Snapshot{
		Channel: ch, Generation: gen, CertFile: "/etc/ssld/server.crt", KeyFile: "/etc/ssld/server.key",
		Certificate: &tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert},
		Leaf:        leaf.Cert, CACount: 1, LoadedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}, leaf
}

type testEnv struct {
	x      *Executor
	rel    *fakeReloader
	leaf   *pki.Leaf
	admin  *Session
	viewer *Session
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	snap, leaf := snapshotFor(t, tlsctx.ChannelClient, 3)
	reg := sysvars.NewRegistry()
	require.NoError(t, sysvars.AddServer(reg, sysvars.ServerInfo{
		Version: "8.0.36-ssld", VersionComment: "ssld", Role: "aggregator", Port: 3307,
	}))
	rel := &fakeReloader{}
	env := &Env{
		Reloader: rel,
		Certs:    fakeCerts{tlsctx.ChannelClient: snap, tlsctx.ChannelCluster: {Channel: tlsctx.ChannelCluster, Generation: 3}},
		Vars:     reg,
		Topology: func() ([]Node, []Node) {
			return []Node{{Host: "10.0.0.1", Port: 3307}, {Host: "10.0.0.4", Port: 3307}},
				[]Node{{Host: "10.0.0.2", Port: 3307, State: "offline"}}
		},
		Started:          time.Now().Add(-90 * time.Second),
		ThreadsConnected: func() int { return 2 },
	}
	return &testEnv{
		x:      NewExecutor(env),
		rel:    rel,
		leaf:   leaf,
		admin:  &Session{ConnectionID: 7, User: "admin", Host: "127.0.0.1", Privileges: []string{"SUPER"}},
		viewer: &Session{ConnectionID: 8, User: "monitor", Host: "127.0.0.1"},
	}
}

func run(t *testing.T, x *Executor, s *Session, q string) *Result {
	t.Helper()
	res, err := x.Run(context.Background(), s, q)
	require.NoError(t, err, q)
	require.NotNil(t, res)
	return res
}

func colNames(r *Result) []string {
	var out []string
	for _, c := range r.Columns {
		out = append(out, c.Name)
	}
	return out
}

func TestExecResults(t *testing.T) {
	te := newTestEnv(t)
	serial := tlsctx.FormatSerial(te.leaf.Cert.SerialNumber)
	tests := []struct {
		name    string
		query   string
		columns []string
		rows    [][]any
	}{
		{"version_comment", "select @@version_comment limit 1", []string{"@@version_comment"}, [][]any{{"ssld"}}},
		{"limit 0", "select @@version_comment limit 0", []string{"@@version_comment"}, [][]any{}},
		{"select 1", "SELECT 1", []string{"1"}, [][]any{{int64(1)}}},
		{"int and bool vars", "SELECT @@port, @@global.autocommit AS ac, @@max_allowed_packet", []string{"@@port", "ac", "@@max_allowed_packet"}, [][]any{{int64(3307), int64(1), int64(524288)}}},
		{"functions", "SELECT VERSION(), DATABASE(), USER(), CURRENT_USER(), CONNECTION_ID()",
			[]string{"VERSION()", "DATABASE()", "USER()", "CURRENT_USER()", "CONNECTION_ID()"},
			[][]any{{"8.0.36-ssld", nil, "admin@127.0.0.1", "admin@%", uint64(7)}}},
		{"show variables like", "SHOW VARIABLES LIKE 'vers%'", []string{"Variable_name", "Value"},
			[][]any{{"version", "8.0.36-ssld"}, {"version_comment", "ssld"}, {"version_compile_machine", nil}, {"version_compile_os", nil}}},
		{"show variables where in", "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('PORT', 'role')", []string{"Variable_name", "Value"},
			[][]any{{"port", "3307"}, {"role", "aggregator"}}},
		{"show variables like empty", "SHOW VARIABLES LIKE ''", []string{"Variable_name", "Value"}, [][]any{}},
		{"show status like", "SHOW STATUS LIKE 'Ssl_server%'", []string{"Variable_name", "Value"}, [][]any{
			{"Ssl_server_fingerprint", fingerprintOf(te.leaf.Cert)},
			{"Ssl_server_key_type", "ECDSA P-256"},
			{"Ssl_server_not_after", te.leaf.Cert.NotAfter.UTC().Format(statusTimeFormat)},
			{"Ssl_server_not_before", te.leaf.Cert.NotBefore.UTC().Format(statusTimeFormat)},
			{"Ssl_server_serial", serial},
		}},
		{"show status threads", "SHOW STATUS WHERE Variable_name = 'Threads_connected'", []string{"Variable_name", "Value"}, [][]any{{"Threads_connected", "2"}}},
		{"show ssl status", "SHOW SSL STATUS", []string{"Channel", "Generation", "Cert_file", "Subject", "SANs", "Serial",
			"Fingerprint_SHA256", "Not_before", "Not_after", "Position", "Key_type", "Key_backend", "CA_count", "CRL_count", "CRL_next_update", "CA_overlap", "Loaded_at", "Last_reload_trigger"}, [][]any{
			{"client", uint64(3), "/etc/ssld/server.crt", te.leaf.Cert.Subject.String(), "node-1.example", serial, nil,
				sysvars.FormatTime(te.leaf.Cert.NotBefore), sysvars.FormatTime(te.leaf.Cert.NotAfter), int64(1), "ECDSA P-256", nil, int64(1), int64(0), nil, nil, "2026-01-02 03:04:05.000000"},
			{"cluster", uint64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, int64(0), int64(0), nil, nil, nil},
		}},
		{"show aggregators", "SHOW AGGREGATORS", []string{"Host", "Port", "State", "Opened_Connections", "Average_Roundtrip_Latency_ms",
			"Master_Aggregator", "Role", "NodeID", "Runtime_State"}, [][]any{
			{"10.0.0.1", int64(3307), "online", nil, nil, int64(1), "Leader", int64(1), "online"},
			{"10.0.0.4", int64(3307), "online", nil, nil, int64(0), "Follower", int64(2), "online"},
		}},
		{"show leaves", "SHOW LEAVES", []string{"Host", "Port", "Availability_Group", "Pair_Host", "Pair_Port", "State",
			"Opened_Connections", "Average_Roundtrip_Latency_ms", "NodeId", "Grace_Period_in_Seconds", "Runtime_State"}, [][]any{
			{"10.0.0.2", int64(3307), int64(1), nil, nil, "offline", nil, nil, int64(3), nil, "offline"},
		}},
		{"show databases", "SHOW DATABASES", []string{"Database"}, [][]any{{"information_schema"}}},
		{"show grants", "SHOW GRANTS FOR CURRENT_USER()", []string{"Grants for admin@%"}, [][]any{{"GRANT SUPER ON *.* TO 'admin'@'%'"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, te.x, te.admin, tc.query)
			assert.Equal(t, tc.columns, colNames(res))
			require.Len(t, res.Rows, len(tc.rows))
			for i, want := range tc.rows {
				for j, w := range want {
					if w == nil && (tc.name == "show variables like" || colNames(res)[j] == "Fingerprint_SHA256") {
						continue // host-dependent or random; checked elsewhere
					}
					assert.Equal(t, w, res.Rows[i][j], "row %d column %s", i, tc.columns[j])
				}
			}
		})
	}
}

func TestExecIntColumnsTyped(t *testing.T) {
	te := newTestEnv(t)
	res := run(t, te.x, te.admin, "SELECT @@port, @@version, 1, 'x'")
	assert.Equal(t, []Column{{Name: "@@port", Int: true}, {Name: "@@version"}, {Name: "1", Int: true}, {Name: "x"}}, res.Columns)
}

func TestSessionState(t *testing.T) {
	te := newTestEnv(t)
	s := te.viewer
	run(t, te.x, s, "SET NAMES latin1")
	run(t, te.x, s, "SET autocommit = OFF, SESSION sql_mode = 'ANSI'")
	res := run(t, te.x, s, "SELECT @@character_set_client, @@autocommit, @@sql_mode, @@global.autocommit")
	// MySQL stores a combination mode with the flags it stands for.
	ansi := "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI"
	assert.Equal(t, []any{"latin1", int64(0), ansi, int64(1)}, res.Rows[0])

	res = run(t, te.x, s, "SHOW SESSION VARIABLES LIKE 'autocommit'")
	assert.Equal(t, [][]any{{"autocommit", "OFF"}}, res.Rows)
	res = run(t, te.x, s, "SHOW GLOBAL VARIABLES LIKE 'autocommit'")
	assert.Equal(t, [][]any{{"autocommit", "ON"}}, res.Rows)

	run(t, te.x, s, "SET autocommit = DEFAULT")
	res = run(t, te.x, s, "SELECT @@autocommit")
	assert.Equal(t, int64(1), res.Rows[0][0])

	run(t, te.x, s, "SET @hook = 'certbot'")
	res = run(t, te.x, s, "SELECT @hook, @unset")
	assert.Equal(t, []any{"certbot", nil}, res.Rows[0])

	run(t, te.x, s, "USE information_schema")
	res = run(t, te.x, s, "SELECT DATABASE()")
	assert.Equal(t, "information_schema", res.Rows[0][0])

	// A failing SET changes nothing.
	_, err := te.x.Run(context.Background(), s, "SET sql_mode = 'X', autocommit = 'maybe'")
	require.Error(t, err)
	res = run(t, te.x, s, "SELECT @@sql_mode")
	assert.Equal(t, ansi, res.Rows[0][0])
}

func TestSessionTLSStatus(t *testing.T) {
	te := newTestEnv(t)
	s := te.viewer
	s.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	res := run(t, te.x, s, "SHOW STATUS LIKE 'Ssl_%'")
	got := map[any]any{}
	for _, r := range res.Rows {
		got[r[0]] = r[1]
	}
	assert.Equal(t, "TLSv1.3", got["Ssl_version"])
	assert.Equal(t, "TLS_AES_128_GCM_SHA256", got["Ssl_cipher"])
	res = run(t, te.x, s, "SHOW GLOBAL STATUS LIKE 'Ssl_version'")
	assert.Equal(t, [][]any{{"Ssl_version", ""}}, res.Rows)
	res = run(t, te.x, s, "SHOW STATUS LIKE 'Uptime'")
	require.Len(t, res.Rows, 1)
	assert.NotEqual(t, "0", res.Rows[0][1])
}

func TestErrorNumbers(t *testing.T) {
	te := newTestEnv(t)
	te.rel.err = &tlsctx.ReloadError{Channel: tlsctx.ChannelClient, Setting: "ssl_cert", File: "/etc/ssld/server.crt", Reason: "certificate expired"}
	tests := []struct {
		name  string
		sess  *Session
		query string
		num   int
		state string
		msg   string
	}{
		{"no super", te.viewer, "SSL_RELOAD", 1227, "42000", "Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s) for this operation"},
		{"no super alter", te.viewer, "ALTER INSTANCE RELOAD TLS", 1227, "42000", ""},
		{"no super flush", te.viewer, "flush ssl", 1227, "42000", ""},
		{"unknown variable", te.viewer, "SELECT @@nope", 1193, "HY000", "Unknown system variable 'nope'"},
		{"unknown variable set", te.viewer, "SET nope = 1", 1193, "HY000", "Unknown system variable 'nope'"},
		{"syntax", te.viewer, "SELEKT 1", 1064, "42000", "You have an error in your SQL syntax; check the manual that corresponds to your ssld version for the right syntax to use near 'SELEKT 1' at line 1"},
		{"not supported", te.viewer, "DROP TABLE t", 1235, "42000", "This version of ssld doesn't yet support 'DROP TABLE'"},
		{"read only global", te.admin, "SET GLOBAL version = 'x'", 1238, "HY000", "Variable 'version' is a read only variable"},
		{"read only session", te.admin, "SET port = 1", 1238, "HY000", "Variable 'port' is a read only variable"},
		{"set global dynamic", te.admin, "SET GLOBAL autocommit = 0", 1235, "42000", ""},
		{"wrong value", te.viewer, "SET autocommit = 'maybe'", 1231, "42000", "Variable 'autocommit' can't be set to the value of 'maybe'"},
		{"wrong type", te.viewer, "SET wait_timeout = 'long'", 1232, "42000", "Incorrect argument type to variable 'wait_timeout'"},
		{"session on global", te.viewer, "SELECT @@session.version", 1238, "HY000", "Variable 'version' is a GLOBAL variable"},
		{"unknown database", te.viewer, "USE mysql", 1049, "42000", "Unknown database 'mysql'"},
		{"empty", te.viewer, "  ", 1065, "42000", "Query was empty"},
		{"other grants", te.viewer, "SHOW GRANTS FOR 'admin'", 1044, "42000", ""},
		{"reload failed", te.admin, "SSL_RELOAD", 3888, "HY000",
			`Failed to set up SSL because of the following SSL library error: channel client: ssl_cert "/etc/ssld/server.crt": certificate expired; the previous TLS contexts remain in use`},
		{"unknown channel", te.admin, "ALTER INSTANCE RELOAD TLS FOR CHANNEL haha", 1149, "42000", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := te.x.Run(context.Background(), tc.sess, tc.query)
			require.Error(t, err)
			assert.Nil(t, res)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, tc.num, e.Num, e.Message)
			assert.Equal(t, tc.state, e.State)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, e.Message)
			}
			// The error is what SHOW WARNINGS reports next.
			w := run(t, te.x, tc.sess, "SHOW WARNINGS")
			assert.Equal(t, [][]any{{"Error", int64(e.Num), e.Message}}, w.Rows)
		})
	}
}

func TestSuperCheckInExec(t *testing.T) {
	te := newTestEnv(t)
	_, err := te.x.Exec(context.Background(), te.viewer, Reload{Syntax: SyntaxSSLReload})
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, mysql.ERSpecifiedAccessDenied, e.Num)
	assert.Equal(t, 0, te.rel.calls, "the reloader is not called without SUPER")

	all := &Session{User: "root", Privileges: []string{"all privileges"}}
	_, err = te.x.Exec(context.Background(), all, Reload{Syntax: SyntaxSSLReload})
	require.NoError(t, err)
	assert.Equal(t, 1, te.rel.calls)
}

func TestReloadWarningsAndNotes(t *testing.T) {
	te := newTestEnv(t)
	te.rel.res = tlsctx.Result{Changed: true, Generation: 4, Warnings: []string{"ssl_capath: skipped README (not a certificate)"}}
	res := run(t, te.x, te.admin, "ALTER INSTANCE RELOAD TLS NO ROLLBACK ON ERROR")
	assert.Empty(t, res.Columns)
	require.Len(t, res.Warnings, 2)
	assert.Equal(t, Warning{Level: "Warning", Code: 3888, Message: "ssl_capath: skipped README (not a certificate)"}, res.Warnings[0])
	assert.Equal(t, "Note", res.Warnings[1].Level)
	assert.Contains(t, res.Warnings[1].Message, "always keeps the previous TLS contexts")

	w := run(t, te.x, te.admin, "SHOW WARNINGS")
	assert.Len(t, w.Rows, 2)
	w = run(t, te.x, te.admin, "SHOW COUNT(*) WARNINGS")
	assert.Equal(t, [][]any{{int64(2)}}, w.Rows, "SHOW WARNINGS does not clear the list")
	run(t, te.x, te.admin, "SELECT 1")
	w = run(t, te.x, te.admin, "SHOW WARNINGS")
	assert.Empty(t, w.Rows, "the next statement clears the list")
}

func TestReloadRestartRequired(t *testing.T) {
	te := newTestEnv(t)
	te.rel.err = &tlsctx.ReloadError{Setting: "tls_version", Reason: "changed from TLSv1.2,TLSv1.3 to TLSv1.3", RestartRequired: true}
	_, err := te.x.Run(context.Background(), te.admin, "SSL_RELOAD")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, ErrRestartRequired, e.Num)
	assert.Equal(t, "HY000", e.State)
	assert.Contains(t, e.Message, "tls_version cannot change on reload")
	assert.Contains(t, e.Message, "restart ssld to apply it")
	assert.Contains(t, e.Message, "the previous TLS contexts remain in use")
}

func TestReloadFailureKeepsGoing(t *testing.T) {
	te := newTestEnv(t)
	te.rel.err = errors.New("context deadline exceeded")
	for i := 0; i < 3; i++ {
		_, err := te.x.Run(context.Background(), te.admin, "SSL_RELOAD")
		require.Error(t, err)
	}
	te.rel.err = nil
	run(t, te.x, te.admin, "SSL_RELOAD")
	assert.Equal(t, 4, te.rel.calls)
	run(t, te.x, te.admin, "SELECT @@version_comment LIMIT 1")
}

func TestReloadOptionsPassed(t *testing.T) {
	var mu sync.Mutex
	var got []int
	rec := reloaderFunc(func(_ context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, len(opts))
		return tlsctx.Result{}, nil
	})
	x := NewExecutor(&Env{Reloader: rec})
	s := &Session{Privileges: []string{"SUPER"}}
	run(t, x, s, "SSL_RELOAD")
	run(t, x, s, "ALTER INSTANCE RELOAD TLS FOR CHANNEL cluster")
	assert.Equal(t, []int{2, 3}, got, "trigger and user always, channel only when given")
}

type reloaderFunc func(ctx context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error)

func (f reloaderFunc) Reload(ctx context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error) {
	return f(ctx, opts...)
}

func TestNilEnvPieces(t *testing.T) {
	x := NewExecutor(&Env{})
	s := &Session{User: "u", Privileges: []string{"SUPER"}}
	for _, q := range []string{"SHOW SSL STATUS", "SHOW AGGREGATORS", "SHOW LEAVES", "SHOW STATUS", "SHOW VARIABLES", "SHOW GRANTS"} {
		run(t, x, s, q)
	}
	_, err := x.Run(context.Background(), s, "SSL_RELOAD")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, ErrSSLLibrary, e.Num)
	_, err = x.Run(context.Background(), nil, "SELECT 1")
	require.Error(t, err)
}

// TestSessionVariables covers what drivers send on connect and read back:
// each value as MySQL 8 stores it, per session, with the expressions drivers
// use.
func TestSessionVariables(t *testing.T) {
	te := newTestEnv(t)
	sel := func(s *Session, q string) []any {
		t.Helper()
		res := run(t, te.x, s, q)
		require.Len(t, res.Rows, 1, q)
		return res.Rows[0]
	}
	s := te.viewer
	// Perl DBD::MariaDB after SET NAMES.
	run(t, te.x, s, "SET NAMES 'utf8mb4'")
	run(t, te.x, s, "SET character_set_server = 'utf8mb4'")
	run(t, te.x, s, "SET character_set_server = 'latin1'")
	assert.Equal(t, []any{"latin1", "latin1_swedish_ci"}, sel(s, "SELECT @@character_set_server, @@collation_server"))
	assert.Equal(t, []any{"utf8mb4", "utf8mb4_0900_ai_ci"}, sel(s, "SELECT @@global.character_set_server, @@global.collation_server"))
	// Connector/J 2.7 with default settings.
	run(t, te.x, s, "set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')")
	assert.Equal(t, []any{int64(1), "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"},
		sel(s, "SELECT @@autocommit, @@sql_mode"))
	// mariadb-dump's first statements, as executable comments.
	run(t, te.x, s, "/*!40100 SET @@SQL_MODE='' */")
	run(t, te.x, s, "/*!40103 SET TIME_ZONE='+00:00' */")
	assert.Equal(t, []any{"", "+00:00"}, sel(s, "SELECT @@sql_mode, @@time_zone"))
	run(t, te.x, s, "/*!99999 SET TIME_ZONE='+01:00' */ SELECT 1")
	assert.Equal(t, []any{"+00:00"}, sel(s, "SELECT @@time_zone"))

	// Order: later assignments see earlier ones; @user variables round-trip.
	run(t, te.x, s, "SET @old = @@sql_mode, sql_mode = 'traditional,ansi_quotes', @new = @@sql_mode")
	assert.Equal(t, []any{"", "ANSI_QUOTES,STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_ENGINE_SUBSTITUTION"},
		sel(s, "SELECT @old, @new"))
	run(t, te.x, s, "SET sql_mode = @old")
	assert.Equal(t, []any{""}, sel(s, "SELECT @@sql_mode"))
	run(t, te.x, s, "SET sql_mode = IF(@@sql_mode = '', IFNULL(NULL, 'ANSI_QUOTES'), 'NO_ZERO_DATE')")
	assert.Equal(t, []any{"ANSI_QUOTES"}, sel(s, "SELECT @@session.sql_mode"))
	run(t, te.x, s, "SET sql_mode = DEFAULT, time_zone = DEFAULT")
	assert.Equal(t, []any{"ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION", "SYSTEM"},
		sel(s, "SELECT @@sql_mode, @@time_zone"))

	run(t, te.x, s, "SET NAMES utf8mb4 COLLATE 'utf8mb4_unicode_ci'")
	assert.Equal(t, []any{"utf8mb4", "utf8mb4_unicode_ci", "utf8mb4"}, sel(s, "SELECT @@character_set_connection, @@collation_connection, @@character_set_client"))
	for q, num := range map[string]int{
		"SET NAMES utf8mb4 COLLATE utf8mb4_klingon":   mysql.ERUnknownCollation,
		"SET NAMES utf8mb4 COLLATE latin1_swedish_ci": mysql.ERCollationCharsetMismatch,
	} {
		_, err := te.x.Run(context.Background(), s, q)
		var e *Error
		require.True(t, errors.As(err, &e), q)
		assert.Equal(t, num, e.Num, q)
	}
	assert.Equal(t, []any{"utf8mb4_unicode_ci"}, sel(s, "SELECT @@collation_connection"), "a failed SET NAMES changes nothing")

	// Coupled variables.
	run(t, te.x, s, "SET collation_connection = 'utf8_general_ci'")
	assert.Equal(t, []any{"utf8mb3", "utf8mb3_general_ci"}, sel(s, "SELECT @@character_set_connection, @@collation_connection"))
	run(t, te.x, s, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	run(t, te.x, s, "SET tx_read_only = 1")
	assert.Equal(t, []any{"READ-COMMITTED", "READ-COMMITTED", int64(1)}, sel(s, "SELECT @@transaction_isolation, @@tx_isolation, @@transaction_read_only"))
	run(t, te.x, s, "SET transaction_isolation = 'serializable', time_zone = 'Europe/Berlin'")
	assert.Equal(t, []any{"SERIALIZABLE", "Europe/Berlin"}, sel(s, "SELECT @@tx_isolation, @@time_zone"))
	run(t, te.x, s, "SET character_set_results = NULL")
	assert.Equal(t, []any{""}, sel(s, "SELECT @@character_set_results"))
	assert.Equal(t, []any{"a,b", "x-y", nil, "AB", int64(1), nil},
		sel(s, "SELECT CONCAT('a', ',', 'b'), CONCAT_WS('-', 'x', NULL, 'y'), CONCAT('a', NULL), UPPER('ab'), 'a' = 'A', NULLIF(1, 1)"))

	// Another session is untouched.
	assert.Equal(t, []any{"utf8mb4", "SYSTEM", "REPEATABLE-READ"}, sel(te.admin, "SELECT @@character_set_server, @@time_zone, @@transaction_isolation"))

	// A failing SET changes nothing, not even the assignments before it.
	before := sel(s, "SELECT @@autocommit, @@time_zone")
	for _, tc := range []struct {
		query string
		num   int
		msg   string
	}{
		{"SET autocommit = 0, sql_mode = 'NO_SUCH_MODE'", mysql.ERWrongValueForVar, "Variable 'sql_mode' can't be set to the value of 'NO_SUCH_MODE'"},
		{"SET autocommit = 0, time_zone = '+15:00'", mysql.ERUnknownTimeZone, "Unknown or incorrect time zone: '+15:00'"},
		{"SET autocommit = 0, character_set_server = 'klingon'", mysql.ERUnknownCharacterSet, "Unknown character set: 'klingon'"},
		{"SET autocommit = 0, collation_server = 'utf8mb4_klingon'", mysql.ERUnknownCollation, "Unknown collation: 'utf8mb4_klingon'"},
		{"SET autocommit = 0, transaction_isolation = 'SNAPSHOT'", mysql.ERWrongValueForVar, ""},
		{"SET autocommit = 0, sql_mode = NULL", mysql.ERWrongValueForVar, "Variable 'sql_mode' can't be set to the value of 'NULL'"},
		{"SET autocommit = 0, time_zone = CONCAT(@@nope, 'x')", mysql.ERUnknownSystemVariable, "Unknown system variable 'nope'"},
		{"SET autocommit = 0, sql_mode = SUBSTRING('x', 1)", mysql.ERNotSupportedYet, ""},
	} {
		_, err := te.x.Run(context.Background(), s, tc.query)
		var e *Error
		require.True(t, errors.As(err, &e), tc.query)
		assert.Equal(t, tc.num, e.Num, tc.query+": "+e.Message)
		if tc.msg != "" {
			assert.Equal(t, tc.msg, e.Message)
		}
		assert.Equal(t, before, sel(s, "SELECT @@autocommit, @@time_zone"), tc.query)
	}
}

func TestOptimizerSwitch(t *testing.T) {
	te := newTestEnv(t)
	s := te.viewer
	run(t, te.x, s, "set optimizer_switch='semijoin=off'") // mariadb-dump
	res := run(t, te.x, s, "SELECT @@optimizer_switch, @@global.optimizer_switch")
	assert.Contains(t, res.Rows[0][0], ",semijoin=off,")
	assert.Contains(t, res.Rows[0][1], ",semijoin=on,")
	run(t, te.x, s, "set optimizer_switch='semijoin=default,mrr=off'")
	res = run(t, te.x, s, "SELECT @@optimizer_switch")
	assert.Contains(t, res.Rows[0][0], ",semijoin=on,")
	assert.Contains(t, res.Rows[0][0], ",mrr=off,")
	_, err := te.x.Run(context.Background(), s, "set optimizer_switch='warp_drive=on'")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, mysql.ERWrongValueForVar, e.Num)
}

// TestShowGrantsFromAccounts: SHOW GRANTS renders the configured account
// (privileges upper-case, REQUIRE clause, quoted names), falls back to the
// session's privileges for a user no longer configured, and shows nothing
// for another unknown user.
func TestShowGrantsFromAccounts(t *testing.T) {
	accounts := map[string]Account{
		"admin": {Privileges: []string{"super"}, RequireSSL: true},
		"o'x":   {RequireX509: true},
	}
	x := NewExecutor(&Env{Accounts: func(u string) (Account, bool) { a, ok := accounts[u]; return a, ok }})
	admin := &Session{User: "admin", Host: "127.0.0.1", Privileges: []string{"SUPER"}}
	gone := &Session{User: "gone", Host: "127.0.0.1", Privileges: []string{"SUPER"}}
	cases := []struct {
		name     string
		s        *Session
		q        string
		expected [][]any
	}{
		{"own", admin, "SHOW GRANTS", [][]any{{"GRANT SUPER ON *.* TO 'admin'@'%' REQUIRE SSL"}}},
		{"other, quoted", admin, `SHOW GRANTS FOR 'o\'x'@'h'`, [][]any{{`GRANT USAGE ON *.* TO 'o\'x'@'h' REQUIRE X509`}}},
		{"own, no longer configured", gone, "SHOW GRANTS", [][]any{{"GRANT SUPER ON *.* TO 'gone'@'%'"}}},
		{"other, unknown", admin, "SHOW GRANTS FOR nobody", [][]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.expected, run(t, x, tc.s, tc.q).Rows)
		})
	}
}

// fakeProcs is a connection table.
type fakeProcs struct {
	list   []Process
	killed []string
}

func (f *fakeProcs) List() []Process { return f.list }
func (f *fakeProcs) Kill(id uint32, q bool) bool {
	for _, p := range f.list {
		if p.ID == id {
			f.killed = append(f.killed, fmt.Sprint(id, q))
			return true
		}
	}
	return false
}
func (f *fakeProcs) Questions() uint64 { return 42 }

func TestAdminStatements(t *testing.T) {
	te := newTestEnv(t)
	procs := &fakeProcs{list: []Process{
		{ID: 7, User: "admin", Host: "127.0.0.1:5000", Command: "Query", Info: "SHOW FULL PROCESSLIST " + strings.Repeat("x", 120)},
		{ID: 8, User: "monitor", Host: "localhost", Command: "Sleep", Time: 3, DB: "information_schema"},
		{ID: 9, User: "monitor", Host: "localhost", Command: "Sleep"},
	}}
	te.x.env.Processes = procs

	res := run(t, te.x, te.admin, "SHOW FULL PROCESSLIST")
	assert.Equal(t, []string{"Id", "User", "Host", "db", "Command", "Time", "State", "Info"}, colNames(res))
	require.Len(t, res.Rows, 3)
	assert.Equal(t, []any{int64(8), "monitor", "localhost", "information_schema", "Sleep", int64(3), nil, nil}, res.Rows[1])
	assert.Len(t, res.Rows[0][7], 142)
	res = run(t, te.x, te.admin, "SHOW PROCESSLIST")
	assert.Len(t, res.Rows[0][7], 100, "Info is cut at 100 characters without FULL")
	procs.list[0].Info = strings.Repeat("é", 150)
	res = run(t, te.x, te.admin, "SHOW PROCESSLIST")
	assert.Equal(t, strings.Repeat("é", 100), res.Rows[0][7], "100 characters, not bytes")
	procs.list[0].Info = strings.Repeat("é", MaxStatementBytes) // twice the bound in bytes
	res = run(t, te.x, te.admin, "SHOW FULL PROCESSLIST")
	assert.Equal(t, strings.Repeat("é", MaxStatementBytes/2), res.Rows[0][7], "FULL: at most the statement bound")
	res = run(t, te.x, te.viewer, "SHOW PROCESSLIST")
	require.Len(t, res.Rows, 2, "without SUPER only the user's own connections")
	assert.Equal(t, "monitor", res.Rows[0][1])

	run(t, te.x, te.admin, "KILL QUERY 8")
	run(t, te.x, te.admin, "KILL 8")
	run(t, te.x, te.viewer, "KILL CONNECTION 9")
	assert.Equal(t, []string{"8 true", "8 false", "9 false"}, procs.killed)
	connAdmin := &Session{ConnectionID: 10, User: "ops", Host: "127.0.0.1", Privileges: []string{"CONNECTION_ADMIN"}}
	run(t, te.x, connAdmin, "KILL QUERY 9")
	assert.Equal(t, "9 true", procs.killed[3], "CONNECTION_ADMIN kills another user's query, as in MySQL 8")
	procs.killed = procs.killed[:3]

	// The session's own connection (te.viewer is connection 8): 1317, as in
	// MySQL; KILL CONNECTION also closes it once the answer is out.
	_, err := te.x.Run(context.Background(), te.viewer, "KILL QUERY 8")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, mysql.ERQueryInterrupted, e.Num)
	assert.False(t, te.viewer.CloseAfterReply)
	_, err = te.x.Run(context.Background(), te.viewer, "KILL 8")
	require.True(t, errors.As(err, &e))
	assert.Equal(t, "Query execution was interrupted", e.Message)
	assert.True(t, te.viewer.CloseAfterReply)
	te.viewer.CloseAfterReply = false
	assert.Len(t, procs.killed, 3, "not through the process table")

	res = run(t, te.x, te.viewer, "SELECT LOGFILE_GROUP_NAME, FILE_NAME FROM INFORMATION_SCHEMA.FILES WHERE FILE_TYPE = 'UNDO LOG' GROUP BY LOGFILE_GROUP_NAME ORDER BY LOGFILE_GROUP_NAME")
	assert.Equal(t, []string{"LOGFILE_GROUP_NAME", "FILE_NAME"}, colNames(res))
	assert.Empty(t, res.Rows)
	run(t, te.x, te.viewer, "USE information_schema")
	res = run(t, te.x, te.viewer, "SHOW FULL TABLES")
	assert.Equal(t, []string{"Tables_in_information_schema", "Table_type"}, colNames(res))
	assert.Empty(t, res.Rows)
	for _, q := range []string{"FLUSH STATUS", "flush tables", "FLUSH LOCAL LOGS, HOSTS", "FLUSH BINARY LOGS", "FLUSH THREADS"} {
		run(t, te.x, te.admin, q)
	}
	res = run(t, te.x, te.viewer, "SHOW STATUS LIKE 'Questions'")
	assert.Equal(t, [][]any{{"Questions", "42"}}, res.Rows)

	for _, tc := range []struct {
		sess  *Session
		query string
		num   int
		msg   string
	}{
		{te.viewer, "KILL 7", mysql.ERKillDenied, "You are not owner of thread 7"},
		{te.admin, "KILL 99", mysql.ERNoSuchThread, "Unknown thread id: 99"},
		{te.viewer, "FLUSH STATUS", mysql.ERSpecifiedAccessDenied, ""},
		{te.admin, "FLUSH TABLES WITH READ LOCK", mysql.ERNotSupportedYet, ""},
		{te.admin, "FLUSH STATUS,", mysql.ERParseError, ""},
		{te.admin, "SHOW TABLES FROM mysql", mysql.ERBadDb, "Unknown database 'mysql'"},
		{&Session{User: "x"}, "SHOW TABLES", mysql.ERNoDb, "No database selected"},
		{te.admin, "SELECT * FROM information_schema.FILES", mysql.ERNotSupportedYet, ""},
	} {
		_, err := te.x.Run(context.Background(), tc.sess, tc.query)
		var e *Error
		require.True(t, errors.As(err, &e), tc.query)
		assert.Equal(t, tc.num, e.Num, tc.query+": "+e.Message)
		if tc.msg != "" {
			assert.Equal(t, tc.msg, e.Message)
		}
	}
}

func TestWarningCountVariables(t *testing.T) {
	te := newTestEnv(t)
	s := te.viewer
	s.Warnings = []Warning{{Level: "Warning", Code: 3888, Message: "a"}, {Level: "Note", Code: 1235, Message: "b"}}
	res := run(t, te.x, s, "SELECT @@warning_count, @@session.error_count")
	assert.Equal(t, [][]any{{int64(2), int64(0)}}, res.Rows, "the previous statement's counts")
	assert.Equal(t, []Column{{Name: "@@warning_count", Int: true}, {Name: "@@session.error_count", Int: true}}, res.Columns)
	res = run(t, te.x, s, "SHOW VARIABLES LIKE 'warning_count'")
	assert.Equal(t, [][]any{{"warning_count", "0"}}, res.Rows, "SELECT raised none")
	res = run(t, te.x, s, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('warning_count', 'error_count')")
	assert.Empty(t, res.Rows, "session-only")
	_, err := te.x.Run(context.Background(), s, "SELECT @@nope")
	require.Error(t, err)
	res = run(t, te.x, s, "SELECT @@error_count, @@warning_count")
	assert.Equal(t, [][]any{{int64(1), int64(1)}}, res.Rows)
	for _, q := range []string{"SET warning_count = 1", "SELECT @@global.warning_count"} {
		_, err := te.x.Run(context.Background(), s, q)
		var e *Error
		require.True(t, errors.As(err, &e), q)
		assert.Equal(t, mysql.ERIncorrectGlobalLocalVar, e.Num, q)
	}
}

// TestKeptWarningsCapped: a statement's warnings are kept up to
// max_error_count (1024), the last kept one a note saying how many were
// left out; the count is every distinct warning, as MySQL's warning_count.
func TestKeptWarningsCapped(t *testing.T) {
	var ws []Warning
	for i := 0; i < 1500; i++ {
		ws = append(ws, Warning{Level: "Warning", Code: 3888, Message: fmt.Sprintf("finding %d", i)}, Warning{Level: "Warning", Code: 3888, Message: "finding 0"})
	}
	kept, n := keptWarnings(ws)
	assert.Equal(t, 1500, n, "distinct findings")
	require.Len(t, kept, MaxKeptWarnings)
	assert.Equal(t, "finding 1022", kept[1022].Message)
	assert.Equal(t, Warning{Level: "Note", Code: 1105, Message: "477 more warnings were left out (max_error_count is 1024)"}, kept[1023])
	kept, n = keptWarnings(ws[:2*1024])
	assert.Equal(t, 1024, n)
	assert.Equal(t, "finding 1023", kept[1023].Message, "exactly 1024: no note")
}

func fingerprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
