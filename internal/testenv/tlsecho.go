package testenv

import (
	"bufio"
	"crypto/tls"
	"net"
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

// Serve accepts connections on ln until tb ends (then ln is closed) and
// runs handle for each in its own goroutine, closing the connection when
// handle returns. It is the accept loop of every throw-away test server.
func Serve(tb testing.TB, ln net.Listener, handle func(net.Conn)) {
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
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
