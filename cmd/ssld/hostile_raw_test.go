package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
)

// rawClient speaks the MySQL client protocol by hand, so that a test can
// send what no driver sends.
type rawClient struct {
	c    net.Conn
	seq  byte
	salt []byte
}

// connectRaw connects and reads the greeting, with deadline d for the
// connection; it only returns errors, so flood goroutines can use it.
func connectRaw(addr string, d time.Duration) (*rawClient, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(d))
	r := &rawClient{c: c}
	g, err := r.read()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("greeting: %w", err)
	}
	return r, g, nil
}

// dialRaw connects, reads the greeting and keeps its salt.
func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	r, g, err := connectRaw(addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { r.c.Close() })
	require.Equal(t, byte(10), g[0], "HandshakeV10")
	nul := bytes.IndexByte(g[1:], 0) + 1
	pos := nul + 1 + 4
	r.salt = append([]byte{}, g[pos:pos+8]...)
	pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	r.salt = append(r.salt, g[pos:pos+12]...)
	return r
}

// read reads one packet; the next send follows its sequence id.
func (r *rawClient) read() ([]byte, error) {
	seq, p, err := wiretest.ReadPacket(r.c)
	r.seq = seq + 1
	return p, err
}

func (r *rawClient) send(payload []byte) error {
	_, err := r.c.Write(wiretest.Packet(r.seq, payload))
	r.seq++
	return err
}

// startTLS sends the SSL request and runs the TLS handshake, verifying the
// server with ca.
func (r *rawClient) startTLS(t *testing.T, ca *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	require.NoError(t, r.upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"}))
}

// upgrade sends the SSL request and runs the TLS handshake with cfg. From
// then on r speaks TLS, also when the handshake failed (a server's refusal
// of a client certificate may come with the first read).
func (r *rawClient) upgrade(cfg *tls.Config) error {
	if err := r.send(wiretest.SSLRequest()); err != nil {
		return err
	}
	tc := tls.Client(r.c, cfg)
	r.c = tc
	return tc.Handshake()
}

// oversize is the header of a packet of 16 MiB - 2 that vitess would
// allocate whole, with the next sequence id.
func (r *rawClient) oversize() []byte { return []byte{0xfe, 0xff, 0xff, r.seq} }

// floodFor starts clients goroutines that run for d; each connects to addr
// again and again and hands the raw client (greeting read) and its own
// index to attempt, then closes the connection. A failed connect, or
// attempt returning an error, ends that goroutine with a test error. wait
// returns when all have ended.
func floodFor(t *testing.T, addr string, clients int, d time.Duration, attempt func(r *rawClient, i int) error) (wait func()) {
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r, _, err := connectRaw(addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				err = attempt(r, i)
				r.c.Close()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	return wg.Wait
}

// handshakeResponse is a HandshakeResponse41 (flags carry SSL when the
// connection was upgraded).
func (r *rawClient) handshakeResponse(user string, auth []byte, plugin string) []byte {
	flags := uint32(wiretest.CapsBase)
	if _, ok := r.c.(*tls.Conn); ok {
		flags |= wiretest.CapSSL
	}
	return wiretest.HandshakeResponse(flags, user, auth, plugin)
}

// login sends a handshake response and returns the server's reply (an auth
// switch is answered with the same auth data).
func (r *rawClient) login(user string, auth []byte, plugin string) ([]byte, error) {
	if err := r.send(r.handshakeResponse(user, auth, plugin)); err != nil {
		return nil, err
	}
	p, err := r.read()
	if err != nil || len(p) == 0 || p[0] != 0xfe {
		return p, err
	}
	if err := r.send(auth); err != nil { // auth switch
		return nil, err
	}
	return r.read()
}

// scrambleNative is the mysql_native_password reply for password and salt.
func scrambleNative(salt []byte, password string) []byte {
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	h := sha1.New()
	h.Write(salt)
	h.Write(s2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= s1[i]
	}
	return out
}

// closedByServer reports whether the server closes the connection within a
// few seconds (reads reach EOF or a reset, not a timeout).
func (r *rawClient) closedByServer() bool {
	_ = r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.Copy(io.Discard, r.c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// flood writes header, then junk until the server stops reading; it returns
// the first packet the server sent back.
func (r *rawClient) flood(header []byte, total int) ([]byte, error) {
	chunk := make([]byte, 32<<10)
	go func() {
		if _, err := r.c.Write(header); err != nil {
			return
		}
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := r.c.Write(chunk); err != nil {
				return
			}
		}
	}()
	return r.read()
}

// TestHostileClients: one row per hostile client, each with the error number
// it must get and whether the server closes the connection. After every row
// a real login works on TCP (TLS) and on the Unix socket, and no connection
// goroutine panicked.
func TestHostileClients(t *testing.T) {
	tn := newTestNode(t, "max_allowed_packet: 1048576\n")
	ctx := ctxT(t)
	name := tn.tlsName(nil)
	panics := protocol.RecoveredPanics()
	short := func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }
	type outcome struct {
		num    uint16
		closed bool
	}
	// replied is the outcome of a reply p read from r: its error number,
	// and whether the server then closes the connection.
	replied := func(t *testing.T, r *rawClient, p []byte, err error) outcome {
		t.Helper()
		require.NoError(t, err)
		return outcome{wiretest.ErrNum(p), r.closedByServer()}
	}
	loginThen := func(t *testing.T, r *rawClient) {
		p, err := r.login("monitor", scrambleNative(r.salt, monitorPW), "mysql_native_password")
		require.NoError(t, err)
		require.Equal(t, byte(0), p[0], "login OK")
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) outcome
		want outcome
	}{
		{"handshake response over the pre-login budget (plain)", func(t *testing.T) outcome {
			r := dialRaw(t, tn.addr)
			p, err := r.flood([]byte{0xff, 0xff, 0xff, 1}, 20<<20)
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"16 MiB continuation packets after the TLS upgrade", func(t *testing.T) outcome {
			r := dialRaw(t, tn.addr)
			r.startTLS(t, tn.ca.Cert)
			p, err := r.flood([]byte{0xff, 0xff, 0xff, 2}, 40<<20)
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"a hundred 1 KiB packets after the TLS upgrade", func(t *testing.T) outcome {
			// The first is no handshake response: refused at once (the
			// budget itself is what the two rows above prove; vitess reads
			// no second packet before login that could add up to it).

			r := dialRaw(t, tn.addr)
			r.startTLS(t, tn.ca.Cert)
			var pkts []byte // framed here: the writer goroutine must not touch r
			for i := 0; i < 100; i++ {
				pkts = append(pkts, wiretest.Packet(byte(2+i), make([]byte, 1<<10))...)
			}
			go func() { _, _ = r.c.Write(pkts) }()
			p, err := r.read()
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"garbage handshake response", func(t *testing.T) outcome {
			r := dialRaw(t, tn.addr)
			require.NoError(t, r.send([]byte{0x01, 0x02, 0x03}))
			p, err := r.read()
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"SSL request on a connection that then speaks plain", func(t *testing.T) outcome {
			r := dialRaw(t, tn.addr)
			require.NoError(t, r.send(wiretest.SSLRequest()))
			_, _ = r.c.Write([]byte("this is not a TLS ClientHello\r\n"))
			return outcome{0, r.closedByServer()}
		}, outcome{0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.run(t)
			assert.Equal(t, tc.want, got)
			require.NoError(t, tn.db("admin", adminPW, name).PingContext(ctx), "TCP login meanwhile")
			require.NoError(t, tn.socketDB("admin", adminPW).PingContext(ctx), "Unix socket login meanwhile")
			assert.Equal(t, panics, protocol.RecoveredPanics(), "no connection goroutine panicked")
		})
	}

	// Auth data of every awkward length, for known and unknown users, over
	// plain TCP (mysql_native_password) and TLS (caching_sha2_password's
	// fast path): 1045, as for a wrong password. A good login after each
	// resets the per-address login delay.
	reset := func() {
		require.NoError(t, tn.openDBClosed(t, "monitor", monitorPW, "false"))
	}
	// Every length up to one past the hash size (vitess indexed 1–19 and
	// 1–31 bytes and panicked), and two longer ones.
	lengths := func(hash int) []int {
		var ns []int
		for n := 0; n <= hash+1; n++ {
			ns = append(ns, n)
		}
		return append(ns, 64, 255)
	}
	for _, n := range lengths(20) {
		for _, user := range []string{"monitor", "ghost"} {
			r := dialRaw(t, tn.addr)
			p, err := r.login(user, short(n), "mysql_native_password")
			require.NoError(t, err)
			assert.Equal(t, uint16(1045), wiretest.ErrNum(p), "native, %s, %d bytes", user, n)
			reset()
		}
	}
	for _, n := range lengths(32) {
		if n == 32 {
			continue // a scramble of the right size: full authentication follows (TestHostileLoginLooksAlike)
		}
		for _, user := range []string{"sha", "ghost"} {
			r := dialRaw(t, tn.addr)
			r.startTLS(t, tn.ca.Cert)
			p, err := r.login(user, short(n), "caching_sha2_password")
			require.NoError(t, err)
			assert.Equal(t, uint16(1045), wiretest.ErrNum(p), "caching_sha2 fast path, %s, %d bytes", user, n)
			reset()
		}
	}
	assert.Equal(t, panics, protocol.RecoveredPanics(), "no panic in the password checks")

	t.Run("empty command packet after login", func(t *testing.T) {
		r := dialRaw(t, tn.addr)
		loginThen(t, r)
		r.seq = 0
		require.NoError(t, r.send(nil))
		p, err := r.read()
		require.NoError(t, err)
		assert.Equal(t, uint16(1047), wiretest.ErrNum(p), "COM_SLEEP: Unknown command, as MySQL")
		assert.Equal(t, "Unknown command", string(p[9:]))
		r.seq = 0
		require.NoError(t, r.send([]byte{0x0e})) // COM_PING
		p, err = r.read()
		require.NoError(t, err)
		assert.Equal(t, byte(0), p[0], "the connection still works")
	})

	t.Run("message over max_allowed_packet after login", func(t *testing.T) {
		r := dialRaw(t, tn.addr)
		loginThen(t, r)
		r.seq = 0
		q := append([]byte{0x03}, []byte("SELECT '")...)
		q = append(q, bytes.Repeat([]byte{'x'}, 2<<20)...)
		pkt := wiretest.Packet(0, q)
		go func() { _, _ = r.c.Write(pkt) }()
		p, err := r.read()
		require.NoError(t, err)
		assert.Equal(t, uint16(1153), wiretest.ErrNum(p))
		assert.Contains(t, string(p), "max_allowed_packet")
		assert.True(t, r.closedByServer())
	})

	t.Run("20,000 refused COM_STMT_PREPARE on one connection", func(t *testing.T) {
		r := dialRaw(t, tn.addr)
		loginThen(t, r)
		stmt := append([]byte{0x16}, "SELECT '"+strings.Repeat("p", 1<<10)+"'"...)
		var pkts []byte
		for i := 0; i < 1000; i++ {
			pkts = append(pkts, wiretest.Packet(0, stmt)...)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.HeapInuse
		const rounds = 20
		go func() {
			for i := 0; i < rounds; i++ {
				if _, err := r.c.Write(pkts); err != nil {
					return
				}
			}
		}()
		for i := 0; i < rounds*1000; i++ {
			p, err := r.read()
			require.NoError(t, err)
			require.Equal(t, uint16(1235), wiretest.ErrNum(p), "prepared statements are refused")
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		grew := int64(ms.HeapInuse) - int64(before)
		t.Logf("heap in use grew by %d KiB over 20,000 refused prepares", grew>>10)
		assert.Less(t, grew, int64(8<<20), "refused statements are not kept (they held ~25 MiB)")
		r.seq = 0
		require.NoError(t, r.send([]byte{0x0e})) // COM_PING: the connection still works
		p, err := r.read()
		require.NoError(t, err)
		assert.Equal(t, byte(0), p[0])
	})

	t.Run("SET over the user variable bounds", func(t *testing.T) {
		c, err := tn.db("admin", adminPW, name).Conn(ctx)
		require.NoError(t, err)
		defer c.Close()
		var sets []string
		for i := 0; i <= 256; i++ {
			sets = append(sets, fmt.Sprintf("@v%d = %d", i, i))
		}
		me := sqlErr(t, execErr(c, "SET "+strings.Join(sets, ", ")))
		assert.Equal(t, uint16(1231), me.Number)
		assert.Contains(t, me.Message, "at most 256")
		me = sqlErr(t, execErr(c, "SET @big = '"+strings.Repeat("b", 65<<10)+"'"))
		assert.Equal(t, uint16(1231), me.Number)
		require.NoError(t, c.PingContext(ctx))
	})

	t.Run("a query under max_allowed_packet works", func(t *testing.T) {
		var s string
		big := string(bytes.Repeat([]byte{'y'}, 200<<10)) // under sqlcmd.MaxStatementBytes
		require.NoError(t, tn.db("admin", adminPW, name).QueryRowContext(ctx, "SELECT '"+big+"'").Scan(&s))
		assert.Len(t, s, len(big))
	})
	assert.Equal(t, panics, protocol.RecoveredPanics())
}

func execErr(c *sql.Conn, q string) error {
	_, err := c.ExecContext(context.Background(), q)
	return err
}

// TestHostileFloodHeap: 50 unauthenticated clients (half plain, half after a
// TLS upgrade) send oversize handshake responses for a second, reconnecting
// when cut off. Each attempt gets 1043, the heap in use stays under 64 MiB
// above where it started (it grew by gigabytes before the pre-login budget),
// and a real login succeeds during the flood.
func TestHostileFloodHeap(t *testing.T) {
	tn := newTestNode(t, "")
	ctx := ctxT(t)
	name := tn.tlsName(nil)

	const clients = 50
	const bound = 64 << 20
	heapDone := sampleHeap()

	pool := x509.NewCertPool()
	pool.AddCert(tn.ca.Cert)
	var attempts, refused atomic.Int64
	wait := floodFor(t, tn.addr, clients, time.Second, func(r *rawClient, i int) error {
		if i%2 == 1 {
			if err := r.upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
				return fmt.Errorf("TLS: %w", err)
			}
		}
		attempts.Add(1)
		p, err := r.flood(r.oversize(), 64<<20)
		if err == nil && wiretest.ErrNum(p) == 1043 {
			refused.Add(1)
		}
		return nil
	})
	// A real login during the flood.
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, tn.db("admin", adminPW, name).PingContext(ctx), "login during the flood")
	wait()
	base, peak := heapDone()

	assert.Positive(t, attempts.Load())
	assert.Equal(t, attempts.Load(), refused.Load(), "every oversize handshake response got 1043")
	grew := int64(peak) - int64(base)
	t.Logf("%d attempts by %d clients; heap in use %d MiB at start, peak %d MiB", attempts.Load(), clients, base>>20, peak>>20)
	assert.Less(t, grew, int64(bound), "heap growth during the flood")
}

// TestHostileFloodHeapClusterPort is TestHostileFloodHeap on cluster_listen
// (mutual TLS): 48 clients for a second, a third each (1) sending the
// oversize handshake response in plain text, (2) upgrading to TLS with a
// certificate of the cluster CA and then sending it (TLS passed, MySQL
// login not), (3) upgrading without a client certificate. Every (1) and (2)
// attempt gets 1043 from the pre-login budget, every (3) handshake fails,
// the heap in use stays under 64 MiB above its start, and a real cluster
// member (go-sql-driver with its certificate) logs in during the flood.
func TestHostileFloodHeapClusterPort(t *testing.T) {
	tn := newTestNode(t, "cluster_listen: 127.0.0.1:0\n")
	addr := tn.n.server.ClusterAddr().String()
	ctx := ctxT(t)
	pool := x509.NewCertPool()
	pool.AddCert(tn.ca.Cert)
	member := pkitest.MustIssue(t, tn.ca, pki.LeafOptions{CN: "member"})
	mc, err := tls.X509KeyPair(member.CertPEM, member.KeyPEM)
	require.NoError(t, err)
	memberTLS := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{mc}}
	name := fmt.Sprintf("cluster-flood-%d", tlsSeq.Add(1))
	require.NoError(t, mysql.RegisterTLSConfig(name, memberTLS))
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.TLSConfig = "admin", adminPW, "tcp", addr, name
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })

	const clients = 48
	const bound = 64 << 20
	heapDone := sampleHeap()

	const (
		plain = iota
		mutualTLS
		noCert
	)
	var attempts, refused [3]atomic.Int64
	wait := floodFor(t, addr, clients, time.Second, func(r *rawClient, i int) error {
		mode := i % 3
		attempts[mode].Add(1)
		switch mode {
		case noCert:
			err := r.upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"})
			if err == nil {
				// TLS 1.3: the server's refusal of the missing certificate
				// arrives with the first read.
				_, err = r.read()
			}
			if err != nil {
				refused[mode].Add(1)
			}
			return nil
		case mutualTLS:
			if err := r.upgrade(memberTLS); err != nil {
				return fmt.Errorf("TLS with a member certificate: %w", err)
			}
		}
		p, err := r.flood(r.oversize(), 64<<20)
		if err == nil && wiretest.ErrNum(p) == 1043 {
			refused[mode].Add(1)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, db.PingContext(ctx), "a cluster member logs in during the flood")
	wait()
	base, peak := heapDone()

	for mode, what := range []string{"plain-text oversize handshake responses", "oversize handshake responses after mutual TLS", "TLS upgrades without a client certificate"} {
		assert.Positive(t, attempts[mode].Load(), what)
		assert.Equal(t, attempts[mode].Load(), refused[mode].Load(), "every one of the %s was refused", what)
		t.Logf("%s: %d, refused %d", what, attempts[mode].Load(), refused[mode].Load())
	}
	grew := int64(peak) - int64(base)
	t.Logf("heap in use %d MiB at start, peak %d MiB", base>>20, peak>>20)
	assert.Less(t, grew, int64(bound), "heap growth during the flood")
	require.NoError(t, db.PingContext(ctx), "and after it")
}

// sampleHeap records the Go heap in use after a GC, then samples it every
// 10 ms until the returned done is called; done returns the starting value
// and the peak.
func sampleHeap() (done func() (base, peak uint64)) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := make(chan struct{})
	var max atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max.Load() {
				max.Store(ms.HeapInuse)
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		wg.Wait()
		return base, max.Load()
	}
}
