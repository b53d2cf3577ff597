package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/ssld/ssld/cluster"
	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/sysvars"
)

// adminOptions select the local node and the account for `ssld reload` and
// `ssld status`.
type adminOptions struct {
	config   string
	socket   string
	host     string
	port     int
	user     string
	password string
	sslCA    string
	timeout  time.Duration
}

func (o *adminOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "the node's config file: its socket is used")
	f.StringVarP(&o.socket, "socket", "S", "", "Unix socket of the node (no TLS needed)")
	f.StringVarP(&o.host, "host", "H", "", "connect over TCP+TLS to this host instead of the socket")
	f.IntVarP(&o.port, "port", "P", 3307, "TCP port, with --host")
	f.StringVarP(&o.user, "user", "u", "", "account with SUPER (default: over the socket with no password, the current OS user, a unix_socket account; otherwise admin)")
	f.StringVarP(&o.password, "password", "p", "", "password; -p alone prompts without echo, as mysql -p (a value here shows in ps: prefer the prompt or SSLD_PASSWORD; default: $SSLD_PASSWORD)")
	f.Lookup("password").NoOptDefVal = promptPassword
	f.StringVar(&o.sslCA, "ssl-ca", "", "CA file that verifies the node's certificate, with --host")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on connecting and on the statement")
}

// open connects to the node: the Unix socket when one is known, otherwise
// TCP with verified TLS.
func (o *adminOptions) open() (*sql.DB, error) {
	if o.password == "" {
		o.password = os.Getenv("SSLD_PASSWORD")
	}
	if o.user == "" {
		o.user = "admin"
		if o.host == "" && o.password == "" {
			// unix_socket: the node checks the peer's OS user, no secret needed.
			me, err := user.Current()
			if err != nil {
				return nil, usageError{fmt.Errorf("no --user given and the current OS user is unknown: %w", err)}
			}
			o.user = me.Username
		}
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = o.user, o.password
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = o.timeout, o.timeout, o.timeout
	switch {
	case o.host != "":
		if o.sslCA == "" {
			return nil, usageError{errors.New("--host needs --ssl-ca to verify the node's certificate")}
		}
		pem, err := os.ReadFile(o.sslCA)
		if err != nil {
			return nil, usageError{fmt.Errorf("--ssl-ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Errorf("--ssl-ca %s: no PEM certificate found", o.sslCA)}
		}
		cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", o.host, o.port)
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: o.host, MinVersion: tls.VersionTLS12}
	default:
		sock := o.socket
		if sock == "" && o.config != "" {
			c, err := config.Load(o.config)
			if err != nil {
				// No config, no socket to reach: exit 2 like an unreachable node.
				return nil, usageError{err}
			}
			sock = c.Socket
		}
		if sock == "" {
			return nil, usageError{errors.New("give --socket, --config (with a socket: key) or --host")}
		}
		cfg.Net, cfg.Addr = "unix", sock
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db, nil
}

// nodeStatus is what `ssld status` prints, read from the node's variables.
type nodeStatus struct {
	Serial, Fingerprint, NotAfter       string
	LastAttempt, LastSuccess, LastError string
	Generation                          string
	DaysLeft                            float64
}

// querier is what readStatus needs: a *sql.DB or one *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// showVariables runs a SHOW VARIABLES statement and returns its rows by
// variable name.
func showVariables(ctx context.Context, db querier, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v := map[string]string{}
	for rows.Next() {
		var k, val string
		if err := rows.Scan(&k, &val); err != nil {
			return nil, err
		}
		v[k] = val
	}
	return v, rows.Err()
}

func readStatus(ctx context.Context, db querier) (*nodeStatus, error) {
	v, err := showVariables(ctx, db, "SHOW GLOBAL VARIABLES LIKE 'ssl%'")
	if err != nil {
		return nil, err
	}
	st := &nodeStatus{Serial: v["ssl_server_serial"], Fingerprint: v["ssl_server_fingerprint"], NotAfter: v["ssl_server_not_after"],
		LastAttempt: v["ssl_last_reload_attempt_time"], LastSuccess: v["ssl_last_successful_reload_time"],
		LastError: v["ssl_last_reload_error"], Generation: v["ssl_reload_generation"]}
	if t, err := time.Parse(sysvars.TimeFormat, st.NotAfter); err == nil {
		st.DaysLeft = time.Until(t).Hours() / 24
	}
	return st, nil
}

// Exit codes of `ssld reload` and `ssld status`, for hooks, cron and
// systemd's ExecReload=.
const (
	exitOK      = 0 // reloaded, or nothing changed; status healthy
	exitRefused = 1 // the node refused the files (it keeps serving the old ones); status unhealthy
	exitNoNode  = 2 // node unreachable, login failed, no privilege, or a usage error
)

// refusedByNode reports whether err is the node refusing the reload itself
// (bad files, restart required), as opposed to not being able to ask: a
// lost connection, a timeout, a failed login or a missing privilege.
func refusedByNode(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1045, 1227, 1044, 1130, 1251: // access denied, no SUPER, no db access, host not allowed, auth plugin
		return false
	}
	return true
}

const adminExitCodes = `Exit codes: 0 the node reloaded ("ok: reloaded ...") or had nothing to change ("ok: unchanged
..."); 1 the node refused the files and keeps serving its previous certificate ("failed: <the
node's reason>"); 2 the node could not be reached, the login failed or was not allowed, or a
usage error.`

// run makes a command's RunE: it opens the node's handle (o.open) and a
// context bounded by --timeout, runs fn with them and the command's output,
// and releases both.
func (o *adminOptions) run(fn func(ctx context.Context, db *sql.DB, out io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := o.resolvePassword(cmd); err != nil {
			return usageError{err}
		}
		db, err := o.open()
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
		defer cancel()
		return fn(ctx, db, cmd.OutOrStdout())
	}
}

// resolvePassword picks the password as `ssld cluster` does: -p alone
// prompts on the terminal (readPasswordTerminal), a value on the command
// line is used with a warning on stderr (ps and /proc show it to every
// user), none is $SSLD_PASSWORD (read in open).
func (o *adminOptions) resolvePassword(cmd *cobra.Command) error {
	switch {
	case !cmd.Flags().Changed("password"):
		return nil
	case o.password == promptPassword:
		pw, err := readPasswordTerminal(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		o.password = pw
	case o.password != "":
		fmt.Fprintf(cmd.ErrOrStderr(), "ssld %s: Warning: a password on the command line can be read by other users (ps, /proc); use -p to be prompted or SSLD_PASSWORD\n", cmd.Name())
	}
	return nil
}

// attachedPasswords rewrites -pSECRET as --password=SECRET. -p has a
// no-value form (it prompts), and with one pflag reads -pSECRET as -p
// followed by the shorthand flags S, E, C...: the login would fail with an
// error quoting the password. mysql reads -pSECRET as the password; so
// does ssld. -p=SECRET, -p alone and anything after "--" are left alone.
func attachedPasswords(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) > 2 && strings.HasPrefix(a, "-p") && a[2] != '=' {
			out[i] = "--password=" + a[2:]
		}
	}
	return out
}

// noArgs is cobra.NoArgs without the argument in the message: with -p
// taking no separate value (as mysql's), `-p SECRET` leaves the password
// as an argument, which cobra would print.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("takes no arguments (%d given, not shown: one may be a password); a password is attached to -p (-pSECRET, --password=SECRET), or -p alone prompts", len(args))
}

// noNode prints "failed: <what>: <err>" and ends the command with exit code
// 2: the node could not be asked.
func noNode(out io.Writer, what string, err error) error {
	fmt.Fprintf(out, "failed: %s: %s\n", what, cluster.Printable(err.Error()))
	return exitError(exitNoNode)
}

func newReloadCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload the local node's TLS material (SSL_RELOAD) and print one line",
		Long: `Run SSL_RELOAD on a node, by default over its Unix socket, and print one line:
"ok: reloaded ..." or "ok: unchanged ..." with the served serial and expiry, or "failed: <reason>".
` + adminExitCodes + `

Over the Unix socket with no password given, ssld logs in as the current operating-system user
(an account with plugin: unix_socket), so certbot's deploy hook, cron and systemd's ExecReload=
need no secret.`,
		Example: `  ssld reload --config /etc/ssld/ssld.yaml
  SSLD_PASSWORD=... ssld reload --socket /run/ssld/ssld.sock -u admin
  ssld reload --host db1.example.com --port 3307 --ssl-ca /etc/ssld/ca.crt -u admin -p`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, db *sql.DB, out io.Writer) error {
			start := time.Now()
			conn, err := db.Conn(ctx)
			if err != nil {
				return noNode(out, "cannot log in to the node", err)
			}
			defer conn.Close()
			before, err := readStatus(ctx, conn)
			if err != nil {
				return noNode(out, "cannot read the node's status", err)
			}
			if _, err := conn.ExecContext(ctx, "SSL_RELOAD"); err != nil {
				fmt.Fprintf(out, "failed: %s\n", cluster.Printable(err.Error()))
				if refusedByNode(err) {
					return exitError(exitRefused)
				}
				return exitError(exitNoNode)
			}
			st, err := readStatus(ctx, conn)
			if err != nil {
				return noNode(out, "reload ok but status unreadable", err)
			}
			// The generation only moves when something changed (byte-identical
			// files keep the snapshot).
			what := "reloaded"
			if st.Generation == before.Generation {
				what = "unchanged"
			}
			fmt.Fprintf(out, "ok: %s, generation %s, serial %s, not_after %s UTC (%.0f days left), %s\n",
				what, st.Generation, st.Serial, st.NotAfter, st.DaysLeft, time.Since(start).Round(time.Millisecond))
			return nil
		}),
	}
	o.flags(cmd)
	return cmd
}

func newStatusCmd() *cobra.Command {
	var (
		o       adminOptions
		minDays float64
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the local node serves and how its last reload went",
		Long: `Print the served certificate (serial as openssl prints it, SHA-256 fingerprint, not_after, days
left) and the last reload attempt, success and error. Exit codes: 0 healthy; 1 the last reload
failed (the node refused the files) or the certificate has fewer than --min-days left; 2 the node
could not be reached, the login failed, or a usage error.`,
		Example: `  ssld status --config /etc/ssld/ssld.yaml --min-days 14`,
		Args:    noArgs,
		RunE: o.run(func(ctx context.Context, db *sql.DB, out io.Writer) error {
			st, err := readStatus(ctx, db)
			if err != nil {
				return noNode(out, "cannot read the node's status", err)
			}
			printStatus(out, st)
			switch {
			case st.LastError != "":
				fmt.Fprintf(out, "unhealthy: last reload failed: %s\n", cluster.Printable(st.LastError))
				return exitError(exitRefused)
			case st.DaysLeft < minDays:
				fmt.Fprintf(out, "unhealthy: certificate has %.1f days left (< %.0f)\n", st.DaysLeft, minDays)
				return exitError(exitRefused)
			}
			return nil
		}),
	}
	o.flags(cmd)
	cmd.Flags().Float64Var(&minDays, "min-days", 0, "exit 1 when the served certificate expires within this many days")
	return cmd
}

func printStatus(w io.Writer, st *nodeStatus) {
	fmt.Fprintf(w, "serial:        %s\n", cluster.Printable(st.Serial))
	fmt.Fprintf(w, "fingerprint:   %s\n", cluster.Printable(st.Fingerprint))
	if st.NotAfter == "" {
		// No certificate served: TLS off, or a degraded start.
		fmt.Fprintf(w, "not_after:     -\n")
	} else {
		fmt.Fprintf(w, "not_after:     %s UTC (%.1f days left)\n", st.NotAfter, st.DaysLeft)
	}
	fmt.Fprintf(w, "generation:    %s\n", st.Generation)
	fmt.Fprintf(w, "last_attempt:  %s\n", cluster.Printable(st.LastAttempt))
	fmt.Fprintf(w, "last_success:  %s\n", cluster.Printable(st.LastSuccess))
	fmt.Fprintf(w, "last_error:    %s\n", cluster.Printable(st.LastError))
}

// exitError ends the command with this exit code after it printed its own
// one-line reason.
type exitError int

func (e exitError) Error() string { return "" }
