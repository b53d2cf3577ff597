package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
)

// TestHostileCompareMariaDB sends the same hostile clients to mariadbd and
// to ssld and logs what each answered, for docs/reliability.md. Only with
// -mariadb-compare (make compare-mariadb).
func TestHostileCompareMariaDB(t *testing.T) {
	if !*mariadbCompare {
		t.Skip("run with -mariadb-compare (make compare-mariadb)")
	}
	testenv.LookPath(t, "openssl")
	tn := newTestNode(t, "max_allowed_packet: 1048576\n")
	certs := filepath.Join(tn.Dir, "certs")
	mdb := testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(certs, "server.crt"),
		KeyFile: filepath.Join(certs, "server.key"), CAFile: filepath.Join(certs, "ca.crt"),
		User: "monitor", Password: monitorPW, ExtraArgs: []string{"--max-allowed-packet=1M"}})

	for _, target := range []struct{ name, addr string }{{"MariaDB", mdb.Addr}, {"ssld", tn.Addr}} {
		addr := target.addr
		ok := 0
		for i := 0; i < 50; i++ {
			if _, err := opensslServedSerial(addr); err == nil {
				ok++
			}
		}
		answer := func(r *wiretest.Client) string {
			p, err := r.Read()
			if err != nil {
				return "closed, no error packet (" + err.Error() + ")"
			}
			if n := wiretest.ErrNum(p); n != 0 {
				return fmt.Sprintf("error %d %q", n, p[9:])
			}
			return fmt.Sprintf("packet 0x%02x", p[0])
		}
		garbage := wiretest.Dial(t, addr)
		require.NoError(t, garbage.Send([]byte{1, 2, 3}))
		short := wiretest.Dial(t, addr)
		require.NoError(t, short.Send(short.HandshakeResponse("monitor", []byte{0xa5}, "mysql_native_password")))

		// How much of a 16 MiB continuation stream before login is read.
		flood := wiretest.Dial(t, addr)
		_ = flood.C.SetDeadline(time.Now().Add(20 * time.Second))
		sent := 0
		chunk := make([]byte, 64<<10)
		if _, err := flood.C.Write([]byte{0xff, 0xff, 0xff, 1}); err == nil {
			for sent < 64<<20 {
				_ = flood.C.SetWriteDeadline(time.Now().Add(2 * time.Second))
				n, err := flood.C.Write(chunk)
				sent += n
				if err != nil {
					break
				}
			}
		}
		floodAnswer := answer(flood)

		empty := wiretest.Dial(t, addr)
		p, err := empty.Login("monitor", wiretest.ScrambleNative(empty.Salt, monitorPW), "mysql_native_password")
		require.NoError(t, err)
		require.Equal(t, byte(0), p[0], "%s: login", target.name)
		empty.Seq = 0
		require.NoError(t, empty.Send(nil))
		emptyAnswer := answer(empty)
		empty.Seq = 0
		_ = empty.Send([]byte{0x0e})
		pingAnswer := answer(empty)

		big := wiretest.Dial(t, addr)
		p, err = big.Login("monitor", wiretest.ScrambleNative(big.Salt, monitorPW), "mysql_native_password")
		require.NoError(t, err)
		require.Equal(t, byte(0), p[0])
		big.Seq = 0
		q := append([]byte{0x03}, "SELECT '"+string(bytes.Repeat([]byte{'x'}, 2<<20))+"'"...)
		pkt := wiretest.Packet(0, q)
		go func() { _, _ = big.C.Write(pkt) }()
		bigAnswer := answer(big)
		_ = big.C.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, rerr := io.Copy(io.Discard, big.C)
		var ne net.Error
		closed := rerr == nil || !(errors.As(rerr, &ne) && ne.Timeout())

		t.Logf("%s:\n  s_client -starttls mysql: %d/50\n  garbage handshake response: %s\n  1-byte auth data: %s\n"+
			"  16 MiB continuation before login: %s after %d MiB written\n  empty command packet: %s, then COM_PING: %s\n"+
			"  2 MiB query over max_allowed_packet 1 MiB: %s, closed: %v",
			target.name, ok, answer(garbage), answer(short), floodAnswer, sent>>20, emptyAnswer, pingAnswer, bigAnswer, closed)
	}
}
