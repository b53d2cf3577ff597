package protocol_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
)

// TestHostileClients: one row per hostile client, each with the error number
// it must get and whether the server closes the connection. After every row
// a real login works on TCP (TLS) and on the Unix socket, and no connection
// goroutine panicked.
func TestHostileClients(t *testing.T) {
	tn := nodetest.New(t, "max_allowed_packet: 1048576\n")
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)
	panics := protocol.RecoveredPanics()
	short := func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }
	type outcome struct {
		num    uint16
		closed bool
	}
	// replied is the outcome of a reply p read from r: its error number,
	// and whether the server then closes the connection.
	replied := func(t *testing.T, r *wiretest.Client, p []byte, err error) outcome {
		t.Helper()
		require.NoError(t, err)
		return outcome{wiretest.ErrNum(p), r.ClosedByServer()}
	}
	loginThen := func(t *testing.T, r *wiretest.Client) {
		p, err := r.Login("monitor", wiretest.ScrambleNative(r.Salt, nodetest.MonitorPW), "mysql_native_password")
		require.NoError(t, err)
		require.Equal(t, byte(0), p[0], "login OK")
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) outcome
		want outcome
	}{
		{"handshake response over the pre-login budget (plain)", func(t *testing.T) outcome {
			r := wiretest.Dial(t, tn.Addr)
			p, err := r.Flood([]byte{0xff, 0xff, 0xff, 1}, 20<<20)
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"16 MiB continuation packets after the TLS upgrade", func(t *testing.T) outcome {
			r := wiretest.Dial(t, tn.Addr)
			r.StartTLS(t, tn.CA.Cert)
			p, err := r.Flood([]byte{0xff, 0xff, 0xff, 2}, 40<<20)
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"a hundred 1 KiB packets after the TLS upgrade", func(t *testing.T) outcome {
			// The first is no handshake response: refused at once (the
			// budget itself is what the two rows above prove; vitess reads
			// no second packet before login that could add up to it).

			r := wiretest.Dial(t, tn.Addr)
			r.StartTLS(t, tn.CA.Cert)
			var pkts []byte // framed here: the writer goroutine must not touch r
			for i := 0; i < 100; i++ {
				pkts = append(pkts, wiretest.Packet(byte(2+i), make([]byte, 1<<10))...)
			}
			go func() { _, _ = r.C.Write(pkts) }()
			p, err := r.Read()
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"garbage handshake response", func(t *testing.T) outcome {
			r := wiretest.Dial(t, tn.Addr)
			require.NoError(t, r.Send([]byte{0x01, 0x02, 0x03}))
			p, err := r.Read()
			return replied(t, r, p, err)
		}, outcome{1043, true}},
		{"SSL request on a connection that then speaks plain", func(t *testing.T) outcome {
			r := wiretest.Dial(t, tn.Addr)
			require.NoError(t, r.Send(wiretest.SSLRequest()))
			_, _ = r.C.Write([]byte("this is not a TLS ClientHello\r\n"))
			return outcome{0, r.ClosedByServer()}
		}, outcome{0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.run(t)
			assert.Equal(t, tc.want, got)
			require.NoError(t, tn.DB("admin", nodetest.AdminPW, name).PingContext(ctx), "TCP login meanwhile")
			require.NoError(t, tn.SocketDB("admin", nodetest.AdminPW).PingContext(ctx), "Unix socket login meanwhile")
			assert.Equal(t, panics, protocol.RecoveredPanics(), "no connection goroutine panicked")
		})
	}

	// Auth data of every awkward length, for known and unknown users, over
	// plain TCP (mysql_native_password) and TLS (caching_sha2_password's
	// fast path): 1045, as for a wrong password. A good login after each
	// resets the per-address login delay.
	reset := func() {
		require.NoError(t, tn.OpenDBClosed(t, "monitor", nodetest.MonitorPW, "false"))
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
			r := wiretest.Dial(t, tn.Addr)
			p, err := r.Login(user, short(n), "mysql_native_password")
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
			r := wiretest.Dial(t, tn.Addr)
			r.StartTLS(t, tn.CA.Cert)
			p, err := r.Login(user, short(n), "caching_sha2_password")
			require.NoError(t, err)
			assert.Equal(t, uint16(1045), wiretest.ErrNum(p), "caching_sha2 fast path, %s, %d bytes", user, n)
			reset()
		}
	}
	assert.Equal(t, panics, protocol.RecoveredPanics(), "no panic in the password checks")

	t.Run("empty command packet after login", func(t *testing.T) {
		r := wiretest.Dial(t, tn.Addr)
		loginThen(t, r)
		r.Seq = 0
		require.NoError(t, r.Send(nil))
		p, err := r.Read()
		require.NoError(t, err)
		assert.Equal(t, uint16(1047), wiretest.ErrNum(p), "COM_SLEEP: Unknown command, as MySQL")
		assert.Equal(t, "Unknown command", string(p[9:]))
		r.Seq = 0
		require.NoError(t, r.Send([]byte{0x0e})) // COM_PING
		p, err = r.Read()
		require.NoError(t, err)
		assert.Equal(t, byte(0), p[0], "the connection still works")
	})

	t.Run("message over max_allowed_packet after login", func(t *testing.T) {
		r := wiretest.Dial(t, tn.Addr)
		loginThen(t, r)
		r.Seq = 0
		q := append([]byte{0x03}, []byte("SELECT '")...)
		q = append(q, bytes.Repeat([]byte{'x'}, 2<<20)...)
		pkt := wiretest.Packet(0, q)
		go func() { _, _ = r.C.Write(pkt) }()
		p, err := r.Read()
		require.NoError(t, err)
		assert.Equal(t, uint16(1153), wiretest.ErrNum(p))
		assert.Contains(t, string(p), "max_allowed_packet")
		assert.True(t, r.ClosedByServer())
	})

	t.Run("20,000 refused COM_STMT_PREPARE on one connection", func(t *testing.T) {
		r := wiretest.Dial(t, tn.Addr)
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
				if _, err := r.C.Write(pkts); err != nil {
					return
				}
			}
		}()
		for i := 0; i < rounds*1000; i++ {
			p, err := r.Read()
			require.NoError(t, err)
			require.Equal(t, uint16(1235), wiretest.ErrNum(p), "prepared statements are refused")
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		grew := int64(ms.HeapInuse) - int64(before)
		t.Logf("heap in use grew by %d KiB over 20,000 refused prepares", grew>>10)
		assert.Less(t, grew, int64(8<<20), "refused statements are not kept (they held ~25 MiB)")
		r.Seq = 0
		require.NoError(t, r.Send([]byte{0x0e})) // COM_PING: the connection still works
		p, err := r.Read()
		require.NoError(t, err)
		assert.Equal(t, byte(0), p[0])
	})

	t.Run("SET over the user variable bounds", func(t *testing.T) {
		c, err := tn.DB("admin", nodetest.AdminPW, name).Conn(ctx)
		require.NoError(t, err)
		defer c.Close()
		var sets []string
		for i := 0; i <= 256; i++ {
			sets = append(sets, fmt.Sprintf("@v%d = %d", i, i))
		}
		me := nodetest.SQLErr(t, execErr(c, "SET "+strings.Join(sets, ", ")))
		assert.Equal(t, uint16(1231), me.Number)
		assert.Contains(t, me.Message, "at most 256")
		me = nodetest.SQLErr(t, execErr(c, "SET @big = '"+strings.Repeat("b", 65<<10)+"'"))
		assert.Equal(t, uint16(1231), me.Number)
		require.NoError(t, c.PingContext(ctx))
	})

	t.Run("a query under max_allowed_packet works", func(t *testing.T) {
		var s string
		big := string(bytes.Repeat([]byte{'y'}, 200<<10)) // under sqlcmd.MaxStatementBytes
		require.NoError(t, tn.DB("admin", nodetest.AdminPW, name).QueryRowContext(ctx, "SELECT '"+big+"'").Scan(&s))
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
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)

	const clients = 50
	const bound = 64 << 20
	heapDone := sampleHeap()

	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	var attempts, refused atomic.Int64
	wait := wiretest.FloodFor(t, tn.Addr, clients, time.Second, func(r *wiretest.Client, i int) error {
		if i%2 == 1 {
			if err := r.Upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
				return fmt.Errorf("TLS: %w", err)
			}
		}
		attempts.Add(1)
		p, err := r.Flood(r.Oversize(), 64<<20)
		if err == nil && wiretest.ErrNum(p) == 1043 {
			refused.Add(1)
		}
		return nil
	})
	// A real login during the flood.
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, tn.DB("admin", nodetest.AdminPW, name).PingContext(ctx), "login during the flood")
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
	tn := nodetest.New(t, "cluster_listen: 127.0.0.1:0\n")
	addr := tn.N.ClusterAddr().String()
	ctx := nodetest.Ctx(t)
	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	member := pkitest.MustIssue(t, tn.CA, pki.LeafOptions{CN: "member"})
	mc, err := tls.X509KeyPair(member.CertPEM, member.KeyPEM)
	require.NoError(t, err)
	memberTLS := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{mc}}
	name := fmt.Sprintf("cluster-flood-%d", nodetest.TLSSeq.Add(1))
	require.NoError(t, mysql.RegisterTLSConfig(name, memberTLS))
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.TLSConfig = "admin", nodetest.AdminPW, "tcp", addr, name
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
	wait := wiretest.FloodFor(t, addr, clients, time.Second, func(r *wiretest.Client, i int) error {
		mode := i % 3
		attempts[mode].Add(1)
		switch mode {
		case noCert:
			err := r.Upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"})
			if err == nil {
				// TLS 1.3: the server's refusal of the missing certificate
				// arrives with the first read.
				_, err = r.Read()
			}
			if err != nil {
				refused[mode].Add(1)
			}
			return nil
		case mutualTLS:
			if err := r.Upgrade(memberTLS); err != nil {
				return fmt.Errorf("TLS with a member certificate: %w", err)
			}
		}
		p, err := r.Flood(r.Oversize(), 64<<20)
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
