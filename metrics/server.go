package metrics

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Bounds of the metrics_listen server. A scraper keeps one keep-alive
// connection and a probe opens one per check, so 32 connections leave
// room for several of each; the rest wait in the listen backlog, not in
// the process (each accepted connection is a file descriptor a reload may
// need). Prometheus scrapes every 15-60 s: a connection idle for longer
// than IdleTimeout is closed and the next scrape opens a new one.
const (
	MaxConnections    = 32
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second // the whole request: a GET has no body
	WriteTimeout      = 30 * time.Second // the response: a scrape is a few KiB
	IdleTimeout       = 60 * time.Second // between requests on a keep-alive connection
)

// Server serves a Handler on a listener with the bounds above.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// serverLimits are the bounds of one Server (tests shorten them).
type serverLimits struct {
	maxConns                      int
	readHeader, read, write, idle time.Duration
}

var defaultLimits = serverLimits{MaxConnections, ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout}

// Serve starts serving h on ln (typically m.Handler() on metrics_listen)
// with at most MaxConnections connections at once and every timeout above.
// The HTTP server's own messages (accept errors, TLS on a plain port) go
// to log at warn level, in the daemon's log format; log may be nil. It
// returns at once; Shutdown stops it.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	return serve(ln, h, defaultLimits, log)
}

func serve(ln net.Listener, h http.Handler, l serverLimits, log *slog.Logger) *Server {
	s := &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read,
			WriteTimeout: l.write, IdleTimeout: l.idle, MaxHeaderBytes: 16 << 10},
		ln: netutil.LimitListener(ln, l.maxConns),
	}
	if log != nil {
		s.srv.ErrorLog = slog.NewLogLogger(log.With("listener", "metrics_listen").Handler(), slog.LevelWarn)
	}
	// Serve returns when Shutdown closes the listener.
	go func() { _ = s.srv.Serve(s.ln) }()
	return s
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, lets requests in progress finish until ctx is
// done, and closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}
