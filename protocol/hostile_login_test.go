package protocol_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

// loginShape drives a failing login by hand and returns what the server
// sent, packet by packet (first byte, the plugin of an auth switch, the
// caching_sha2 status byte), ending with the error number and its text
// with the user name replaced: what a client could tell apart.
func loginShape(t *testing.T, tn *nodetest.Node, useTLS bool, user string) string {
	t.Helper()
	r := wiretest.Dial(t, tn.Addr)
	if useTLS {
		r.StartTLS(t, tn.CA.Cert)
	}
	require.NoError(t, r.Send(r.HandshakeResponse(user, bytes.Repeat([]byte{0x5a}, 20), "mysql_native_password")))
	var shape []string
	for i := 0; i < 6; i++ {
		p, err := r.Read()
		require.NoError(t, err)
		switch {
		case p[0] == 0xff:
			msg := strings.Replace(string(p[9:]), "'"+user+"'", "'USER'", 1)
			return strings.Join(append(shape, fmt.Sprintf("ERR %d %s", wiretest.ErrNum(p), msg)), " > ")
		case p[0] == 0xfe: // auth switch: answer with a scramble of the plugin's size
			plugin := string(p[1 : 1+bytes.IndexByte(p[1:], 0)])
			shape = append(shape, "switch "+plugin)
			n := 20
			if plugin == "caching_sha2_password" {
				n = 32
			}
			require.NoError(t, r.Send(bytes.Repeat([]byte{0x5b}, n)))
		case p[0] == 0x01 && len(p) == 2: // caching_sha2 status
			shape = append(shape, fmt.Sprintf("more %d", p[1]))
			if useTLS {
				require.NoError(t, r.Send([]byte("wrong-password\x00")))
			} else {
				require.NoError(t, r.Send([]byte{0x02})) // ask for the public key
			}
		case p[0] == 0x01: // the public key
			shape = append(shape, "public key")
			require.NoError(t, r.Send(make([]byte, 256)))
		default:
			t.Fatalf("unexpected packet %q", p)
		}
	}
	t.Fatalf("login of %s did not end", user)
	return ""
}

// TestHostileLoginLooksAlike: a wrong password for a real account and any
// unknown name go through the same exchange, packet for packet, over plain
// TCP and TLS: an unknown name looks like an account with
// mysql_native_password or one with caching_sha2_password (fixed per name,
// as MySQL 8's decoy accounts), and both kinds occur.
func TestHostileLoginLooksAlike(t *testing.T) {
	tn := nodetest.New(t, "")
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			reset := func() { require.NoError(t, tn.OpenDBClosed(t, "monitor", nodetest.MonitorPW, "false")) }
			native := loginShape(t, tn, useTLS, "monitor")
			reset()
			sha := loginShape(t, tn, useTLS, "sha")
			reset()
			require.NotEqual(t, native, sha)
			seen := map[string]int{}
			for i := 0; i < 16; i++ {
				name := fmt.Sprintf("ghost%d", i)
				s := loginShape(t, tn, useTLS, name)
				reset()
				assert.Contains(t, []string{native, sha}, s, "%s looks like a real account", name)
				seen[s]++
				assert.Equal(t, s, loginShape(t, tn, useTLS, name), "the same name looks the same every time")
				reset()
			}
			assert.Len(t, seen, 2, "unknown names look like either kind: %v", seen)
			t.Logf("native: %s\nsha2:   %s", native, sha)
		})
	}
}

// TestHostileLoginThrottle: after 3 failed logins from one address every
// further login from it waits 250 ms more (up to 2 s); the Unix socket is
// never delayed; a success resets the address. Failures are logged at warn
// with the user, the client address and the reason, at most 10 lines a
// second, and the next line says how many were left out.
func TestHostileLoginThrottle(t *testing.T) {
	tn := nodetest.New(t, "")
	logs := &testenv.LogBuffer{}
	tn.Restart(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)
	attempt := func(user, pw string) time.Duration {
		t0 := time.Now()
		err := tn.OpenDBClosed(t, user, pw, name)
		took := time.Since(t0)
		if pw == "wrong" {
			assert.Equal(t, uint16(1045), nodetest.SQLErr(t, err).Number)
		} else {
			require.NoError(t, err)
		}
		return took
	}
	for i := 0; i < 3; i++ {
		attempt("ghost", "wrong")
	}
	assert.GreaterOrEqual(t, attempt("admin", "wrong"), 250*time.Millisecond, "4th attempt: 250 ms")
	assert.GreaterOrEqual(t, attempt("ghost", "wrong"), 500*time.Millisecond, "5th attempt: 500 ms")

	// The Unix socket is not delayed, and its failures do not add up.
	t0 := time.Now()
	assert.Equal(t, uint16(1045), nodetest.SQLErr(t, tn.SocketDB("admin", "wrong").PingContext(ctx)).Number)
	assert.Less(t, time.Since(t0), 500*time.Millisecond, "no delay on the socket (TCP would wait 750 ms now)")

	// A success (delayed like any attempt) resets the address.
	assert.GreaterOrEqual(t, attempt("admin", nodetest.AdminPW), 750*time.Millisecond)
	attempt("ghost", "wrong")
	assert.Contains(t, logs.String(), "failures_from_address=1", "the count restarted after the success")

	out := logs.String()
	nodetest.Contains(t, out, `level=WARN msg="login failed" listener=client user=ghost remote=127.0.0.1:`, "reason=\"no such account; the client was told: Access denied for user 'ghost'@'127.0.0.1'")
	nodetest.Contains(t, out, `msg="login failed" listener=client user=admin`, "reason=\"Access denied for user 'admin'@'127.0.0.1' (using password: YES) (errno 1045)")
	nodetest.Contains(t, out, `msg="login failed" listener=socket user=admin remote="localhost (Unix socket)"`)

	// A burst on the socket: at most 10 lines a second.
	time.Sleep(1100 * time.Millisecond)
	before := strings.Count(logs.String(), `msg="login failed"`)
	sock := tn.SocketDB("ghost", "wrong")
	for i := 0; i < 30; i++ {
		_ = sock.PingContext(ctx)
	}
	burst := strings.Count(logs.String(), `msg="login failed"`) - before
	assert.LessOrEqual(t, burst, 20, "rate-limited (10 a second; the burst may straddle a second)")
	assert.GreaterOrEqual(t, burst, 10)
	time.Sleep(1100 * time.Millisecond)
	_ = sock.PingContext(ctx)
	assert.Regexp(t, `suppressed=[1-9][0-9]*\n$`, logs.String(), "the next line says how many were left out")
}
