// Package protocol serves the MySQL wire protocol for ssld's admin surface:
// the TCP listener (client TLS channel), the optional Unix socket (no TLS, so
// an expired certificate never locks the operator out) and the optional
// cluster port (mutual TLS). It authenticates users and hands every statement
// to sqlcmd; it never parses SQL itself.
package protocol

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	vtlog "github.com/dolthub/vitess/go/vt/log"

	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/tlsctx"
)

// Defaults applied by New when a Config field is zero.
const (
	DefaultMaxConnections = 151 // MySQL's max_connections default
	DefaultConnectTimeout = 10 * time.Second
	DefaultReadTimeout    = 8 * time.Hour // MySQL's wait_timeout default
	DefaultWriteTimeout   = 60 * time.Second
	DefaultServerVersion  = "8.0.35-ssld"
	// SocketMaxConnections is the Unix socket's own connection limit: it is
	// for the operator and local hooks, and stays usable however many TCP
	// clients there are.
	SocketMaxConnections = 32
)

// connReadBufferSize is the per-connection read buffer (vitess's
// bufio.Reader, which the command hook of commandhook.go needs). The transport
// under it hands out one packet header or payload per Read, so the buffer
// never holds more than one packet piece: a read at least this long goes
// straight into vitess's packet buffer, a shorter one is copied once either
// way. 512 bytes holds every command an admin client sends in one piece and
// leaves 3.5 KiB less per connection than 4 KiB did, both in garbage per
// login and in memory per idle connection (docs/performance.md).
const connReadBufferSize = 512

// TLSProvider hands out the server *tls.Config of a channel. *tlsctx.Manager
// implements it; the returned config must be dynamic (GetConfigForClient),
// because it is set once on the listener and never reassigned.
type TLSProvider interface {
	ServerTLSConfig(ch tlsctx.Channel) *tls.Config
}

// Config is the listener side of ssld's configuration.
type Config struct {
	Listen        string // host:port of the client listener; required
	Socket        string // optional Unix socket path (mode 0600)
	ClusterListen string // optional host:port of the cluster listener (mutual TLS)

	Users                  []User
	RequireSecureTransport bool

	MaxConnections int // per TCP listener; 0 = DefaultMaxConnections
	// MaxAllowedPacket bounds a message (reassembled from 16 MiB packets)
	// after login; 0 = DefaultMaxAllowedPacket. Before login
	// PreLoginBudget applies.
	MaxAllowedPacket int64
	ConnectTimeout   time.Duration // from accept to a successful login
	ReadTimeout      time.Duration // idle time allowed between packets after login
	WriteTimeout     time.Duration
	ServerVersion    string

	// Hooks, if set, is told about connections and logins (for metrics).
	Hooks Hooks

	// RSAKeys is the key pair of caching_sha2_password over plain TCP
	// (LoadRSAKeys); nil generates one on first use.
	RSAKeys *RSAKeys

	// AcceptGate, if set, is shared by every listener: while it is paused
	// none calls accept(2), so descriptors freed then (a reload's reserve)
	// are not taken by a new connection.
	AcceptGate *AcceptGate
}

// Hooks receives connection events (for metrics). listener is the label
// of the listener: "client" (listen), "cluster" (cluster_listen) or
// "socket" (the Unix socket). Implementations must be safe for concurrent
// use and must not block: they run on connection and accept goroutines.
// *metrics.Metrics implements it.
type Hooks interface {
	ConnOpened(listener string)
	ConnClosed(listener string)
	// TLSHandshake reports a TLS handshake (client and cluster only).
	TLSHandshake(listener string, ok bool)
	// Login reports a finished login attempt: ok, or failed for any reason
	// (wrong password, unknown user, a handshake that did not parse or
	// was over its bound).
	Login(listener string, ok bool)
	// ListenerStarted reports a listener that accepts connections.
	ListenerStarted(listener string)
	// AcceptError reports a failed accept; permanent means the listener
	// stopped for good (anything but a temporary error).
	AcceptError(listener string, err error, permanent bool)
}

type noHooks struct{}

func (noHooks) ConnOpened(string)               {}
func (noHooks) ConnClosed(string)               {}
func (noHooks) TLSHandshake(string, bool)       {}
func (noHooks) Login(string, bool)              {}
func (noHooks) ListenerStarted(string)          {}
func (noHooks) AcceptError(string, error, bool) {}

// listenerLabel is the Hooks label of a transport.
func listenerLabel(transport string) string {
	switch transport {
	case "tcp":
		return "client"
	case "unix":
		return "socket"
	}
	return transport // "cluster"
}

// Server owns the listeners. New builds it without a socket or an
// executor, so that what the executor reads from the server (the process
// list, the open connections, the bound port) can be wired before it
// exists; Start binds every listener or none and serves statements with
// the executor it is given; Shutdown stops accepting, lets open
// connections finish until its context ends, then closes them.
type Server struct {
	cfg  Config
	exec *sqlcmd.Executor
	tls  TLSProvider
	log  *slog.Logger

	accts accounts  // the live account table of every listener; see SetUsers
	procs *procList // the connections of every listener (SHOW PROCESSLIST, KILL)

	mu        sync.Mutex
	listeners []*mysql.Listener
	guarded   []*guardedListener // TCP: client and cluster
	socketG   *guardedListener   // the Unix socket, nil without one
	labels    []string           // Hooks label of each of listeners

	acceptLog acceptLogger
	logins    *loginGuard // failed-login delay and log, shared by every listener
	refuseLog rateLimit   // refused connections and input: at most 10 warn lines a second
	tcpAddr   net.Addr
	clusterAd net.Addr
	done      sync.WaitGroup
}

// New validates cfg and builds a Server; it opens no socket.
func New(cfg Config, tp TLSProvider, log *slog.Logger) (*Server, error) {
	if cfg.Listen == "" {
		return nil, errors.New("listen: empty; set host:port of the admin listener")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxAllowedPacket == 0 {
		cfg.MaxAllowedPacket = DefaultMaxAllowedPacket
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = DefaultServerVersion
	}
	if err := CheckServerVersion(cfg.ServerVersion); err != nil {
		return nil, fmt.Errorf("server version %q: %w", cfg.ServerVersion, err)
	}
	if cfg.Hooks == nil {
		cfg.Hooks = noHooks{}
	}
	if cfg.RSAKeys == nil {
		cfg.RSAKeys, _ = LoadRSAKeys("", "") // no paths: cannot fail
	}
	if cfg.ClusterListen != "" && tp.ServerTLSConfig(tlsctx.ChannelCluster) == nil {
		return nil, errors.New("cluster_listen: set, but the cluster channel has no certificate (cluster_ssl_cert/ssl_cert)")
	}
	return &Server{cfg: cfg, tls: tp, log: log, procs: newProcList(), logins: newLoginGuard(log),
		refuseLog: rateLimit{burst: 10, interval: time.Second}}, nil
}

var (
	routeOnce       sync.Once
	recoveredPanics atomic.Int64
)

// RecoveredPanics is the number of panics vitess recovered in connection
// goroutines since the process started (each one closed its connection).
// It is safe for concurrent use; metrics export it and the listener fuzz
// target fails when it moves.
func RecoveredPanics() int64 { return recoveredPanics.Load() }

// panicLog limits the log lines of recovered panics: a client that found
// one can repeat it at will.
var panicLog = rateLimit{burst: 5, interval: time.Minute}

// logPanic counts a panic vitess recovered (its log arguments: the panic
// value and the stack) and logs it if rl allows.
func logPanic(log *slog.Logger, rl *rateLimit, args []any) {
	recoveredPanics.Add(1)
	ok, suppressed := rl.allow(time.Now())
	if !ok {
		return
	}
	value, stack := "", ""
	if len(args) > 0 {
		value = sqlcmd.CutMessage(fmt.Sprint(args[0]))
	}
	if len(args) > 1 {
		stack = fmt.Sprint(args[1])
		if len(stack) > 4096 {
			stack = stack[:4096]
		}
	}
	log.Error("mysql: connection goroutine panicked; connection closed", "panic", value, "stack", stack,
		"suppressed", suppressed)
}

// RouteVitessLogs sends vitess's own log lines (connection errors and the
// like) to log at debug level instead of the standard logger, formatted
// only when debug is on and cut to sqlcmd.MaxMessageBytes (vitess quotes
// client input, whole packets even). A recovered panic is counted
// (RecoveredPanics, ssld_recovered_panics_total) and logged at error, at
// most 5 lines a minute (the next says how many were left out), with the
// panic value and the stack, cut to 512 and 4096 bytes.
//
// vitess's loggers are process globals, so this is the process's choice,
// not a Server's: call it once, before the first Server starts (later
// calls do nothing). Without it vitess logs to the standard logger and a
// recovered panic is not counted.
func RouteVitessLogs(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routeOnce.Do(func() {
		f := func(format string, args ...any) {
			if strings.Contains(format, "caught panic") {
				logPanic(log, &panicLog, args)
				return
			}
			if !log.Enabled(context.Background(), slog.LevelDebug) {
				return
			}
			log.Debug("mysql: " + sqlcmd.CutMessage(fmt.Sprintf(format, args...)))
		}
		p := func(args ...any) { f("%s", fmt.Sprint(args...)) }
		vtlog.Infof, vtlog.Warningf, vtlog.Errorf = f, f, f
		vtlog.Info, vtlog.Warning, vtlog.Error = p, p, p
	})
}

// Start binds every configured listener and starts serving statements
// with exec. On error nothing stays bound. It is called once.
func (s *Server) Start(exec *sqlcmd.Executor) (err error) {
	if exec == nil {
		return errors.New("protocol: Start needs an executor")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exec != nil {
		return errors.New("protocol: Start called twice")
	}
	s.exec = exec
	defer func() {
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			s.listeners, s.guarded, s.socketG = nil, nil, nil
		}
	}()
	table, err := newUsers(s.cfg.Users)
	if err != nil {
		return err
	}
	s.accts.p.Store(&table)
	users := &s.accts

	tcp, err := s.listenTCP("listen", s.cfg.Listen, "tcp", users, s.tls.ServerTLSConfig(tlsctx.ChannelClient))
	if err != nil {
		return err
	}
	s.tcpAddr = tcp.Addr()

	if s.cfg.ClusterListen != "" {
		cl, err := s.listenTCP("cluster_listen", s.cfg.ClusterListen, "cluster", users, s.tls.ServerTLSConfig(tlsctx.ChannelCluster))
		if err != nil {
			return err
		}
		s.clusterAd = cl.Addr()
	}

	if s.cfg.Socket != "" {
		if err := s.listenUnix(users); err != nil {
			return err
		}
	}
	for i, l := range s.listeners {
		s.done.Add(1)
		s.cfg.Hooks.ListenerStarted(s.labels[i])
		go func(l *mysql.Listener) {
			defer s.done.Done()
			l.Accept()
		}(l)
	}
	return nil
}

// guard wraps a raw listener with the connection limit, the timeouts and
// the reporting of accept errors; label is the Hooks label.
func (s *Server) guard(raw net.Listener, setting, label string, limit int) *guardedListener {
	g := newGuardedListener(raw, limit, s.cfg.ConnectTimeout, s.cfg.ReadTimeout, s.cfg.WriteTimeout)
	g.gate = s.cfg.AcceptGate
	g.gate.add(raw)
	g.onRefuse = func(a net.Addr) {
		if ok, suppressed := s.refuseLog.allow(time.Now()); ok {
			s.log.Warn("connection refused: too many connections", "listener", setting, "remote", a.String(), "limit", limit,
				"suppressed", suppressed)
		}
	}
	g.onAcceptError = func(err error, permanent bool, retryIn time.Duration) {
		s.cfg.Hooks.AcceptError(label, err, permanent)
		if permanent {
			s.log.Error("listener stopped accepting connections; /healthz fails until a restart", "listener", setting, "error", err.Error())
			return
		}
		s.acceptLog.warn(s.log, setting, err, retryIn)
	}
	g.onTLS = func(ok bool) {
		s.procs.countTLS(label, ok)
		s.cfg.Hooks.TLSHandshake(label, ok)
	}
	g.maxAllowedPacket = s.cfg.MaxAllowedPacket
	g.onRefuseInput = func(a net.Addr, err error) {
		if ok, suppressed := s.refuseLog.allow(time.Now()); ok {
			s.log.Warn("connection closed: client input refused", "listener", setting, "remote", a.String(), "reason", err.Error(),
				"suppressed", suppressed)
		}
	}
	return g
}

func (s *Server) listenTCP(setting, addr, transport string, u *accounts, tc *tls.Config) (*mysql.Listener, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", setting, addr, err)
	}
	g := s.guard(raw, setting, listenerLabel(transport), s.cfg.MaxConnections)
	g.superSlot = 1 // max_connections + 1, as MySQL
	ch := tlsctx.ChannelClient
	if transport == "cluster" {
		ch = tlsctx.ChannelCluster
	}
	g.unavailable = s.unavailable(ch)
	l, err := s.newListener(g, transport, u)
	if err != nil {
		raw.Close()
		return nil, err
	}
	// The TLS upgrade runs in the transport (guardedConn), not in vitess,
	// so that the input bounds see decrypted packet headers; vitess's own
	// TLSConfig stays nil. The config is set once, before Accept, and is
	// dynamic through GetConfigForClient; a non-nil one is what offers TLS.
	g.tlsConfig = recordServed(tc)
	s.listeners = append(s.listeners, l)
	s.labels = append(s.labels, listenerLabel(transport))
	s.guarded = append(s.guarded, g)
	return l, nil
}

// listenUnix binds the admin socket with mode 0600. It is guarded like TCP
// (connect and read timeouts, accept errors, closed at shutdown) with a
// connection limit of its own, SocketMaxConnections, so that it stays
// usable when the TCP listener is full or flooded.
func (s *Server) listenUnix(u *accounts) error {
	path := s.cfg.Socket
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("socket %s: exists and is not a socket; refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("socket %s: another server is listening on it", path)
		}
		_ = os.Remove(path) // stale socket from a previous run
	}
	oldMask := umask(0o177)
	raw, err := net.Listen("unix", path)
	umask(oldMask)
	if err != nil {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		raw.Close()
		return fmt.Errorf("socket %s: %w", path, err)
	}
	g := s.guard(raw, "socket", "socket", SocketMaxConnections)
	l, err := s.newListener(g, "unix", u)
	if err != nil {
		raw.Close()
		return err
	}
	s.listeners = append(s.listeners, l)
	s.labels = append(s.labels, "socket")
	s.socketG = g
	return nil
}

func (s *Server) newListener(nl net.Listener, transport string, u *accounts) (*mysql.Listener, error) {
	h := newHandler(s.exec, transport, s.log, s.cfg.Hooks, s.procs)
	if tr, ok := s.tls.(SessionTracker); ok {
		h.tracker = tr
	}
	auth := newAuthServer(u, transport, s.cfg.RequireSecureTransport, s.cfg.Hooks, s.cfg.RSAKeys)
	auth.onLogin = h.loggedIn
	auth.guard = s.logins
	if src, ok := s.tls.(SnapshotSource); ok {
		auth.clientChannel = func() *tlsctx.Snapshot { return src.Current(tlsctx.ChannelClient) }
	}
	l, err := mysql.NewListenerWithConfig(mysql.ListenerConfig{
		Listener:   nl,
		AuthServer: auth,
		Handler:    h,
		// 512 bytes instead of vitess's 16 KiB default: admin statements
		// are small, and the buffer is per connection (memory per idle TLS
		// connection is one of ssld's budgets, docs/performance.md).
		ConnReadBufferSize: connReadBufferSize,
	})
	if err != nil {
		return nil, err
	}
	l.ServerVersion = s.cfg.ServerVersion
	return l, nil
}

// SnapshotSource is implemented by a TLSProvider that hands out the live
// snapshot of a channel (*tlsctx.Manager does). The server then checks
// require_x509 accounts against the client channel's CA set on every
// listener (see authServer.x509Verified); without it, only on the client
// port, through the TLS handshake. Current must be safe for concurrent use
// and must not block.
type SnapshotSource interface {
	Current(ch tlsctx.Channel) *tlsctx.Snapshot
}

// TLSGate is implemented by a TLSProvider that can run with a channel
// that has no certificate although one is configured (*tlsctx.Manager
// after a degraded start). While Unavailable returns an error for a
// channel, its TCP listener answers every new connection with error 3888
// naming the problem and the way out, in place of the greeting: no
// certificate is served and nobody logs in, so no require_ssl account can
// be let in over plain text. The Unix socket is not affected. Unavailable
// is called once per accepted connection and must not block.
type TLSGate interface {
	Unavailable(ch tlsctx.Channel) error
}

// unavailable returns the gate of ch's listener, or nil when the
// TLSProvider is not a TLSGate.
func (s *Server) unavailable(ch tlsctx.Channel) func() string {
	gate, ok := s.tls.(TLSGate)
	if !ok {
		return nil
	}
	// The way out comes before the problem: clients cut long messages
	// (MariaDB's client keeps about 400 bytes of an error it receives in
	// place of a TLS handshake).
	way := "fix the files, then send the node SIGHUP (no Unix socket is configured)"
	if s.cfg.Socket != "" {
		way = fmt.Sprintf("fix the files, then run SSL_RELOAD over the Unix socket %s (or send SIGHUP)", s.cfg.Socket)
	}
	return func() string {
		err := gate.Unavailable(ch)
		if err == nil {
			return ""
		}
		return fmt.Sprintf("ssld has no valid TLS certificate and refuses every connection on this port; %s. Problem: %v", way, err)
	}
}

// SetUsers replaces the accounts of every listener at once (FLUSH
// PRIVILEGES). list is validated as in Start first; on error nothing
// changes. New logins see the new table; sessions already logged in keep
// the account they logged in with. Calling it before Start has no effect
// (Start builds the table from Config.Users). Safe for concurrent use.
func (s *Server) SetUsers(list []User) error {
	table, err := newUsers(list)
	if err != nil {
		return err
	}
	s.accts.p.Store(&table)
	return nil
}

// RSAPublicKeyPEM is the public key caching_sha2_password clients
// retrieve over plain TCP (generated on first use unless configured).
func (s *Server) RSAPublicKeyPEM() ([]byte, error) { return s.cfg.RSAKeys.PublicKeyPEM() }

// Processes is the table of every listener's connections, for SHOW
// PROCESSLIST and KILL (sqlcmd.Env.Processes). Safe for concurrent use.
func (s *Server) Processes() sqlcmd.Processes { return s.procs }

// Addr is the bound address of the client listener (useful with port 0).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// ClusterAddr is the bound address of the cluster listener, or nil.
func (s *Server) ClusterAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusterAd
}

// ActiveConnections is the number of open TCP connections (client and
// cluster listeners).
func (s *Server) ActiveConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.guarded {
		n += g.Active()
	}
	return n
}

// Shutdown stops accepting on every listener, waits until the open TCP
// connections have closed or ctx ends, then closes the rest. Safe to call
// more than once.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	ls, gs := s.listeners, s.guarded
	if s.socketG != nil {
		gs = append(append([]*guardedListener(nil), gs...), s.socketG)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.Shutdown()
	}
	s.done.Wait()
	if s.cfg.Socket != "" {
		_ = os.Remove(s.cfg.Socket)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		open := 0
		for _, g := range gs {
			open += g.Active()
		}
		if open == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, g := range gs {
				g.closeAll()
			}
			return
		case <-t.C:
		}
	}
}
