package protocol_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

const (
	fuzzUser = "fuzz"
	fuzzPW   = "fuzz-secret"
)

// startFuzzServer builds a protocol.Server directly, as an embedding server
// would (tlsctx manager, variable registry, protocol server, executor), on
// 127.0.0.1:0.
func startFuzzServer(tb testing.TB, log *slog.Logger) *protocol.Server {
	return startServer(tb, log, []protocol.User{{Name: fuzzUser, Password: fuzzPW, Privileges: []string{"SUPER"}}})
}

// startServer is startFuzzServer with the given accounts.
func startServer(tb testing.TB, log *slog.Logger, users []protocol.User) *protocol.Server {
	return startServerWith(tb, log, users, nil)
}

// startServerWith is startServer with cfg changing the protocol.Config
// before the server is built (nil: the defaults of startServer).
func startServerWith(tb testing.TB, log *slog.Logger, users []protocol.User, cfg func(*protocol.Config)) *protocol.Server {
	dir := tb.TempDir()
	ca := pkitest.MustCA(tb, "fuzz CA")
	leaf := pkitest.MustIssue(tb, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for name, data := range map[string][]byte{"ca.crt": ca.CertPEM, "server.crt": leaf.CertPEM, "server.key": leaf.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	ctx := context.Background()
	mgr, err := tlsctx.New(ctx, tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: filepath.Join(dir, "server.crt"), SSLKey: filepath.Join(dir, "server.key"),
		SSLCA: filepath.Join(dir, "ca.crt"),
	}))
	if err != nil {
		tb.Fatal(err)
	}
	vars := sysvars.NewRegistry()
	if err := sysvars.AddTLS(vars, mgr); err != nil {
		tb.Fatal(err)
	}
	started := time.Now()
	if err := sysvars.AddServer(vars, sysvars.ServerInfo{Version: protocol.DefaultServerVersion, Role: "aggregator"}); err != nil {
		tb.Fatal(err)
	}
	pc := protocol.Config{
		Listen:         "127.0.0.1:0",
		Users:          users,
		ConnectTimeout: 2 * time.Second,
		ReadTimeout:    2 * time.Second,
	}
	if cfg != nil {
		cfg(&pc)
	}
	protocol.RouteVitessLogs(log)
	srv, err := protocol.New(pc, mgr, log)
	if err != nil {
		tb.Fatal(err)
	}
	env := &sqlcmd.Env{Reloader: mgr, Certs: mgr, Vars: vars, Started: started, Processes: srv.Processes()}
	if err := srv.Start(sqlcmd.NewExecutor(env)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// lastDialed hands the raw connection of a go-sql-driver login to the fuzz
// function: the driver does the handshake, the fuzzer then owns the socket.
var lastDialed = make(chan net.Conn, 1)

func init() {
	// The driver logs every connection the fuzzer breaks; that is the point.
	_ = mysql.SetLogger(quietLogger{})
	mysql.RegisterDialContext("fuzzraw", func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			select {
			case <-lastDialed:
			default:
			}
			lastDialed <- c
		}
		return c, err
	})
}

type quietLogger struct{}

func (quietLogger) Print(...any) {}

func driverConfig(addr, net string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = fuzzUser, fuzzPW, net, addr
	cfg.TLSConfig = "false"
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	return cfg
}

// packet frames payload as one MySQL packet with sequence id seq.
func packet(seq byte, payload []byte) []byte { return wiretest.Packet(seq, payload) }

// FuzzListenerPackets sends arbitrary bytes to the client listener, before
// the handshake or after a valid login, and checks after every input that
// the server did not panic (vitess recovers connection panics;
// protocol.RecoveredPanics counts them), that it closed the connection (no leaked connection),
// and that it still serves a normal client. At the end the number of
// goroutines must be back near where it started.
//
// The first byte selects the mode: bit 0 set = after a valid login (the
// rest are command packets, framed by the input itself; with bit 2 set
// too, the rest is a list of commands, each a command byte, a length byte
// and that many body bytes, which the target frames as packets: every
// command byte is then one or two input bytes away), clear = before the
// handshake (bit 1 set: read the greeting first; clear: write before
// reading anything). Seeds live in
// testdata/fuzz/FuzzListenerPackets and run with every `go test`; fuzz for
// longer with `make fuzz` (FUZZTIME=5m by default).
func FuzzListenerPackets(f *testing.F) {
	srv := startFuzzServer(f, slog.New(slog.DiscardHandler))
	protocol.NoLoginDelay(srv)
	addr := srv.Addr().String()
	connector, err := mysql.NewConnector(driverConfig(addr, "tcp"))
	if err != nil {
		f.Fatal(err)
	}
	normal := sql.OpenDB(connector)
	normal.SetMaxIdleConns(0) // every Ping is a new connection: the accept loop must still work
	f.Cleanup(func() { normal.Close() })
	rawConnector, err := mysql.NewConnector(driverConfig(addr, "fuzzraw"))
	if err != nil {
		f.Fatal(err)
	}
	if err := normal.Ping(); err != nil {
		f.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	f.Cleanup(func() {
		// Connections close asynchronously: poll, bounded.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > baseline+8 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > baseline+8 {
			buf := make([]byte, 1<<20)
			f.Errorf("goroutines: %d at start, %d at the end\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
		}
	})

	// The seeds are read from testdata/fuzz/FuzzListenerPackets, which
	// TestFuzzSeedCorpusPresent keeps in step with fuzzSeeds.

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode, payload := data[0], data[1:]
		panicsBefore := protocol.RecoveredPanics()
		var c net.Conn
		if mode&1 == 1 {
			dc, err := rawConnector.Connect(context.Background())
			if err != nil {
				t.Fatalf("valid login: %v", err)
			}
			defer dc.Close()
			c = <-lastDialed
		} else {
			var err error
			c, err = net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if mode&2 == 2 {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, _, err := wiretest.ReadPacket(c); err != nil {
					t.Fatalf("greeting: %v", err)
				}
			}
		}
		if mode&5 == 5 {
			payload = frameCommands(payload)
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(payload) // the server may already have closed: fine
		// Half-close: the server reads EOF after the input, answers what
		// it read and closes, so the read below rarely waits its 50 ms
		// (with the wait, an input took 50 ms: ~40 execs/s on 2 workers;
		// without it ~1,000).
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
		c.Close()

		deadline := time.Now().Add(3 * time.Second)
		for srv.ActiveConnections() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := srv.ActiveConnections(); n > 0 {
			t.Fatalf("server still holds %d connection(s) after the client closed", n)
		}
		if n := protocol.RecoveredPanics(); n != panicsBefore {
			t.Fatalf("server recovered %d panic(s) on input %q (logged at error)", n-panicsBefore, data)
		}
		if err := normal.Ping(); err != nil {
			t.Fatalf("server no longer serves a normal client: %v", err)
		}
	})
}

// frameCommands turns a list of commands (command byte, length byte, body)
// into command packets; a body cut short by the end of the input is sent
// as it is.
func frameCommands(list []byte) []byte {
	var out []byte
	for len(list) > 0 {
		cmd := list[0]
		n := 0
		if len(list) > 1 {
			n = int(list[1])
		}
		body := list[min(2, len(list)):]
		body = body[:min(n, len(body))]
		out = append(out, packet(0, append([]byte{cmd}, body...))...)
		list = list[min(2, len(list))+len(body):]
	}
	return out
}

// fuzzSeeds are the inputs also stored in testdata/fuzz/FuzzListenerPackets.
func fuzzSeeds() [][]byte {
	query := func(q string) []byte { return packet(0, append([]byte{0x03}, q...)) }
	var seeds [][]byte
	add := func(mode byte, parts ...[]byte) {
		seeds = append(seeds, append([]byte{mode}, bytes.Join(parts, nil)...))
	}
	// Before the handshake.
	add(0, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	add(2, []byte{})
	add(2, []byte{0x01, 0x00})                                                                                  // half a header
	add(2, packet(1, []byte{0x00}))                                                                             // one-byte handshake response
	add(2, []byte{0xff, 0xff, 0xff, 0x01, 0x00})                                                                // claims 16 MiB
	add(2, packet(1, bytes.Repeat([]byte{0xff}, 64)))                                                           // all flags set, garbage
	add(2, packet(1, append(binary.LittleEndian.AppendUint32(nil, 0x00000800), 0, 0, 0, 0)))                    // SSL request, then no TLS
	add(2, packet(1, []byte("\x8d\xa6\x0f\x00\x00\x00\x00\x01\x21"+strings.Repeat("\x00", 23)+"fuzz\x00\x14"))) // auth response length past the end
	add(0, []byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})                                  // a TLS ClientHello first
	// Handshake responses with auth data of every awkward length: vitess's
	// password checks index the reply up to the hash size.
	for _, n := range []int{1, 19, 21} {
		add(2, packet(1, handshakeResponse(fuzzUser, bytes.Repeat([]byte{0xa5}, n), "mysql_native_password")))
		add(2, packet(1, handshakeResponse("ghost", bytes.Repeat([]byte{0xa5}, n), "mysql_native_password")))
	}
	for _, n := range []int{1, 31} { // an auth switch answered short
		add(2, packet(1, handshakeResponse(fuzzUser, nil, "caching_sha2_password")), packet(3, bytes.Repeat([]byte{0x5a}, n)))
	}
	// After login.
	add(1, query("SELECT 1"))
	add(1, query("SSL_RELOAD"))
	add(1, query("SHOW VARIABLES LIKE 'ssl%'"), query("SHOW WARNINGS"))
	add(1, packet(0, []byte{0x01}))                          // COM_QUIT
	add(1, packet(0, []byte{0x02, 'x'}))                     // COM_INIT_DB
	add(1, packet(0, []byte{0x16}), packet(0, []byte{0x17})) // COM_STMT_PREPARE, COM_STMT_EXECUTE without bodies
	add(1, packet(0, []byte{0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0}))
	add(1, packet(0, []byte{0x11}))                                                                                                // COM_CHANGE_USER without body
	add(1, packet(0, []byte{0x1f}))                                                                                                // COM_RESET_CONNECTION
	add(1, packet(0, []byte{0x1e}), query("SELECT 1"))                                                                             // COM_BINLOG_DUMP_GTID without body, then a query
	add(1, packet(0, append([]byte{0x15, 1, 0, 0, 0, 1, 'h', 1, 'u', 1, 'p', 0xea, 0x0c}, make([]byte, 8)...)), query("SELECT 1")) // COM_REGISTER_SLAVE
	add(1, packet(0, []byte{0xfe, 0x00}))                                                                                          // unknown command
	add(1, packet(0, nil))                                                                                                         // empty packet
	add(1, packet(7, []byte{0x03, 'S'}))                                                                                           // wrong sequence id
	add(1, []byte{0xff, 0xff, 0xff, 0x00, 0x03})                                                                                   // 16 MiB query that never comes
	add(1, query("SELECT '"+strings.Repeat("\xff", 40)+"'"))                                                                       // invalid UTF-8
	add(1, query("/*"))
	add(1, packet(0, []byte{0x03}))
	// Deep keyword runs (vitess's tokenizer recurses once per NOT / FOR),
	// through COM_QUERY and COM_STMT_PREPARE, and 16 KiB of them in a row.
	add(1, query("SELECT "+strings.Repeat("NOT ", 4096)+"1"))
	add(1, query("SELECT 1 "+strings.Repeat("FOR\n", 4096)))
	add(1, packet(0, append([]byte{0x16}, strings.Repeat("NOT ", 4096)...)))
	add(1, query("SELECT /*!"+strings.Repeat("not ", 1000)+"*/ 1; SELECT 1"))
	add(1, query("SELECT "+strings.Repeat("(", 3000)+"1"+strings.Repeat(")", 3000)))
	// Commands vitess mishandled: COM_STMT_RESET / _EXECUTE / _FETCH of an
	// unknown id, COM_FIELD_LIST (two answers), a malformed
	// COM_BINLOG_DUMP_GTID, COM_SET_OPTION of an unknown option.
	add(1, packet(0, []byte{0x1a, 1, 0, 0, 0}), query("SELECT 1"))
	add(1, packet(0, []byte{0x04, 't', 0}), query("SELECT 1"))
	add(1, packet(0, []byte{0x1e, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}))
	add(1, packet(0, []byte{0x1b, 7, 0}), query("SELECT 1"))
	// Framed command lists (mode 5): every command byte with a short body.
	var all []byte
	for cmd := 0; cmd < 0x20; cmd++ {
		if cmd == 0x01 || cmd == 0x1e || cmd == 0x12 || cmd == 0x15 {
			continue // these end the connection
		}
		all = append(all, byte(cmd), 4, 1, 0, 0, 0)
	}
	add(5, all)
	add(5, []byte{0x1e, 9, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff})
	// Before login: a length-encoded auth response of 2^64-1 bytes
	// (make([]byte, -1) in vitess's parser).
	add(2, packet(1, wiretest.HandshakeResponseLenenc(wiretest.CapsBase, fuzzUser,
		[]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "mysql_native_password")))
	add(2, packet(1, wiretest.HandshakeResponseLenenc(wiretest.CapsBase, fuzzUser,
		[]byte{0xfd, 0xff, 0xff, 0x7f}, "mysql_native_password")))
	return seeds
}

// handshakeResponse is a HandshakeResponse41 without TLS.
func handshakeResponse(user string, auth []byte, plugin string) []byte {
	return wiretest.HandshakeResponse(wiretest.CapsBase, user, auth, plugin)
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzListenerPackets from fuzzSeeds")

// TestFuzzSeedCorpusPresent checks that every seed in fuzzSeeds is stored
// in testdata/fuzz/FuzzListenerPackets (-write-seeds writes them).
func TestFuzzSeedCorpusPresent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzListenerPackets")
	for i, s := range fuzzSeeds() {
		path := filepath.Join(dir, fmt.Sprintf("seed%02d", i+1))
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if *writeSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeedCorpusPresent -write-seeds ./protocol/)", err)
		}
		if string(got) != want {
			t.Errorf("%s differs from fuzzSeeds()[%d]; rerun with -write-seeds", path, i)
		}
	}
}
