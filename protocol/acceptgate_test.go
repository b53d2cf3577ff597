package protocol_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/protocol"
)

// readGreeting reads the first bytes the server sends on c within d.
func readGreeting(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadFull(c, make([]byte, 4))
	return err
}

// TestAcceptGatePausesListeners: while the gate is paused no listener
// sharing it (TCP, the Unix socket, a listener wrapped with
// AcceptGate.Listener) accepts: a client connects (the kernel's backlog)
// but gets no greeting, the server counts no connection; Pause returned
// although every listener was blocked in accept. On Resume the waiting
// clients are greeted.
func TestAcceptGatePausesListeners(t *testing.T) {
	gate := protocol.NewAcceptGate()
	sock := filepath.Join(t.TempDir(), "ssld.sock")
	srv := startServerWith(t, slog.New(slog.DiscardHandler), nil, func(c *protocol.Config) {
		c.Socket = sock
		c.AcceptGate = gate
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	other := gate.Listener(raw)
	t.Cleanup(func() { other.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()

	dial := func() (tcp, unix, o net.Conn) {
		var err error
		tcp, err = net.DialTimeout("tcp", srv.Addr().String(), 2*time.Second)
		require.NoError(t, err)
		unix, err = net.DialTimeout("unix", sock, 2*time.Second)
		require.NoError(t, err)
		o, err = net.DialTimeout("tcp", raw.Addr().String(), 2*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { tcp.Close(); unix.Close(); o.Close() })
		return
	}
	tcp, unix, _ := dial()
	require.NoError(t, readGreeting(tcp, 2*time.Second), "open gate: TCP greets")
	require.NoError(t, readGreeting(unix, 2*time.Second), "open gate: the socket greets")
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("open gate: the wrapped listener did not accept")
	}
	tcp.Close()
	unix.Close()
	time.Sleep(50 * time.Millisecond) // every listener back in accept

	paused := make(chan struct{})
	go func() { gate.Pause(); close(paused) }()
	select {
	case <-paused:
	case <-time.After(2 * time.Second):
		t.Fatal("Pause did not return while the listeners were blocked in accept")
	}
	assert.True(t, gate.Paused())
	tcp, unix, _ = dial()
	assert.Error(t, readGreeting(tcp, 300*time.Millisecond), "paused: no accept on TCP")
	assert.Error(t, readGreeting(unix, 50*time.Millisecond), "paused: no accept on the socket")
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("paused: the wrapped listener accepted")
	default:
	}
	assert.Equal(t, 0, srv.ActiveConnections(), "paused: no connection is held")

	gate.Pause() // nested: one Resume does not open it
	gate.Resume()
	assert.True(t, gate.Paused())
	assert.Error(t, readGreeting(tcp, 100*time.Millisecond), "still paused")
	gate.Resume()
	assert.False(t, gate.Paused())
	require.NoError(t, readGreeting(tcp, 2*time.Second), "resumed: the waiting TCP client is greeted")
	require.NoError(t, readGreeting(unix, 2*time.Second), "resumed: the waiting socket client is greeted")
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("resumed: the wrapped listener did not accept")
	}
}

// TestAcceptGateShutdownWhilePaused: a server whose gate stays paused
// still shuts down at once (the listeners waiting for the gate see the
// close), and a wrapped listener's Accept returns on Close.
func TestAcceptGateShutdownWhilePaused(t *testing.T) {
	gate := protocol.NewAcceptGate()
	srv := startServerWith(t, slog.New(slog.DiscardHandler), nil, func(c *protocol.Config) { c.AcceptGate = gate })
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	other := gate.Listener(raw)
	acceptErr := make(chan error, 1)
	go func() { _, err := other.Accept(); acceptErr <- err }()
	gate.Pause()
	defer gate.Resume()

	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown hung while the gate was paused")
	}
	require.NoError(t, other.Close())
	select {
	case err := <-acceptErr:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("Accept on a closed wrapped listener did not return")
	}
}
