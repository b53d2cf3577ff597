package testenv

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"
)

// TLSEchoServer listens on a loopback port with cfg, completes each
// handshake and echoes lines back (10 s per connection at the most), until
// tb ends. It returns the address: a plain TLS peer for tests of what a
// *tls.Config serves.
func TLSEchoServer(tb testing.TB, cfg *tls.Config) string {
	tb.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatalf("tls echo server: %v", err)
	}
	Serve(tb, ln, echo)
	return ln.Addr().String()
}

// Serve accepts connections on ln until tb ends and runs handle for each
// in its own goroutine, closing the connection when handle returns. It is
// the accept loop of a throw-away test server. When tb ends, ln and every
// open connection are closed and Serve waits for the handlers to return,
// so none outlives the test: handle must return once its connection is
// closed.
func Serve(tb testing.TB, ln net.Listener, handle func(net.Conn)) {
	var (
		mu     sync.Mutex
		open   = map[net.Conn]struct{}{}
		closed bool
		wg     sync.WaitGroup
	)
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = conn.Close()
				return
			}
			open[conn] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(open, conn)
					mu.Unlock()
					_ = conn.Close()
				}()
				handle(conn)
			}()
		}
	}()
}

func echo(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := conn.Write([]byte(line)); err != nil {
			return
		}
	}
}
