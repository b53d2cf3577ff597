package protocol_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
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
		assert.Equal(t, uint16(sqlcmd.ErrStackOverrun), mysqlErrNum(err), "%s: %v", tc.name, err)
		assert.Contains(t, err.Error(), tc.msg, tc.name)
		requireServes(t, db) // the same connection goes on
	}
}

// TestHostileHeaderAlone: after login, a packet header that announces
// (almost) max_allowed_packet bytes and then 128 bytes of it makes the server
// hold no more than what arrived: 32 such connections leave the heap
// within 8 MiB of where it was (vitess alone allocated the announced
// 512 KiB each, 16 MiB, from the header). When the rest of the packet comes, it
// is served (here: 1436, a statement over sqlcmd.MaxStatementBytes).
func TestHostileHeaderAlone(t *testing.T) {
	srv := startFuzzServer(t, nil)
	addr := srv.Addr().String()
	const conns = 32
	length := int(protocol.DefaultMaxAllowedPacket - 1)
	// The header and the first 128 bytes of the payload: past what the
	// command hook looks at, so only the transport stands between the
	// header and vitess's buffer.
	start := "SELECT 1 /*" + strings.Repeat("x", 128-1-len("SELECT 1 /*"))
	header := append([]byte{byte(length), byte(length >> 8), byte(length >> 16), 0, 0x03}, start...)

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
	rest := strings.Repeat("x", length-len(header)+4-len("*/")) + "*/"
	_, err := c.Write([]byte(rest))
	require.NoError(t, err)
	_, p, err := wiretest.ReadPacket(c)
	require.NoError(t, err)
	assert.Equal(t, uint16(sqlcmd.ErrStackOverrun), wiretest.ErrNum(p), "answer %.80q", p)
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
// time linear in its length. 100,000 x "SELECT 1;" (900 KB, with
// max_allowed_packet 1 MiB) costs about ten times what 10,000 cost
// (asserted under 30 times, and under 60 s of CPU for client and server
// together); before, each statement re-split the whole rest of the text:
// ~20 s of CPU for 100,000, a hundred times 10,000. The first statement
// that fails ends the text, as in MySQL, and the connection stays in step.
func TestHostileMultiStatements(t *testing.T) {
	srv := startServerWith(t, nil, []protocol.User{{Name: fuzzUser, Password: fuzzPW}},
		func(c *protocol.Config) { c.MaxAllowedPacket = 1 << 20 })
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

// TestHostileErrorEcho: errors that quote client input (an unknown column,
// variable, database, character set, time zone) are cut at 512 bytes
// (MySQL's MYSQL_ERRMSG_SIZE), in the error packet and in what SHOW
// WARNINGS keeps; before, a 200 KiB identifier came back whole and stayed
// on the connection.
func TestHostileErrorEcho(t *testing.T) {
	srv := startFuzzServer(t, nil)
	db := hostileDB(t, srv.Addr().String(), nil)
	db.SetMaxOpenConns(1)
	big := strings.Repeat("é", 100<<10) // 200 KiB, two bytes a character
	for _, tc := range []struct {
		q   string
		num uint16
	}{
		{"SELECT `" + big + "`", 1054},
		{"SELECT @@" + strings.Repeat("v", 200<<10), 1193},
		{"USE `" + big + "`", 1049},
		{"SET NAMES '" + big + "'", 1115},
		{"SET time_zone = '" + big + "'", 1298},
		{"SET autocommit = '" + big + "'", 1231},
		{"SHOW GRANTS FOR '" + big + "'", 1470},
	} {
		_, err := db.Exec(tc.q)
		var me *mysql.MySQLError
		require.ErrorAs(t, err, &me, tc.q[:20])
		assert.Equal(t, tc.num, me.Number, "%.20s: %.100s", tc.q, me.Message)
		assert.LessOrEqual(t, len(me.Message), sqlcmd.MaxMessageBytes, "%.20s", tc.q)
		assert.True(t, utf8.ValidString(me.Message), "cut at a character boundary")

		var level, msg string
		var code int
		require.NoError(t, db.QueryRow("SHOW WARNINGS").Scan(&level, &code, &msg))
		assert.Equal(t, int(tc.num), code)
		assert.LessOrEqual(t, len(msg), sqlcmd.MaxMessageBytes, "SHOW WARNINGS keeps a bounded message")
	}
	requireServes(t, db)

	// COM_INIT_DB of a 200 KiB name, raw.
	c, _ := rawLogin(t, srv.Addr().String())
	_, err := c.Write(packet(0, append([]byte{0x02}, big...)))
	require.NoError(t, err)
	_, p, err := wiretest.ReadPacket(c)
	require.NoError(t, err)
	assert.Equal(t, uint16(1049), wiretest.ErrNum(p))
	assert.LessOrEqual(t, len(p), 9+sqlcmd.MaxMessageBytes)
}

// TestHostileLongUserName: a handshake response with a 60 KiB user name
// (under the 64 KiB pre-login budget) gets 1045 naming the first 32
// characters (MySQL's user-name limit), and the failed-login log line
// carries those 32 characters only, never the whole name (before: the
// name twice, ~120 KB per line).
func TestHostileLongUserName(t *testing.T) {
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startServer(t, log, []protocol.User{{Name: fuzzUser, Password: fuzzPW}})
	user := strings.Repeat("u", 60<<10)
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, _, err = wiretest.ReadPacket(c) // greeting
	require.NoError(t, err)
	_, err = c.Write(packet(1, handshakeResponse(user, bytes.Repeat([]byte{1}, 20), "mysql_native_password")))
	require.NoError(t, err)
	p := answerUntilError(t, c, &logs)
	require.Equal(t, uint16(1045), wiretest.ErrNum(p), "%.100q\n%.3000s", p, logs.String())
	assert.Contains(t, string(p), "'"+strings.Repeat("u", 32)+"'@")
	assert.LessOrEqual(t, len(p), 9+sqlcmd.MaxMessageBytes)

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "login failed") }, 5*time.Second, 10*time.Millisecond)
	for _, line := range strings.Split(logs.String(), "\n") {
		assert.LessOrEqual(t, len(line), 2048, "log line %.200q", line)
		assert.NotContains(t, line, strings.Repeat("u", 33), "more than 32 characters of the user name in the log")
	}
}

// answerUntilError plays a client that does not know the password through
// the login exchange (an auth switch answered with 32 bytes, caching_sha2's
// full authentication with a 10-byte answer, which is no RSA-encrypted
// password) and returns the ERR packet that ends it.
func answerUntilError(t *testing.T, c net.Conn, logs *testenv.LogBuffer) []byte {
	t.Helper()
	for range 5 {
		seq, p, err := wiretest.ReadPacket(c)
		require.NoError(t, err, "%.3000s", logs.String())
		switch p[0] {
		case 0xfe:
			_, err = c.Write(packet(seq+1, bytes.Repeat([]byte{1}, 32)))
		case 0x01:
			_, err = c.Write(packet(seq+1, bytes.Repeat([]byte{1}, 10)))
		default:
			return p
		}
		require.NoError(t, err)
	}
	t.Fatal("no error after 5 exchanges")
	return nil
}

// TestHostileCommands: every command vitess would panic on or answer
// twice gets MySQL's answer, one per command (none where MySQL sends
// none), and the connection goes on where MySQL's does. Before: a
// COM_STMT_RESET panicked in vitess (connection closed), COM_FIELD_LIST was
// answered with an error and a stray EOF, a malformed COM_BINLOG_DUMP_GTID
// panicked, COM_STMT_PREPARE ran vitess's parser on a keyword run.
func TestHostileCommands(t *testing.T) {
	srv := startFuzzServer(t, nil)
	addr := srv.Addr().String()
	panics := protocol.RecoveredPanics()
	c, _ := rawLogin(t, addr)
	u32 := func(cmd byte, id uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{cmd}, id) }
	// send writes one command; want is the error number of its one answer
	// (0: an OK packet, -1: no answer, -2: an EOF packet). A COM_PING follows every command,
	// so a second answer or a missing one shows as a wrong packet.
	send := func(name string, payload []byte, want int) {
		t.Helper()
		_, err := c.Write(packet(0, payload))
		require.NoError(t, err, name)
		_, err = c.Write(packet(0, []byte{0x0e})) // COM_PING
		require.NoError(t, err, name)
		if want != -1 {
			seq, p, err := wiretest.ReadPacket(c)
			require.NoError(t, err, name)
			assert.Equal(t, byte(1), seq, name)
			switch want {
			case 0:
				assert.Equal(t, byte(0), p[0], "%s: %q", name, p)
			case -2:
				assert.Equal(t, byte(0xfe), p[0], "%s: EOF, got %q", name, p)
			default:
				assert.Equal(t, uint16(want), wiretest.ErrNum(p), "%s: %q", name, p)
			}
		}
		_, p, err := wiretest.ReadPacket(c)
		require.NoError(t, err, name)
		assert.Equal(t, []byte{0, 0, 0, 2, 0, 0, 0}, p, "%s: then the ping's OK, nothing between", name)
	}
	send("COM_STMT_RESET of an unknown id", u32(0x1a, 1), 1243)
	send("COM_STMT_RESET, short", []byte{0x1a, 1}, 1835)
	send("COM_STMT_EXECUTE of an unknown id", append(u32(0x17, 7), 0, 1, 0, 0, 0), 1243)
	send("COM_STMT_FETCH", append(u32(0x1c, 7), 1, 0, 0, 0), 1243)
	send("COM_STMT_CLOSE", u32(0x19, 1), -1)
	send("COM_STMT_SEND_LONG_DATA", append(u32(0x18, 1), 0, 0, 'x'), -1)
	send("COM_STMT_PREPARE", []byte("\x16SELECT 1"), 1235)
	send("COM_STMT_PREPARE of a keyword run", append([]byte{0x16}, strings.Repeat("NOT ", 100_000)...), 1235)
	send("COM_FIELD_LIST without a database", []byte("\x04t\x00"), 1046)
	send("COM_SET_OPTION of an unknown option", []byte{0x1b, 7, 0}, 1047)
	send("COM_SET_OPTION on", []byte{0x1b, 0, 0}, -2) // vitess answers it, with an EOF as MySQL
	send("unknown command", []byte{0xfe, 0}, 1047)
	send("COM_CHANGE_USER", []byte{0x11, 'x', 0}, 1047)
	send("COM_INIT_DB", []byte("\x02information_schema"), 0)
	send("COM_FIELD_LIST", []byte("\x04t\x00"), 1146)
	_, err := c.Write(packet(0, []byte("\x03SELECT 1")))
	require.NoError(t, err)
	_, p, err := wiretest.ReadPacket(c)
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, p, "SELECT 1 after all that")

	// A malformed COM_BINLOG_DUMP_GTID: 1047 and the connection closes
	// (as for a well-formed one).
	c2, _ := rawLogin(t, addr)
	_, err = c2.Write(packet(0, []byte{0x1e, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}))
	require.NoError(t, err)
	_, p, err = wiretest.ReadPacket(c2)
	require.NoError(t, err)
	assert.Equal(t, uint16(1047), wiretest.ErrNum(p), "%q", p)
	_, _, err = wiretest.ReadPacket(c2)
	assert.Error(t, err, "closed after the answer")

	// Before login: a length-encoded auth response of 2^64-1 bytes.
	c3, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c3.Close()
	require.NoError(t, c3.SetDeadline(time.Now().Add(5*time.Second)))
	_, _, err = wiretest.ReadPacket(c3)
	require.NoError(t, err)
	lenenc := []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	_, err = c3.Write(packet(1, wiretest.HandshakeResponseLenenc(wiretest.CapsBase, fuzzUser, lenenc, "mysql_native_password")))
	require.NoError(t, err)
	_, p, err = wiretest.ReadPacket(c3)
	require.NoError(t, err)
	assert.Equal(t, uint16(1043), wiretest.ErrNum(p), "%q", p)

	assert.Equal(t, panics, protocol.RecoveredPanics(), "no panic recovered")
	db := hostileDB(t, addr, nil)
	requireServes(t, db)
	var name, value string
	require.NoError(t, db.QueryRow("SHOW STATUS LIKE 'Ssld_recovered_panics'").Scan(&name, &value))
	assert.Equal(t, strconv.FormatInt(protocol.RecoveredPanics(), 10), value)
}

// TestHostileLongPassword: caching_sha2_password's full authentication
// (over the Unix socket, where the password comes in clear) refuses a
// password over 256 bytes before hashing it: a 44 KB one fails with 1045
// within 200 ms of CPU, for a real "$A$" account and an unknown name alike
// (before: ~1.5 s of CPU per try for the account, SHA-256 crypt being
// quadratic in the length, and ~1 ms for a name that is none). Under the
// bound, a wrong password costs an unknown name what it costs a real
// account (the name's password is checked against a dummy "$A$" hash).
func TestHostileLongPassword(t *testing.T) {
	hash, err := protocol.CachingSHA2PasswordHash("right password")
	require.NoError(t, err)
	sock := filepath.Join(t.TempDir(), "s.sock")
	startServerWith(t, nil, []protocol.User{{Name: "sha2", PasswordHash: hash, Plugin: protocol.PluginCachingSHA},
		{Name: "sha2plain", Password: "right password", Plugin: protocol.PluginCachingSHA}},
		func(c *protocol.Config) { c.Socket = sock })
	ghost := ""
	for i := 0; ghost == ""; i++ {
		if name := fmt.Sprintf("ghost%d", i); protocol.DecoyPlugin(name) == protocol.PluginCachingSHA {
			ghost = name
		}
	}
	login := func(user, password string) (time.Duration, error) {
		cfg := driverConfig(sock, "unix")
		cfg.User, cfg.Passwd = user, password
		db := sql.OpenDB(mustConnector(t, cfg))
		defer db.Close()
		start := cpuTime(t)
		err := db.Ping()
		return cpuTime(t) - start, err
	}
	for _, user := range []string{"sha2", ghost} {
		d, err := login(user, strings.Repeat("p", 44<<10))
		assert.Equal(t, uint16(1045), mysqlErrNum(err), "%s: %v", user, err)
		t.Logf("%s, 44 KB password: %v of CPU", user, d)
		assert.Less(t, d, 200*time.Millisecond, "%s: hashed before refusing", user)
	}
	var known, plain, unknown time.Duration
	for range 8 {
		for _, l := range []struct {
			user string
			sum  *time.Duration
		}{{"sha2", &known}, {"sha2plain", &plain}, {ghost, &unknown}} {
			d, err := login(l.user, strings.Repeat("w", 250))
			assert.Equal(t, uint16(1045), mysqlErrNum(err), "%s: %v", l.user, err)
			*l.sum += d
		}
	}
	t.Logf("8 wrong 250-byte passwords: $A$ account %v, plain-password account %v, unknown name %v of CPU", known, plain, unknown)
	assert.Greater(t, float64(unknown), 0.5*float64(known), "an unknown name is cheaper to refuse than an account")
	assert.Greater(t, float64(plain), 0.5*float64(unknown), "a plain-password account is cheaper to refuse than an unknown name")
	d, err := login("sha2", "right password")
	require.NoError(t, err, "the account still logs in")
	t.Logf("good login: %v", d)
}
