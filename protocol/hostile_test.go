package protocol_test

import (
	"database/sql"
	"errors"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
)

// hostileDB opens a go-sql-driver pool on addr as the fuzz user.
func hostileDB(t *testing.T, addr string, edit func(*mysql.Config)) *sql.DB {
	t.Helper()
	cfg := driverConfig(addr, "tcp")
	cfg.ReadTimeout, cfg.WriteTimeout = 20*time.Second, 20*time.Second
	if edit != nil {
		edit(cfg)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	t.Cleanup(func() { db.Close() })
	return db
}

// mysqlErrNum is the MySQL error number of err, or 0.
func mysqlErrNum(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// requireServes checks that the server answers SELECT 1 on db.
func requireServes(t *testing.T, db *sql.DB) {
	t.Helper()
	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	require.Equal(t, 1, one)
}

// TestHostileKeywordRun: runs of NOT and FOR, which make vitess's
// tokenizer recurse once per keyword (2.5 million of them overflowed the
// 1 GB goroutine stack: a fatal error, the whole process gone), are
// refused with 1436 before any parser sees them, over a real socket with
// go-sql-driver; the connection and the process go on.
func TestHostileKeywordRun(t *testing.T) {
	srv := startServerWith(t, nil, []protocol.User{{Name: fuzzUser, Password: fuzzPW, Privileges: []string{"SUPER"}}},
		func(c *protocol.Config) { c.MaxAllowedPacket = 16 << 20 })
	db := hostileDB(t, srv.Addr().String(), nil)
	db.SetMaxOpenConns(1)
	for _, tc := range []struct{ name, q, msg string }{
		{"2.5 million NOT", "SELECT " + strings.Repeat("NOT ", 2_500_000) + "1", "bytes"},
		{"2.5 million FOR", "SELECT 1 " + strings.Repeat("FOR ", 2_500_000), "bytes"},
		{"25,000 NOT", "SELECT " + strings.Repeat("NOT ", 25_000) + "1", "NOT/FOR keywords in a row"},
		{"25,000 FOR", "SELECT 1 " + strings.Repeat("for\n", 25_000), "NOT/FOR keywords in a row"},
		{"deep parentheses", "SELECT " + strings.Repeat("(", 50_000) + "1" + strings.Repeat(")", 50_000), "tokens"},
		{"long operator chain", "SELECT 1" + strings.Repeat("+1", 60_000), "tokens"},
	} {
		_, err := db.Exec(tc.q)
		require.Error(t, err, tc.name)
		assert.Equal(t, sqlcmd.ErrStackOverrun, mysqlErrNum(err), "%s: %v", tc.name, err)
		assert.Contains(t, err.Error(), tc.msg, tc.name)
		requireServes(t, db) // the same connection goes on
	}
}

// TestHostileHeaderAlone: after login, a packet header that announces
// (almost) max_allowed_packet bytes and then one byte makes the server
// hold no more than what arrived: 32 such connections leave the heap
// within 8 MiB of where it was (vitess alone allocated the announced 1 MiB
// each, 32 MiB, from the header). When the rest of the packet comes, it
// is served (here: 1436, a statement over sqlcmd.MaxStatementBytes).
func TestHostileHeaderAlone(t *testing.T) {
	srv := startFuzzServer(t, nil)
	addr := srv.Addr().String()
	const conns = 32
	length := int(protocol.DefaultMaxAllowedPacket - 1)
	header := []byte{byte(length), byte(length >> 8), byte(length >> 16), 0, 0x03}

	var before runtime.MemStats
	runtime.GC()
	runtime.GC() // and what sync.Pools kept from earlier tests
	runtime.ReadMemStats(&before)
	var socks []net.Conn
	for range conns {
		c, _ := rawLogin(t, addr)
		_, err := c.Write(header)
		require.NoError(t, err)
		socks = append(socks, c)
	}
	time.Sleep(300 * time.Millisecond) // let every connection read its header
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap after %d announced %d-byte packets: %+d KiB", conns, length, grown>>10)
	assert.Less(t, grown, int64(8<<20), "the server allocated ahead of the bytes received")

	c := socks[0]
	rest := "SELECT 1 /*" + strings.Repeat("x", length-1-len("SELECT 1 /**/")) + "*/"
	_, err := c.Write([]byte(rest))
	require.NoError(t, err)
	_, p, err := wiretest.ReadPacket(c)
	require.NoError(t, err)
	assert.Equal(t, sqlcmd.ErrStackOverrun, wiretest.ErrNum(p), "answer %.80q", p)
	for _, s := range socks {
		s.Close()
	}
	requireServes(t, hostileDB(t, addr, nil))
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHostileMultiStatements: a multi-statement text is split once, in
// time linear in its length. 100,000 x "SELECT 1;" (900 KB, under the
// default max_allowed_packet) costs about ten times what 10,000 cost
// (asserted under 30 times, and under 60 s of CPU for client and server
// together); before, each statement re-split the whole rest of the text:
// ~20 s of CPU for 100,000, a hundred times 10,000. The first statement
// that fails ends the text, as in MySQL, and the connection stays in step.
func TestHostileMultiStatements(t *testing.T) {
	srv := startFuzzServer(t, nil)
	db := hostileDB(t, srv.Addr().String(), func(c *mysql.Config) {
		c.MultiStatements = true
		c.ReadTimeout, c.WriteTimeout = 2*time.Minute, 2*time.Minute
	})
	db.SetMaxOpenConns(1)
	requireServes(t, db)
	run := func(n int) time.Duration {
		q := strings.Repeat("SELECT 1;", n)
		start := cpuTime(t)
		_, err := db.Exec(q)
		require.NoError(t, err)
		return cpuTime(t) - start
	}
	small, large := run(10_000), run(100_000)
	t.Logf("CPU: 10,000 statements %v, 100,000 statements %v (x%.1f)", small, large, float64(large)/float64(small))
	assert.Less(t, large, 60*time.Second)
	assert.Less(t, float64(large), 30*float64(max(small, 10*time.Millisecond)), "splitting is not linear")

	// The first failing statement ends the text: one error, nothing after it.
	_, err := db.Exec("SELECT 1; SELECT @@no_such_variable; SELECT 2")
	assert.Equal(t, uint16(1193), mysqlErrNum(err), "%v", err)
	requireServes(t, db)
}
