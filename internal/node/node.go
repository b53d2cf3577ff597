package node

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssld/ssld/cluster"
	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/metrics"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
	"github.com/ssld/ssld/watch"
)

// Node is one running ssld: the TLS manager, the variables, the executor
// and the listeners, wired together. Start builds it; its methods are
// safe for concurrent use.
type Node struct {
	cfg      *config.File
	tls      *tlsctx.Manager
	reloader *notifyingReloader // tls.Reload with sd_notify around it
	server   *protocol.Server
	metrics  *metrics.Metrics
	httpSrv  *metrics.Server // metrics_listen, or nil
	httpLn   net.Listener
	watcher  *watch.Watcher // watch: true, or nil
	reserve  *descriptorReserve
	log      *slog.Logger
}

// Options are what the command line adds to the config file.
type Options struct {
	Config string // the config file; required
	Listen string // overrides the file's listen when set
	Socket string // overrides the file's socket when set
	// Strict refuses to start when the TLS material is invalid; without
	// it the node starts degraded (see Start).
	Strict bool
	// Dev is serve --dev: the identity guard is off (the dev certificate
	// is regenerated at will).
	Dev bool

	// With a nil logger, Start logs to LogOut at the file's log_level and
	// log_format, unless LogLevel / LogFormat (the flags) are set.
	LogOut              io.Writer
	LogLevel, LogFormat string

	// Build describes the binary (ssld version): @@version_comment, the
	// build_info metric and the ready line.
	Build Build
}

// Build describes the running binary; the zero Build is a development
// build, "(devel)".
type Build struct {
	Version, Revision, ShortRevision, GoVersion string
}

// VersionComment is @@version_comment: one short line that the mysql
// client prints after the server version on connect ("Server version:
// 8.0.35-ssld ssld 0.1.0 (TLS reload daemon)"). It contains "ssld", which
// is how `ssld cluster` recognises an ssld node.
func (b Build) VersionComment() string {
	v := b.Version
	if v == "" {
		v = "(devel)"
	}
	return "ssld " + v + " (TLS reload daemon)"
}

// Start loads the config, builds every part and starts the listeners. log
// may be nil: see Options.LogOut. Every part is built complete before the
// next one that uses it: the server before the executor that lists its
// connections, the manager before the observers added to it.
func Start(ctx context.Context, o Options, log *slog.Logger) (*Node, error) {
	cfg, err := config.Load(o.Config)
	if err != nil {
		return nil, err
	}
	if log == nil {
		level, format := cmp.Or(o.LogLevel, cfg.LogLevel), cmp.Or(o.LogFormat, cfg.LogFormat)
		out := o.LogOut
		if out == nil {
			out = io.Discard
		}
		if log, err = config.NewLogger(out, level, format); err != nil {
			return nil, config.LogSettingError(err, cfg.Path(), o.LogLevel, o.LogFormat)
		}
	}
	for _, w := range cfg.UnknownKeyWarnings() {
		log.Warn(w)
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.Socket != "" {
		cfg.Socket = o.Socket
	}
	reserveDescriptors(cfg, log)
	reserve, up := newDescriptorReserve(), false
	defer func() {
		if !up {
			reserve.close() // start-up failed: no node holds it
		}
	}()
	src := config.NewSource(cfg.Path(), config.SourceOptions{Running: cfg, ListenOverride: o.Listen, SocketOverride: o.Socket,
		// Out of descriptors: the reserve is the reload's until it ends
		// (the observer below refills it).
		OnEMFILE: reserve.release, AnyIdentity: o.Dev})
	//
	// Invalid TLS material (expired, missing, mismatched, unreadable) is a
	// degraded start unless Strict: the socket and metrics work, the TCP
	// and cluster listeners answer every client with an error naming the
	// problem (protocol.TLSGate), and the first good reload brings TLS up.
	backend, _ := tlsctx.ParseCryptoBackend(cfg.CryptoBackend) // checked by config.Load
	mopts := []tlsctx.Option{tlsctx.WithLogger(log), tlsctx.WithCryptoBackend(backend),
		tlsctx.WithObserver(func(tlsctx.ReloadEvent) { reserve.refill() })}
	if !o.Strict {
		mopts = append(mopts, tlsctx.WithDegradedStart())
	}
	// @@ssl_cert and the other setting variables show what the config
	// file held at the last reload attempt (Current_tls_* what is in use).
	configured := sysvars.NewConfigured(src)
	mgr, err := tlsctx.New(ctx, configured, mopts...)
	if err != nil {
		return nil, fmt.Errorf("TLS material: %w", err)
	}
	// Every trigger (sql, signal, watch) is observed: the manager exists,
	// so the metrics that read it are built complete and then subscribed.
	met := metrics.New(mgr)
	mgr.AddObserver(met.ObserveReload)
	met.SetRecoveredPanics(protocol.RecoveredPanics) // what SHOW STATUS's Ssld_recovered_panics reads
	met.SetBuildInfo(metrics.BuildInfo{Version: o.Build.Version, Revision: o.Build.Revision, GoVersion: o.Build.GoVersion,
		CryptoBackend: string(mgr.CryptoBackend())})
	// Every reload trigger goes through rl, which tells systemd about it.
	rl := &notifyingReloader{mgr: mgr, sd: &systemdNotifier{mgr: mgr, log: log}, timeout: cfg.ReloadTimeout}

	// The server is built (no socket yet) before the executor, which
	// lists its connections and reads the port it binds.
	pcfg := cfg.ProtocolConfig(cfg.ServerVersion)
	if pcfg.RSAKeys, err = protocol.LoadRSAKeys(cfg.SHA2PrivateKeyPath, cfg.SHA2PublicKeyPath); err != nil {
		return nil, fmt.Errorf("config file %s: %w", cfg.Path(), err)
	}
	pcfg.Hooks = met
	pcfg.AcceptGate = reserve.acceptGate()
	protocol.RouteVitessLogs(log) // once per process: the first node's log
	srv, err := protocol.New(pcfg, mgr, log)
	if err != nil {
		return nil, err
	}
	port := 0
	if _, p, err := net.SplitHostPort(cfg.Listen); err == nil {
		port, _ = strconv.Atoi(p)
	}
	vars := sysvars.NewRegistry()
	if err := sysvars.AddTLS(vars, mgr, sysvars.WithConfigured(configured)); err != nil {
		return nil, err
	}
	info := sysvars.ServerInfo{Version: cfg.ServerVersion, VersionComment: o.Build.VersionComment(), Role: cfg.Role,
		Port: port, Socket: cfg.Socket, RequireSecureTransport: cfg.RequireSecureTransport,
		MaxConnections: cfg.MaxConnections, MaxAllowedPacket: cfg.MaxAllowedPacket,
		BoundPort: func() int {
			if a, ok := srv.Addr().(*net.TCPAddr); ok {
				return a.Port
			}
			return 0
		}}
	if err := sysvars.AddServer(vars, info); err != nil {
		return nil, err
	}
	privs := newPrivileges(cfg, src, srv, log)
	env := &sqlcmd.Env{
		Reloader:         rl,
		Validator:        mgr, // CHECK TLS: validation only, so no sd_notify around it
		Certs:            mgr,
		Vars:             vars,
		Topology:         topology(cfg),
		Accounts:         privs.account,
		Users:            privs,
		Started:          time.Now(),
		ThreadsConnected: srv.ActiveConnections,
		Processes:        srv.Processes(),
	}
	if err := srv.Start(sqlcmd.NewExecutor(env)); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, tls: mgr, reloader: rl, server: srv, metrics: met, log: log, reserve: reserve}
	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			n.Shutdown(0)
			return nil, fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
		}
		n.httpLn = ln
		n.httpSrv = metrics.Serve(n.reserve.acceptGate().Listener(ln), met.Handler(), log)
	}
	if cfg.Watch {
		w, err := watch.New(watch.Options{
			Paths: func() []string { return watchedPaths(cfg.Path(), mgr.Status().Settings) },
			Reload: func(ctx context.Context) error {
				_, err := rl.Reload(ctx, tlsctx.WithTrigger("watch"))
				return err
			},
			Recheck: cfg.WatchRecheck,
			Logger:  log,
		})
		if err != nil {
			n.Shutdown(0)
			return nil, fmt.Errorf("watch: %w", err)
		}
		w.Start()
		n.watcher = w
	}
	// Degraded is said before ready, so a log read up to "ssld ready"
	// already shows it.
	if st := mgr.Status(); len(st.Unavailable) > 0 {
		way := "fix the files, then run SSL_RELOAD over the Unix socket " + cfg.Socket + " or send SIGHUP"
		if cfg.Socket == "" {
			way = "no socket is configured: fix the files, then send SIGHUP (or restart)"
		}
		log.Error("ssld started degraded: "+DegradedSummary(st)+" until a reload succeeds",
			"channels", fmt.Sprint(st.Unavailable), "error", st.LastError, "repair", way)
	}
	log.Info("ssld ready", "version", o.Build.Version, "revision", o.Build.ShortRevision, "listen", srv.Addr().String(), "socket", cfg.Socket, "cluster_listen", addrString(srv.ClusterAddr()),
		"metrics_listen", addrString(n.MetricsAddr()), "watch", cfg.Watch,
		"role", cfg.Role, "config", cfg.Path(), "serial", mgr.Current(tlsctx.ChannelClient).Serial(),
		"crypto_backend", string(mgr.CryptoBackend()), "crypto", mgr.CryptoBackendInfo())
	rl.sd.ready()
	up = true
	return n, nil
}

// DegradedSummary says what a degraded start refuses: the channels left
// without their certificate and the listener of each, which answers every
// connection with an error; and, when one channel is down and the other
// is up, that the other serves. The Unix socket always works.
func DegradedSummary(st tlsctx.Status) string {
	port := map[tlsctx.Channel]string{tlsctx.ChannelClient: "listen", tlsctx.ChannelCluster: "cluster_listen"}
	var down, up []string
	var downPorts, upPorts []string
	for _, ch := range st.Channels {
		if slices.Contains(st.Unavailable, ch) {
			down, downPorts = append(down, string(ch)), append(downPorts, port[ch])
		} else {
			up, upPorts = append(up, string(ch)), append(upPorts, port[ch])
		}
	}
	if len(down) == 0 {
		return "every served channel has its certificate"
	}
	var b strings.Builder
	if len(down) == 1 {
		fmt.Fprintf(&b, "TLS is off on channel %s: the %s port refuses every connection", down[0], downPorts[0])
	} else {
		fmt.Fprintf(&b, "TLS is off on channels %s: the %s ports refuse every connection", strings.Join(down, ", "), strings.Join(downPorts, " and "))
	}
	if len(up) > 0 {
		fmt.Fprintf(&b, " (channel %s is up: the %s port serves)", strings.Join(up, ", "), strings.Join(upPorts, " and "))
	}
	return b.String()
}

// MetricsAddr is the bound address of metrics_listen, or nil.
func (n *Node) MetricsAddr() net.Addr {
	if n.httpLn == nil {
		return nil
	}
	return n.httpLn.Addr()
}

// watchedPaths is what watch: true follows: the config file and every
// TLS file or folder a reload reads (cluster_ssl_* only where the cluster
// channel is served).
func watchedPaths(config string, s tlsctx.Settings) []string {
	out := []string{config}
	// ssl_cert and ssl_key may list several files.
	lists := []string{s.SSLCert, s.SSLKey}
	paths := []string{s.SSLCA, s.SSLCAPath, s.SSLCRL, s.SSLCRLPath}
	if s.Serves(tlsctx.ChannelCluster) {
		lists = append(lists, s.ClusterSSLCert, s.ClusterSSLKey)
		paths = append(paths, s.ClusterSSLCA, s.ClusterSSLCAPath, s.ClusterSSLCRL, s.ClusterSSLCRLPath)
	}
	for _, l := range lists {
		out = append(out, tlsctx.SplitList(l)...)
	}
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Reload runs the one reload path (the same as SSL_RELOAD: reload_timeout,
// systemd notified) for a trigger ("signal", "watch", ...).
func (n *Node) Reload(ctx context.Context, trigger string) error {
	_, err := n.reloader.Reload(ctx, tlsctx.WithTrigger(trigger))
	return err
}

// Shutdown stops accepting and gives open connections grace to finish.
// Safe to call more than once.
func (n *Node) Shutdown(grace time.Duration) {
	n.reloader.sd.stopping()
	n.tls.Stop() // no CA overlap expiry reload after shutdown
	if n.watcher != nil {
		n.watcher.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	n.server.Shutdown(ctx)
	if n.httpSrv != nil {
		_ = n.httpSrv.Shutdown(ctx)
	}
	n.reserve.close()
}

// topology lists the cluster: entries in config order; which aggregator is
// the master is sqlcmd's rule (the first, as SingleStore lists it).
func topology(cfg *config.File) func() (aggs, leaves []sqlcmd.Node) {
	return func() (aggs, leaves []sqlcmd.Node) {
		for _, a := range cfg.Cluster.Aggregators {
			aggs = append(aggs, hostPortNode(a, ""))
		}
		for _, l := range cfg.Cluster.Leaves {
			leaves = append(leaves, hostPortNode(l, "leaf"))
		}
		return aggs, leaves
	}
}

// hostPortNode reads one cluster: entry, "host:port" or "host:port state"
// (state as SHOW LEAVES reports it: online, offline, detached, ...;
// default online).
func hostPortNode(entry, role string) sqlcmd.Node {
	addr, state := entry, "online"
	if f := strings.Fields(entry); len(f) == 2 {
		addr, state = f[0], strings.ToLower(f[1])
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return sqlcmd.Node{Host: addr, Port: cluster.DefaultPort, Role: role, State: state}
	}
	port, _ := strconv.Atoi(p)
	return sqlcmd.Node{Host: host, Port: port, Role: role, State: state}
}

// Addr is the bound address of the client listener (listen).
func (n *Node) Addr() net.Addr { return n.server.Addr() }

// ClusterAddr is the bound address of cluster_listen, or nil.
func (n *Node) ClusterAddr() net.Addr { return n.server.ClusterAddr() }

// Watching reports whether watch: true runs a file watcher.
func (n *Node) Watching() bool { return n.watcher != nil }

// Socket is the Unix socket path, or "" without one.
func (n *Node) Socket() string { return n.cfg.Socket }

// Config is the config the node started with (with the overrides of
// Options applied). It is not changed afterwards; do not modify it.
func (n *Node) Config() *config.File { return n.cfg }

// TLS is the node's TLS manager.
func (n *Node) TLS() *tlsctx.Manager { return n.tls }

// Status is the TLS manager's status.
func (n *Node) Status() tlsctx.Status { return n.tls.Status() }

// Metrics is the node's metrics registry.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Log is the node's logger.
func (n *Node) Log() *slog.Logger { return n.log }

// ActiveConnections is the number of open TCP connections (client and
// cluster listeners), as Threads_connected reports it.
func (n *Node) ActiveConnections() int { return n.server.ActiveConnections() }
