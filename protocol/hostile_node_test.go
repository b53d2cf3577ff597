package protocol_test

import (
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

const hostileLimits = "max_connections: 5\nconnect_timeout: 500ms\n"

// TestHostileConnectionFlood: with max_connections 5 taken, a non-SUPER
// login gets 1040 "Too many connections", a SUPER one gets the extra slot
// (max_connections + 1, as MySQL) and a second one 1040; raw connections
// over the limit get 1040 in place of the greeting; the Unix socket keeps
// working (SSL_RELOAD included), and once connections close new ones are
// served again.
func TestHostileConnectionFlood(t *testing.T) {
	tn := nodetest.New(t, hostileLimits)
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)

	// The variables tell the truth about the limit and the picked port
	// (asked on the Unix socket, which the limit does not count).
	var maxConns, port string
	require.NoError(t, tn.SocketDB("admin", nodetest.AdminPW).QueryRowContext(ctx,
		"SELECT @@max_connections, @@port").Scan(&maxConns, &port))
	assert.Equal(t, "5", maxConns)
	_, wantPort, _ := net.SplitHostPort(tn.Addr)
	assert.Equal(t, wantPort, port)

	var held []*sql.Conn
	var pools []*sql.DB
	for i := 0; i < 5; i++ {
		db := tn.DB("monitor", nodetest.MonitorPW, name)
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		held, pools = append(held, c), append(pools, db)
	}

	// go-sql-driver sees the error packet (a non-SUPER account in the
	// extra slot).
	me := nodetest.SQLErr(t, tn.DB("monitor", nodetest.MonitorPW, name).PingContext(ctx))
	assert.Equal(t, uint16(1040), me.Number)
	assert.Equal(t, "Too many connections", me.Message)

	// SUPER gets in with every slot taken (max_connections + 1, as MySQL);
	// while it holds the extra slot nobody else does.
	testenv.Eventually(t, 3*time.Second, func() bool { return tn.N.ActiveConnections() == 5 }, "the refused login's connection is gone")
	superDB := tn.DB("admin", nodetest.AdminPW, name)
	super, err := superDB.Conn(ctx)
	require.NoError(t, err, "SUPER gets the extra slot")
	require.NoError(t, super.PingContext(ctx))
	me = nodetest.SQLErr(t, tn.DB("admin", nodetest.AdminPW, name).PingContext(ctx))
	assert.Equal(t, uint16(1040), me.Number, "the extra slot is one slot")
	super.Close()
	superDB.Close() // Conn.Close only returns it to the pool

	// A raw flood: every connection over the limit is answered and closed.
	// One of them may hold the extra slot (a greeting) until its
	// connect_timeout.
	testenv.Eventually(t, 3*time.Second, func() bool { return tn.N.ActiveConnections() == 5 }, "only the 5 held connections are open before the flood")
	var wg sync.WaitGroup
	refused := make(chan uint16, 50)
	var greeted atomic.Int64
	release := make(chan struct{}) // every client holds its socket until all have read
	var closers sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		closers.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", tn.Addr, 2*time.Second)
			if err != nil {
				closers.Done()
				t.Errorf("dial: %v", err)
				return
			}
			go func() { <-release; c.Close(); closers.Done() }()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			p, err := wiretest.ReadPayload(c)
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			num, msg, ok := wiretest.ErrPacket(p)
			switch {
			case ok && msg == "Too many connections":
				refused <- num
			case len(p) > 0 && p[0] == 10:
				greeted.Add(1)
			default:
				t.Errorf("neither 1040 nor a greeting: %q", p)
			}
		}()
	}
	// The admin socket has its own limit: reload while the flood runs.
	sock := tn.SocketDB("admin", nodetest.AdminPW)
	_, err = sock.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err, "SSL_RELOAD on the Unix socket during the flood")
	wg.Wait()
	close(release)
	closers.Wait()
	close(refused)
	n := 0
	for num := range refused {
		assert.Equal(t, uint16(1040), num)
		n++
	}
	assert.Equal(t, int64(50-n), greeted.Load())
	assert.LessOrEqual(t, greeted.Load(), int64(1), "at most the extra slot")
	testenv.Eventually(t, 3*time.Second, func() bool { return tn.N.ActiveConnections() == 5 }, "the refused connections are not counted")

	// The held connections still work; closing one frees a slot.
	for _, c := range held {
		require.NoError(t, c.PingContext(ctx))
	}
	held[0].Close()
	pools[0].Close() // Conn.Close only returns it to the pool
	testenv.Eventually(t, 5*time.Second, func() bool { return tn.DB("monitor", nodetest.MonitorPW, name).PingContext(ctx) == nil }, "closing a held connection frees a slot")
}

// TestHostileSlowLoris: with connect_timeout 500ms, a client that sends
// nothing, half a header, half a packet, or trickles one byte every 100 ms
// (which a per-read timeout would never cut) is disconnected about 500 ms
// after accept; silent clients filling every slot lock others out for no
// longer than that.
func TestHostileSlowLoris(t *testing.T) {
	tn := nodetest.New(t, hostileLimits)
	for _, tc := range []struct {
		name string
		send func(c net.Conn) // after the greeting was read
	}{
		{"sends nothing", func(c net.Conn) {}},
		{"half a header", func(c net.Conn) { c.Write([]byte{0x20, 0x00}) }},
		{"half a packet", func(c net.Conn) { c.Write([]byte{0x20, 0x00, 0x00, 0x01, 0x85, 0xa6}) }},
		{"TLS request then silence", func(c net.Conn) {
			c.Write([]byte{0x20, 0, 0, 1, 0x05, 0xae, 0x0f, 0x00, 0, 0, 0, 1, 0x21})
			c.Write(make([]byte, 23))
		}},
		{"one byte every 100ms", func(c net.Conn) {
			c.Write([]byte{0x40, 0, 0, 1}) // a 64-byte packet, then its body byte by byte
			for i := 0; i < 30; i++ {
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			c, err := net.DialTimeout("tcp", tn.Addr, 2*time.Second)
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = wiretest.ReadPayload(c)
			require.NoError(t, err, "greeting")
			go tc.send(c)
			_, err = io.Copy(io.Discard, c) // until the server closes
			took := time.Since(t0)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "not cut off within 5s")
			assert.GreaterOrEqual(t, took, 400*time.Millisecond)
			assert.Less(t, took, 2*time.Second, "cut off by connect_timeout (500ms)")
		})
	}

	t.Run("silent clients fill every slot", func(t *testing.T) {
		ctx := nodetest.Ctx(t)
		testenv.Eventually(t, 3*time.Second, func() bool { return tn.N.ActiveConnections() == 0 }, "no connection open before the silent clients")
		for i := 0; i < 5; i++ {
			c, err := net.Dial("tcp", tn.Addr)
			require.NoError(t, err)
			defer c.Close()
		}
		testenv.Eventually(t, 3*time.Second, func() bool { return tn.N.ActiveConnections() == 5 }, "the 5 silent clients hold every slot")
		name := tn.TLSName(nil)
		me := nodetest.SQLErr(t, tn.DB("monitor", nodetest.MonitorPW, name).PingContext(ctx))
		assert.Equal(t, uint16(1040), me.Number)
		t0 := time.Now()
		testenv.Eventually(t, 3*time.Second, func() bool { return tn.DB("monitor", nodetest.MonitorPW, name).PingContext(ctx) == nil }, "the slots free up after connect_timeout")
		t.Logf("locked out for %v by 5 silent clients", time.Since(t0).Round(time.Millisecond))
	})
}

// TestHostileLoginErrorsIdentical: a wrong password and an unknown user get
// the same error (1045, 28000) with the same text except for the name, on
// every transport and for both auth plugins.
func TestHostileLoginErrorsIdentical(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)
	shape := func(err error, user string) string {
		me := nodetest.SQLErr(t, err)
		assert.Equal(t, uint16(1045), me.Number)
		assert.Equal(t, "28000", string(me.SQLState[:]))
		return strings.Replace(me.Message, "'"+user+"'", "'USER'", 1)
	}
	sock := func(user, pw string) error {
		db := tn.SocketDB(user, pw)
		return db.PingContext(ctx)
	}
	for _, tc := range []struct {
		name       string
		known, pw  string
		connect    func(user, pw string) error
		wantPrefix string
	}{
		{"TLS native", "admin", nodetest.AdminPW, func(u, p string) error { return tn.DB(u, p, name).PingContext(ctx) }, "Access denied for user 'USER'@'127.0.0.1'"},
		{"TLS caching_sha2", "sha", nodetest.ShaPW, func(u, p string) error { return tn.DB(u, p, name).PingContext(ctx) }, "Access denied for user 'USER'@'127.0.0.1'"},
		{"plain TCP", "plain", nodetest.PlainPW, func(u, p string) error { return tn.DB(u, p, "false").PingContext(ctx) }, "Access denied for user 'USER'@'127.0.0.1'"},
		{"Unix socket", "admin", nodetest.AdminPW, sock, "Access denied for user 'USER'@'localhost'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.connect(tc.known, tc.pw), "the right password works")
			wrong := shape(tc.connect(tc.known, "wrong-"+tc.pw), tc.known)
			ghost := shape(tc.connect("ghost", "wrong-"+tc.pw), "ghost")
			assert.Equal(t, wrong, ghost, "wrong password and unknown user must look the same")
			assert.True(t, strings.HasPrefix(wrong, tc.wantPrefix), wrong)
			assert.NotContains(t, wrong, tc.pw)
		})
	}
}

// TestHostileSecretsNeverLeak: with an encrypted key and a passphrase in
// the config, nothing the server says (its log at debug level, error
// packets of failed logins and failed reloads, SHOW VARIABLES, SELECT
// @@ssl_key_passphrase, SHOW SSL STATUS, SHOW GRANTS, SHOW WARNINGS)
// contains a password, an attempted password or a passphrase.
func TestHostileSecretsNeverLeak(t *testing.T) {
	const passphrase, wrongPassphrase, tried = "pass-phrase-s3cret", "wrong-phrase-s3cret", "tried-password-s3cret"
	tn := nodetest.New(t, "ssl_key_passphrase: "+passphrase+"\n")
	logs := &testenv.LogBuffer{}
	tn.Restart(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := nodetest.Ctx(t)
	var said []string // everything the server said

	l := tn.IssueLeaf(pki.LeafOptions{})
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.crt"), l.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.key"), pkitest.LegacyEncryptedKey(t, l, passphrase), 0o600))
	admin := tn.AdminConn(t, ctx)
	_, err := admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err, "the encrypted key loads with ssl_key_passphrase")
	require.Equal(t, nodetest.SerialOf(l.Cert), tn.ServedSerial())

	name := tn.TLSName(nil)
	for _, u := range []string{"admin", "sha", "monitor", "ghost"} {
		err := tn.DB(u, tried, name).PingContext(ctx)
		require.Error(t, err)
		said = append(said, err.Error())
	}
	for _, q := range []string{"SHOW VARIABLES", "SHOW GLOBAL VARIABLES LIKE '%pass%'", "SELECT @@ssl_key_passphrase",
		"SELECT @@global.ssl_key_passphrase", "SHOW SSL STATUS", "SHOW GRANTS", "SHOW STATUS", "SHOW WARNINGS"} {
		said = append(said, nodetest.QueryText(t, admin, q)...)
	}
	assert.Equal(t, []string{"[redacted]"}, nodetest.QueryText(t, admin, "SELECT @@ssl_key_passphrase"))

	// A reload with the wrong passphrase fails; its error must not echo it.
	require.NoError(t, os.WriteFile(tn.Config, []byte(nodetest.ConfigYAML("ssl_key_passphrase: "+wrongPassphrase+"\n")), 0o600))
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	me := nodetest.SQLErr(t, err)
	assert.Contains(t, me.Message, "ssl_key")
	said = append(said, me.Message, nodetest.Variable(t, tn.DB("admin", nodetest.AdminPW, name), "ssl_last_reload_error"))
	said = append(said, nodetest.QueryText(t, admin, "SHOW VARIABLES")...)
	said = append(said, logs.String())

	all := strings.Join(said, "\n")
	require.Contains(t, all, "Access denied", "the check saw the login errors")
	require.Contains(t, all, "tls reload", "the check saw the reload log")
	for _, secret := range []string{passphrase, wrongPassphrase, tried, nodetest.AdminPW, nodetest.ShaPW, nodetest.MonitorPW, nodetest.PlainPW} {
		assert.NotContains(t, all, secret)
	}
}

// TestHostileKeyModeWarning: a key file readable by others loads,
// with a warning that SHOW WARNINGS returns right after SSL_RELOAD.
func TestHostileKeyModeWarning(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	key := filepath.Join(tn.Dir, "certs/server.key")
	require.NoError(t, os.Chmod(key, 0o644))
	admin := tn.AdminConn(t, ctx)
	_, err := admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	w := strings.Join(nodetest.QueryText(t, admin, "SHOW WARNINGS"), " | ")
	nodetest.Contains(t, w, "Warning", key, "readable by others (mode 0644)")

	require.NoError(t, os.Chmod(key, 0o600))
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	assert.Empty(t, nodetest.QueryText(t, admin, "SHOW WARNINGS"), "no warning once the key is 0600")
}

// TestHostileOpenSSLStartTLS: `openssl s_client -starttls mysql` (the
// operator's check after a rotation, docs/operations.md) reads the greeting
// with one read(2), so the greeting must leave in one write. 200 runs, four
// at a time; every one must show the served certificate.
func TestHostileOpenSSLStartTLS(t *testing.T) {
	testenv.LookPath(t, "openssl")
	tn := nodetest.New(t, "")
	want := tn.ServedSerial()

	// The greeting arrives whole in the first read of a raw socket.
	c, err := net.DialTimeout("tcp", tn.Addr, 2*time.Second)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	require.NoError(t, err)
	c.Close()
	require.GreaterOrEqual(t, n, 4)
	assert.Equal(t, 4+(int(buf[0])|int(buf[1])<<8|int(buf[2])<<16), n, "header and payload in one segment")

	const runs, workers = 200, 4
	var ok atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int, runs)
	for i := 0; i < runs; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				got, err := nodetest.OpenSSLServedSerial(tn.Addr)
				if err != nil {
					t.Error(err)
					continue
				}
				if got != want {
					t.Errorf("s_client saw serial %s, served %s", got, want)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(runs), ok.Load(), "s_client runs that read the certificate")
}
