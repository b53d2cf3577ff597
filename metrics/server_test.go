package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// serveTest serves h on 127.0.0.1:0 with limits l until the test ends.
func serveTest(t *testing.T, h http.Handler, l serverLimits) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := serve(ln, h, l, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// keepAlive opens a connection and completes one keep-alive request on it.
func keepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	return c, r
}

// closedWithin reports how long the server took to close c (it reads
// until EOF), failing after max.
func closedWithin(t *testing.T, c net.Conn, r *bufio.Reader, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(max)))
	_, err := r.ReadByte()
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server kept the connection for %v", max)
	return time.Since(start)
}

// TestServerClosesIdleConnections: a keep-alive connection that sends
// nothing more is closed after the idle timeout, and one that never
// finishes its request header after the read-header timeout. Before, the
// metrics server kept idle connections for ever (no IdleTimeout,
// ReadTimeout or WriteTimeout): each held a descriptor.
func TestServerClosesIdleConnections(t *testing.T) {
	l := serverLimits{maxConns: 4, readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: 400 * time.Millisecond}
	s := serveTest(t, http.HandlerFunc(serveLive), l)

	c, r := keepAlive(t, s.Addr().String())
	took := closedWithin(t, c, r, 5*time.Second)
	assert.GreaterOrEqual(t, took, 300*time.Millisecond, "not before the idle timeout")

	c2, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
	require.NoError(t, err)
	defer c2.Close()
	_, err = io.WriteString(c2, "GET /livez HTTP/1.1\r\nHost: x\r\n") // the header never ends
	require.NoError(t, err)
	closedWithin(t, c2, bufio.NewReader(c2), 5*time.Second)
}

// TestServerLimitsConnections: beyond the connection limit, a new
// connection is not accepted (it waits in the listen backlog and its
// request is not read) until one of the open ones closes.
func TestServerLimitsConnections(t *testing.T) {
	l := serverLimits{maxConns: 2, readHeader: time.Second, read: time.Second, write: time.Second, idle: time.Minute}
	s := serveTest(t, http.HandlerFunc(serveLive), l)
	a, _ := keepAlive(t, s.Addr().String())
	keepAlive(t, s.Addr().String())

	c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second) // the kernel completes it: backlog
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	r := bufio.NewReader(c)
	_, err = r.ReadByte()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a third connection is served beyond the limit of 2")

	a.Close() // a slot frees: the waiting connection is accepted and answered
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestServerDefaults pins the bounds of Serve.
func TestServerDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := Serve(ln, http.HandlerFunc(serveLive), nil)
	defer s.Shutdown(context.Background())
	assert.Equal(t, ReadHeaderTimeout, s.srv.ReadHeaderTimeout)
	assert.Equal(t, ReadTimeout, s.srv.ReadTimeout)
	assert.Equal(t, WriteTimeout, s.srv.WriteTimeout)
	assert.Equal(t, IdleTimeout, s.srv.IdleTimeout)
	assert.Equal(t, 32, MaxConnections)
}

// TestServerLogsThroughSlog: the HTTP server's own messages go to the
// daemon's logger (its format, the listener named), not to the standard
// library's default logger on stderr.
func TestServerLogsThroughSlog(t *testing.T) {
	var buf testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") }), defaultLimits, log)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	resp, err := http.Get("http://" + s.Addr().String() + "/")
	if err == nil {
		resp.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "handler bug") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Contains(t, buf.String(), "level=WARN")
	assert.Contains(t, buf.String(), "listener=metrics_listen")
	assert.Contains(t, buf.String(), "http: panic serving")
}
