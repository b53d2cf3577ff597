package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/pki"
)

func newServeCmd() *cobra.Command {
	var (
		o        node.Options
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
			o.LogOut, o.LogLevel, o.LogFormat = cmd.ErrOrStderr(), logLevel, logFormat
			o.Build = currentBuild().forNode()
			out := cmd.OutOrStdout()
			var st *config.DevState
			if dev {
				if o.Config != "" {
					return usageError{fmt.Errorf("--dev and --config are exclusive")}
				}
				listen := o.Listen
				if listen == "" {
					listen = "127.0.0.1:3307"
				}
				var err error
				if st, err = config.PrepareDev(stateDir, listen); err != nil {
					return err
				}
				o.Config, o.Dev = st.ConfigPath, true
			}
			if o.Config == "" {
				return usageError{fmt.Errorf("--config FILE or --dev is required")}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			n, err := node.Start(ctx, o, nil)
			if err != nil {
				if st != nil && errors.Is(err, syscall.EADDRINUSE) {
					return fmt.Errorf("%w (is another ssld serve --dev running? --listen HOST:PORT picks another address; port 0 a free one)", err)
				}
				return err
			}
			if st != nil {
				if err := config.WriteClientFiles(st, n.Addr(), n.Socket()); err != nil {
					n.Shutdown(0)
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
					n.Shutdown(0)
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
						_ = n.Reload(ctx, "signal")
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
					n.Log().Info("shutting down: not accepting new connections", "grace", grace.String())
					n.Shutdown(grace)
					n.Log().Info("stopped")
					return nil
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Config, "config", "c", "", "config file (YAML, TOML, or my.cnf-style INI by extension)")
	f.StringVar(&o.Listen, "listen", "", "override 'listen' (host:port; port 0 picks a free port)")
	f.StringVar(&o.Socket, "socket", "", "override 'socket' (Unix socket path)")
	f.BoolVar(&o.Strict, "strict", false, "exit 1 when the TLS material is invalid at start-up instead of starting degraded")
	f.BoolVar(&dev, "dev", false, "development mode: generate certificates, a config and an admin user in --state-dir")
	f.StringVar(&stateDir, "state-dir", ".ssld-dev", "folder for --dev state")
	f.StringVar(&pidFile, "pid-file", "", "write the process id here (with --dev: STATE-DIR/ssld.pid)")
	f.DurationVar(&grace, "shutdown-grace", 10*time.Second, "how long open connections may finish after SIGTERM")
	return cmd
}

func printDevHelp(w io.Writer, st *config.DevState, n *node.Node) {
	host, port, _ := net.SplitHostPort(n.Addr().String())
	fmt.Fprintf(w, "ssld dev node (pid %d) listening on %s, config %s\n", os.Getpid(), n.Addr(), st.ConfigPath)
	if st.Created {
		fmt.Fprintf(w, "dev admin password (shown once; kept, mode 0600, in %s and the option files %s, %s): %s\n",
			filepath.Join(st.Dir, "admin.password"), st.ClientCnf, st.SocketCnf, st.Password)
	}
	fmt.Fprintf(w, "connect:\n  mysql --defaults-extra-file=%s -e 'SSL_RELOAD'\n", st.ClientCnf)
	fmt.Fprintf(w, "  mysql -h %s -P %s -u admin -p --ssl-ca=%s --ssl-verify-server-cert -e \"SHOW VARIABLES LIKE 'ssl%%'\"\n", host, port, filepath.Join(st.Dir, config.DevCACert))
	if n.Socket() != "" {
		fmt.Fprintf(w, "  mysql --defaults-extra-file=%s -e 'SHOW SSL STATUS'   # Unix socket, no TLS\n", st.SocketCnf)
	}
	fmt.Fprintf(w, "  kill -HUP $(cat %s)   # same reload as SSL_RELOAD\n", st.PIDFile)
}
