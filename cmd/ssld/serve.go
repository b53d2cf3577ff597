package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/cluster"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/metrics"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
	"github.com/ssld/ssld/watch"
)

// version is the server version string the node reports (@@version).
const version = protocol.DefaultServerVersion

// node is one running ssld: the TLS manager, the variables, the executor
// and the listeners, wired together.
type node struct {
	cfg      *fileConfig
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

type serveOptions struct {
	config string
	listen string // overrides the file's listen when set
	socket string // overrides the file's socket when set
	// strict refuses to start when the TLS material is invalid; without
	// it the node starts degraded (see startNode).
	strict bool

	// With a nil logger, startNode logs to logOut at the file's log_level
	// and log_format, unless logLevel / logFormat (the flags) are set.
	logOut              io.Writer
	logLevel, logFormat string
}

// startNode loads the config, builds every part and starts the listeners.
// log may be nil: see serveOptions.logOut.
func startNode(ctx context.Context, o serveOptions, log *slog.Logger) (*node, error) {
	cfg, err := loadConfig(o.config)
	if err != nil {
		return nil, err
	}
	if log == nil {
		level, format := cmp.Or(o.logLevel, cfg.LogLevel), cmp.Or(o.logFormat, cfg.LogFormat)
		if log, err = newLogger(o.logOut, level, format); err != nil {
			return nil, logSettingError(err, cfg.path, o.logLevel, o.logFormat)
		}
	}
	for _, w := range cfg.unknownKeyWarnings() {
		log.Warn(w)
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	if o.socket != "" {
		cfg.Socket = o.socket
	}
	reserveDescriptors(cfg, log)
	reserve, up := newDescriptorReserve(), false
	defer func() {
		if !up {
			reserve.close() // start-up failed: no node holds it
		}
	}()
	src := &fileSource{path: cfg.path, listenOverride: o.listen, socketOverride: o.socket, running: cfg, reserve: reserve}
	// The observer is called only for reloads after New, by which time met
	// is set; every trigger (sql, signal, watch) goes through it.
	var met *metrics.Metrics
	//
	// Invalid TLS material (expired, missing, mismatched, unreadable) is a
	// degraded start unless --strict: the socket and metrics work, the TCP
	// and cluster listeners answer every client with an error naming the
	// problem (protocol.TLSGate), and the first good reload brings TLS up.
	backend, _ := tlsctx.ParseCryptoBackend(cfg.CryptoBackend) // checked by loadConfig
	mopts := []tlsctx.Option{tlsctx.WithLogger(log), tlsctx.WithCryptoBackend(backend),
		tlsctx.WithObserver(func(ev tlsctx.ReloadEvent) { met.ObserveReload(ev); src.reserve.refill() })}
	if !o.strict {
		mopts = append(mopts, tlsctx.WithDegradedStart())
	}
	// @@ssl_cert and the other setting variables show what the config
	// file held at the last reload attempt (Current_tls_* what is in use).
	configured := sysvars.NewConfigured(src)
	mgr, err := tlsctx.New(ctx, configured, mopts...)
	if err != nil {
		return nil, fmt.Errorf("TLS material: %w", err)
	}
	met = metrics.New(mgr)
	met.SetRecoveredPanics(protocol.RecoveredPanics) // what SHOW STATUS's Ssld_recovered_panics reads
	// Every reload trigger goes through rl, which tells systemd about it.
	rl := &notifyingReloader{mgr: mgr, sd: &systemdNotifier{mgr: mgr, log: log}, timeout: cfg.ReloadTimeout}
	port := 0
	if _, p, err := net.SplitHostPort(cfg.Listen); err == nil {
		port, _ = strconv.Atoi(p)
	}
	started := time.Now()
	vars := sysvars.NewRegistry()
	if err := sysvars.AddTLS(vars, mgr, sysvars.WithConfigured(configured)); err != nil {
		return nil, err
	}
	bld := currentBuild()
	met.SetBuildInfo(metrics.BuildInfo{Version: bld.Version, Revision: bld.Revision, GoVersion: bld.GoVersion,
		CryptoBackend: string(mgr.CryptoBackend())})
	info := sysvars.ServerInfo{Version: version, VersionComment: bld.versionComment(), Role: cfg.Role,
		Port: port, Socket: cfg.Socket, RequireSecureTransport: cfg.RequireSecureTransport,
		MaxConnections: cfg.MaxConnections, MaxAllowedPacket: cfg.MaxAllowedPacket}
	var srv *protocol.Server // set below, before the first connection can ask for @@port
	info.BoundPort = func() int {
		if a, ok := srv.Addr().(*net.TCPAddr); ok {
			return a.Port
		}
		return 0
	}
	if err := sysvars.AddServer(vars, info); err != nil {
		return nil, err
	}
	privs := newPrivileges(cfg, src, log)
	env := &sqlcmd.Env{
		Reloader:  rl,
		Validator: mgr, // CHECK TLS: validation only, so no sd_notify around it
		Certs:     mgr,
		Vars:      vars,
		Topology:  topology(cfg),
		Accounts:  privs.account,
		Users:     privs,
		Started:   started,
	}
	pcfg := cfg.protocolConfig(version)
	if pcfg.RSAKeys, err = protocol.LoadRSAKeys(cfg.SHA2PrivateKeyPath, cfg.SHA2PublicKeyPath); err != nil {
		return nil, fmt.Errorf("config file %s: %w", cfg.path, err)
	}
	pcfg.Hooks = met
	pcfg.AcceptGate = src.reserve.acceptGate()
	srv, err = protocol.New(pcfg, sqlcmd.NewExecutor(env), mgr, log)
	if err != nil {
		return nil, err
	}
	privs.srv = srv
	env.ThreadsConnected = srv.ActiveConnections
	env.Processes = srv.Processes()
	if err := srv.Start(); err != nil {
		return nil, err
	}
	n := &node{cfg: cfg, tls: mgr, reloader: rl, server: srv, metrics: met, log: log, reserve: src.reserve}
	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			n.shutdown(0)
			return nil, fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
		}
		n.httpLn = ln
		n.httpSrv = metrics.Serve(n.reserve.acceptGate().Listener(ln), met.Handler(), log)
	}
	if cfg.Watch {
		w, err := watch.New(watch.Options{
			Paths: func() []string { return watchedPaths(cfg.path, mgr.Status().Settings) },
			Reload: func(ctx context.Context) error {
				_, err := rl.Reload(ctx, tlsctx.WithTrigger("watch"))
				return err
			},
			Recheck: cfg.WatchRecheck,
			Logger:  log,
		})
		if err != nil {
			n.shutdown(0)
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
		log.Error("ssld started degraded: "+degradedSummary(st)+" until a reload succeeds",
			"channels", fmt.Sprint(st.Unavailable), "error", st.LastError, "repair", way)
	}
	log.Info("ssld ready", "version", bld.Version, "revision", bld.shortRevision(), "listen", srv.Addr().String(), "socket", cfg.Socket, "cluster_listen", addrString(srv.ClusterAddr()),
		"metrics_listen", addrString(n.metricsAddr()), "watch", cfg.Watch,
		"role", cfg.Role, "config", cfg.path, "serial", mgr.Current(tlsctx.ChannelClient).Serial(),
		"crypto_backend", string(mgr.CryptoBackend()), "crypto", mgr.CryptoBackendInfo())
	rl.sd.ready()
	up = true
	return n, nil
}

// degradedSummary says what a degraded start refuses: the channels left
// without their certificate and the listener of each, which answers every
// connection with an error; and, when one channel is down and the other
// is up, that the other serves. The Unix socket always works.
func degradedSummary(st tlsctx.Status) string {
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

// metricsAddr is the bound address of metrics_listen, or nil.
func (n *node) metricsAddr() net.Addr {
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
	paths := []string{s.SSLCA, s.SSLCAPath}
	if s.Serves(tlsctx.ChannelCluster) {
		lists = append(lists, s.ClusterSSLCert, s.ClusterSSLKey)
		paths = append(paths, s.ClusterSSLCA, s.ClusterSSLCAPath)
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

// reload runs the one reload path (the same as SSL_RELOAD) for a trigger.
func (n *node) reload(ctx context.Context, trigger string) error {
	_, err := n.reloader.Reload(ctx, tlsctx.WithTrigger(trigger))
	return err
}

// shutdown stops accepting and gives open connections grace to finish.
func (n *node) shutdown(grace time.Duration) {
	n.reloader.sd.stopping()
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
func topology(cfg *fileConfig) func() (aggs, leaves []sqlcmd.Node) {
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

func newServeCmd() *cobra.Command {
	var (
		o        serveOptions
		dev      bool
		stateDir string
		pidFile  string
		grace    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the node: MySQL-wire admin listener whose SSL_RELOAD reloads TLS in place",
		Long: `Run an ssld node. It serves the MySQL wire protocol on 'listen' (TLS from ssl_cert/ssl_key),
optionally on a Unix socket (no TLS, so an expired certificate never locks you out) and on
'cluster_listen' (mutual TLS). SSL_RELOAD, ALTER INSTANCE RELOAD TLS, FLUSH SSL and SIGHUP all
reread the config file and swap the TLS contexts atomically; open connections are untouched.

If the TLS material is invalid at start-up (expired, missing, mismatched, unreadable), ssld
starts degraded: the Unix socket and metrics work, ssl_last_reload_error says why, /healthz
fails, and the TCP and cluster listeners answer every client with an error naming the problem.
The first successful reload (SSL_RELOAD over the socket, SIGHUP, the watcher) brings TLS up.
--strict exits instead.

With --dev, ssld creates a CA, a server certificate, a config file and an 'admin' user with a
random password in --state-dir (once), and prints the mysql command to connect.`,
		Example: `  ssld serve --dev
  ssld serve --config /etc/ssld/ssld.yaml
  SSLD_SSL_CERT=/etc/ssl/new.crt ssld serve --config ssld.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.logOut, o.logLevel, o.logFormat = cmd.ErrOrStderr(), logLevel, logFormat
			out := cmd.OutOrStdout()
			var st *devState
			if dev {
				if o.config != "" {
					return usageError{fmt.Errorf("--dev and --config are exclusive")}
				}
				listen := o.listen
				if listen == "" {
					listen = "127.0.0.1:3307"
				}
				var err error
				if st, err = prepareDev(stateDir, listen); err != nil {
					return err
				}
				o.config = st.ConfigPath
			}
			if o.config == "" {
				return usageError{fmt.Errorf("--config FILE or --dev is required")}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			n, err := startNode(ctx, o, nil)
			if err != nil {
				if st != nil && errors.Is(err, syscall.EADDRINUSE) {
					return fmt.Errorf("%w (is another ssld serve --dev running? --listen HOST:PORT picks another address; port 0 a free one)", err)
				}
				return err
			}
			if st != nil {
				if err := writeClientFiles(st, n.server.Addr(), n.cfg.Socket); err != nil {
					n.shutdown(0)
					return err
				}
				if pidFile == "" {
					pidFile = st.PIDFile
				}
				printDevHelp(out, st, n)
			}
			if pidFile != "" {
				// Atomically: whoever polls for the file (a test, an init
				// script) never reads it empty.
				if err := pki.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
					n.shutdown(0)
					return fmt.Errorf("--pid-file: %w", err)
				}
				defer os.Remove(pidFile)
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			// SIGHUP reloads run on their own goroutine, so that a slow
			// reload never delays SIGTERM; SIGHUPs during a reload
			// coalesce into one more. Errors are logged by tlsctx with the
			// reason; the old contexts keep serving. Shutdown cancels a
			// reload in progress and drops one still queued.
			hupReload := make(chan struct{}, 1)
			reloads := make(chan struct{})
			go func() {
				defer close(reloads)
				for range hupReload {
					if ctx.Err() == nil {
						_ = n.reload(ctx, "signal")
					}
				}
			}()
			defer func() { close(hupReload); <-reloads }()
			for {
				select {
				case <-hup:
					select {
					case hupReload <- struct{}{}:
					default: // one is queued already
					}
				case <-ctx.Done():
					n.log.Info("shutting down: not accepting new connections", "grace", grace.String())
					n.shutdown(grace)
					n.log.Info("stopped")
					return nil
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "config file (YAML, TOML, or my.cnf-style INI by extension)")
	f.StringVar(&o.listen, "listen", "", "override 'listen' (host:port; port 0 picks a free port)")
	f.StringVar(&o.socket, "socket", "", "override 'socket' (Unix socket path)")
	f.BoolVar(&o.strict, "strict", false, "exit 1 when the TLS material is invalid at start-up instead of starting degraded")
	f.BoolVar(&dev, "dev", false, "development mode: generate certificates, a config and an admin user in --state-dir")
	f.StringVar(&stateDir, "state-dir", ".ssld-dev", "folder for --dev state")
	f.StringVar(&pidFile, "pid-file", "", "write the process id here (with --dev: STATE-DIR/ssld.pid)")
	f.DurationVar(&grace, "shutdown-grace", 10*time.Second, "how long open connections may finish after SIGTERM")
	return cmd
}

func printDevHelp(w io.Writer, st *devState, n *node) {
	host, port, _ := net.SplitHostPort(n.server.Addr().String())
	fmt.Fprintf(w, "ssld dev node (pid %d) listening on %s, config %s\n", os.Getpid(), n.server.Addr(), st.ConfigPath)
	if st.Created {
		fmt.Fprintf(w, "dev admin password (shown once; kept, mode 0600, in %s and the option files %s, %s): %s\n",
			filepath.Join(st.Dir, "admin.password"), st.ClientCnf, st.SocketCnf, st.Password)
	}
	fmt.Fprintf(w, "connect:\n  mysql --defaults-extra-file=%s -e 'SSL_RELOAD'\n", st.ClientCnf)
	fmt.Fprintf(w, "  mysql -h %s -P %s -u admin -p --ssl-ca=%s --ssl-verify-server-cert -e \"SHOW VARIABLES LIKE 'ssl%%'\"\n", host, port, filepath.Join(st.Dir, devCACert))
	if n.cfg.Socket != "" {
		fmt.Fprintf(w, "  mysql --defaults-extra-file=%s -e 'SHOW SSL STATUS'   # Unix socket, no TLS\n", st.SocketCnf)
	}
	fmt.Fprintf(w, "  kill -HUP $(cat %s)   # same reload as SSL_RELOAD\n", st.PIDFile)
}
