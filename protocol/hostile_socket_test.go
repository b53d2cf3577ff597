package protocol_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/wiretest"
	"github.com/ssld/ssld/protocol"
)

// TestHostileUnixSocket: the Unix socket has the connect timeout (a silent
// client is cut off), its own connection limit (the 33rd connection gets
// 1040 while TCP logins go on), and its sessions are closed at shutdown
// like TCP's.
func TestHostileUnixSocket(t *testing.T) {
	tn := nodetest.New(t, hostileLimits) // connect_timeout 500ms
	ctx := nodetest.Ctx(t)
	dialSock := func() net.Conn {
		c, err := net.DialTimeout("unix", tn.Socket, 2*time.Second)
		require.NoError(t, err)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}

	t.Run("silent client cut off at connect_timeout", func(t *testing.T) {
		t0 := time.Now()
		c := dialSock()
		defer c.Close()
		_, err := wiretest.ReadPayload(c)
		require.NoError(t, err, "greeting")
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "not cut off within 5s")
		took := time.Since(t0)
		assert.GreaterOrEqual(t, took, 400*time.Millisecond)
		assert.Less(t, took, 2*time.Second)
	})

	t.Run("own connection limit", func(t *testing.T) {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for i := 0; i < protocol.SocketMaxConnections; i++ {
			c := dialSock()
			held = append(held, c)
			_, err := wiretest.ReadPayload(c)
			require.NoError(t, err)
		}
		c := dialSock()
		defer c.Close()
		p, err := wiretest.ReadPayload(c)
		require.NoError(t, err)
		num, msg, ok := wiretest.ErrPacket(p)
		require.True(t, ok, "an error packet in place of the greeting")
		assert.Equal(t, uint16(1040), num)
		assert.Equal(t, "Too many connections", msg)
		require.NoError(t, tn.DB("admin", nodetest.AdminPW, tn.TLSName(nil)).PingContext(ctx), "TCP logins go on")
	})

	t.Run("sessions closed at shutdown", func(t *testing.T) {
		db := tn.SocketDB("admin", nodetest.AdminPW)
		testenv.Eventually(t, 3*time.Second, func() bool { return db.PingContext(ctx) == nil }, "the limit frees up once the held connections are gone")
		sock, err := db.Conn(ctx)
		require.NoError(t, err)
		defer sock.Close()
		require.NoError(t, sock.PingContext(ctx))
		t0 := time.Now()
		tn.N.Shutdown(300 * time.Millisecond)
		assert.Less(t, time.Since(t0), 2*time.Second)
		assert.Error(t, sock.PingContext(ctx), "the socket session was closed at the end of the grace")
	})
}
