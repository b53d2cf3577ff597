package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/cluster"
)

// clusterFlags are the flags shared by `ssld cluster reload` and `status`.
type clusterFlags struct {
	topology, master          string
	user, password            string
	passwordFile              string
	sslCA, sslCert, sslKey    string
	insecure, verifyIdentity  bool
	scope, dialect            string
	parallel, maxFailures     int
	rolling                   bool
	timeout                   time.Duration
	retries                   int
	expectSerial, expectCert  []string
	expectIssuer, minValidity string
	requireChange             bool
	requireCurrent            bool
	continueOnError, wide     bool
	dryRun                    bool
	shard, roles              string
	shards                    int
	format                    string
}

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Reload TLS on every node of a cluster and verify what each one serves",
		Long: `Fan-out over a cluster of MySQL-protocol nodes (ssld, SingleStore, MySQL, MariaDB).

'reload' runs each node's reload statement (SSL_RELOAD, ALTER INSTANCE RELOAD TLS or FLUSH SSL),
then opens a fresh, non-resumed TLS connection and reads the certificate the node now serves.
Leaves go first, then child aggregators, then the master aggregator (in parallel mode each
role finishes before the next starts). A leaf that is not ok stops the run before any
aggregator is reloaded, a child aggregator that is not ok keeps the master untouched (those
nodes are 'skipped'); --continue-on-error goes on. 'status' only reads; 'reload --dry-run' has
ssld nodes validate their files (CHECK TLS) without swapping.

No login is attempted on a node whose certificate did not verify: without --ssl-ca, against the
system roots and the node's host name; with --ssl-ca, against that CA (add --ssl-verify-identity
for the name). Proof flags (--require-current, --require-change, --min-validity, --expect-issuer,
--expect-cert, --expect-serial) make a node that does not meet them 'stale'. Every row that is not
ok says what to do next. Each step with a node is bounded by --timeout (default 10s): a node that
accepts TCP and never answers is 'timeout' after one --timeout.

Exit code: 0 when every node is ok, unchanged or ready (or skipped because the cluster reports it
offline/detached), 1 otherwise, 2 for usage or topology errors. See docs/cluster.md.`,
	}
	cmd.AddCommand(newClusterSubCmd("reload"), newClusterSubCmd("status"))
	return cmd
}

func newClusterSubCmd(name string) *cobra.Command {
	var f clusterFlags
	c := &cobra.Command{
		Use:  name + " (--topology FILE | --master HOST:PORT) --user USER",
		Args: noArgs, // the word after -p may be a password: never printed
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCluster(cmd, name, &f)
		},
	}
	if name == "reload" {
		c.Short = "Reload TLS on every node (leaves, child aggregators, master last) and verify each"
		c.Example = `  ssld cluster reload --master 10.0.0.1:3307 --user admin -p --ssl-ca ca.crt --require-current
  SSLD_PASSWORD=... ssld cluster reload --topology cluster.yaml --user admin --ssl-ca ca.crt --rolling --format json
  ssld cluster reload --master db1:3306 --user root --password-file pw --ssl-ca ca.crt --dry-run --min-validity 30d
  ssld cluster reload --master db1:3306 --user root --password-file pw --roles leaf --shards 8   # Indexed Job pod
  ssld cluster reload --topology cluster.yaml --user admin -p --ssl-ca ca.crt --require-change   # first run after a renewal`
	} else {
		c.Short = "Show the certificate every node serves; reload nothing"
		c.Example = `  ssld cluster status --master 10.0.0.1:3307 --user admin --ssl-ca ca.crt
  ssld cluster status --master 10.0.0.1:3307 --user admin --ssl-ca ca.crt --require-current   # files == served, every node`
	}
	fl := c.Flags()
	fl.StringVar(&f.topology, "topology", "", "topology file (YAML: aggregators, leaves)")
	fl.StringVar(&f.master, "master", "", "discover the topology from this master aggregator (SHOW AGGREGATORS, SHOW LEAVES)")
	fl.StringVarP(&f.user, "user", "u", "", "user with the SUPER (or RELOAD) privilege on every node")
	fl.StringVarP(&f.password, "password", "p", "", "password; -p alone prompts without echo (a value here shows in ps: prefer the prompt, --password-file or SSLD_PASSWORD)")
	fl.Lookup("password").NoOptDefVal = promptPassword
	fl.StringVar(&f.passwordFile, "password-file", "", "read the password from this file (first line)")
	fl.StringVar(&f.sslCA, "ssl-ca", "", "CA certificates (PEM) that verify the nodes' certificates (VERIFY_CA); default: system roots plus the host name check")
	fl.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify the nodes' certificates (still TLS); warns, and every row says verified=no")
	fl.BoolVar(&f.verifyIdentity, "ssl-verify-identity", false, "with --ssl-ca: also check that each certificate names the node's host (VERIFY_IDENTITY); always on without --ssl-ca")
	fl.StringVar(&f.sslCert, "ssl-cert", "", "client certificate (PEM) for nodes that want one")
	fl.StringVar(&f.sslKey, "ssl-key", "", "client key (PEM) for --ssl-cert")
	fl.StringVar(&f.scope, "scope", "all", "client (aggregators only), cluster or all (every node)")
	fl.StringVar(&f.dialect, "dialect", "auto", "dialect of nodes without one in the topology: auto, ssld, singlestore, mysql, mariadb")
	fl.IntVar(&f.parallel, "parallel", cluster.DefaultParallel, "nodes worked on at once")
	fl.DurationVar(&f.timeout, "timeout", cluster.DefaultTimeout, "bound on each dial, handshake and query; a node that never answers is 'timeout' after it")
	fl.IntVar(&f.retries, "retries", 2, "retries, with backoff, of a refused or reset connection")
	fl.StringSliceVar(&f.expectSerial, "expect-serial", nil, "every node must serve this serial (hex) afterwards, else stale; several (comma-separated or repeated): each certificate a node serves must be one of them and each must be served")
	fl.StringArrayVar(&f.expectCert, "expect-cert", nil, "every node must serve this certificate (PEM) afterwards, else stale; repeat it for a node serving several (ECDSA and RSA)")
	fl.StringVar(&f.expectIssuer, "expect-issuer", "", "every node's certificate must be issued by this DN (e.g. CN=ca2), else stale")
	fl.StringVar(&f.minValidity, "min-validity", "", "every node's certificate must stay valid this long from now (e.g. 30d, 720h), else stale")
	fl.StringVar(&f.format, "format", "table", "output: table (fits 160 columns; errors and next steps on indented lines) or json")
	fl.BoolVar(&f.wide, "wide", false, "table: one line per node, error and next step last (wider than 160 columns)")
	fl.BoolVar(&f.requireCurrent, "require-current", false, "every node must serve what its own files hold now, else stale; holds on any rerun")
	fl.StringVar(&f.shard, "shard", "", "work on slice I of N only (I/N; a stable hash of host:port): disjoint slices that together cover every node")
	fl.IntVar(&f.shards, "shards", 0, "like --shard, with I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job with N completions)")
	fl.StringVar(&f.roles, "roles", "all", "only nodes of these roles: leaf, child, master, aggregators (child,master) or all")
	if name == "reload" {
		fl.BoolVar(&f.rolling, "rolling", false, "one node at a time; stop at the first failure, skip the rest")
		fl.IntVar(&f.maxFailures, "max-failures", 0, "stop starting new nodes after this many failed; the rest are skipped (0 = no limit; --rolling: 1)")
		fl.BoolVar(&f.continueOnError, "continue-on-error", false, "reload the aggregators even when a leaf (or the master when a child aggregator) was not ok")
		fl.BoolVar(&f.requireChange, "require-change", false, "a node that serves the same certificate after its reload as before is stale")
		fl.BoolVar(&f.dryRun, "dry-run", false, "pre-flight: every ssld node validates its files (CHECK TLS) and swaps nothing; other nodes are only read")
	}
	return c
}

// clusterFailed is the error for a run whose report was printed but where
// some node was not ok; exit code 1.
type clusterFailed struct{ bad, total int }

func (e clusterFailed) Error() string {
	return fmt.Sprintf("%d of %d nodes not ok", e.bad, e.total)
}

func runCluster(cmd *cobra.Command, name string, f *clusterFlags) error {
	opts, err := f.options(cmd, name)
	if err != nil {
		return usageError{err}
	}
	if f.format != "table" && f.format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", f.format)}
	}
	if f.wide && f.format != "table" {
		return usageError{errors.New("--wide is for --format table (the JSON always has every field in full)")}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var topo cluster.Topology
	switch {
	case f.topology != "" && f.master != "":
		return usageError{errors.New("--topology and --master are exclusive")}
	case f.topology != "":
		if topo, err = cluster.LoadTopology(f.topology); err != nil {
			return usageError{err}
		}
	case f.master != "":
		if topo, err = cluster.Discover(ctx, f.master, opts); err != nil {
			return usageError{errors.New(cluster.Escape(err.Error()))}
		}
	default:
		return usageError{errors.New("--topology FILE or --master HOST:PORT is required")}
	}

	var rows []cluster.NodeResult
	if name == "status" {
		rows = cluster.Status(ctx, topo, opts)
	} else {
		rows = cluster.Reload(ctx, topo, opts)
	}
	rep := cluster.Report{Command: name, DryRun: opts.DryRun, Shard: opts.Shard, Roles: opts.Roles, Nodes: rows, Wide: f.wide}
	if err := writeReport(cmd.OutOrStdout(), f.format, rep); err != nil {
		return err
	}
	if bad := cluster.Failures(rows); bad > 0 {
		return clusterFailed{bad, len(rows)}
	}
	return nil
}

func writeReport(w io.Writer, format string, rep cluster.Report) error {
	if format == "json" {
		return cluster.WriteJSON(w, rep)
	}
	return cluster.WriteTable(w, rep)
}

// options turns flags into cluster.Options; every error is a usage error.
func (f *clusterFlags) options(cmd *cobra.Command, name string) (cluster.Options, error) {
	o := cluster.Options{
		User: f.user, Password: f.password, InsecureSkipVerify: f.insecure, VerifyIdentity: f.verifyIdentity,
		Parallel: f.parallel, Rolling: f.rolling, Timeout: f.timeout, Retries: f.retries,
		ExpectSerial: strings.Join(f.expectSerial, ","), DryRun: f.dryRun,
		ExpectIssuer: f.expectIssuer, RequireChange: f.requireChange, MaxFailures: f.maxFailures,
		RequireCurrent: f.requireCurrent, ContinueOnError: f.continueOnError,
	}
	if f.user == "" {
		return o, errors.New("--user is required")
	}
	if f.parallel < 1 {
		return o, errors.New("--parallel must be 1 or more")
	}
	if f.maxFailures < 0 {
		return o, errors.New("--max-failures must be 0 or more")
	}
	if f.timeout <= 0 {
		return o, errors.New("--timeout must be positive")
	}
	if f.rolling && cmd.Flags().Changed("parallel") {
		return o, errors.New("--rolling and --parallel are exclusive")
	}
	if len(f.expectSerial) > 0 && len(f.expectCert) > 0 {
		return o, errors.New("--expect-serial and --expect-cert are exclusive")
	}
	if f.requireCurrent && f.dryRun {
		return o, errors.New("--require-current and --dry-run are exclusive: a dry run reloads nothing (use `ssld cluster status --require-current`)")
	}
	if f.insecure && f.sslCA != "" {
		return o, errors.New("--insecure-skip-verify and --ssl-ca are exclusive")
	}
	var err error
	if f.minValidity != "" {
		if o.MinValidity, err = cluster.ParseValidity(f.minValidity); err != nil {
			return o, fmt.Errorf("--min-validity %w", err)
		}
	}
	if f.expectIssuer != "" {
		if err := cluster.ParseDN(f.expectIssuer); err != nil {
			return o, fmt.Errorf("--expect-issuer %w", err)
		}
	}
	if o.Password, err = f.resolvePassword(cmd); err != nil {
		return o, err
	}
	if f.insecure {
		fmt.Fprintln(cmd.ErrOrStderr(), "ssld cluster: Warning: --insecure-skip-verify: no node's certificate is verified, "+
			"so the password goes to whoever answers at each address; every row is marked verified=no")
	}
	if o.Shard, err = f.shardFlags(cmd); err != nil {
		return o, err
	}
	if o.Roles, err = cluster.ParseRoles(f.roles); err != nil {
		return o, fmt.Errorf("--roles: %w", err)
	}
	if !o.Shard.All() && len(o.Roles) > 1 && name == "reload" {
		fmt.Fprintf(cmd.ErrOrStderr(), "ssld cluster: Warning: shard %s covers several roles (%s): leaves go before aggregators "+
			"within this shard only, not across shards; shard the leaves (--roles leaf) and run the aggregators after every shard (docs/cluster.md, \"Sharded runs\")\n",
			o.Shard, f.roles)
	}
	if o.Scope, err = cluster.ParseScope(f.scope); err != nil {
		return o, err
	}
	if o.Dialect, err = cluster.ParseDialect(f.dialect); err != nil {
		return o, err
	}
	if f.sslCA != "" {
		pemBytes, err := os.ReadFile(f.sslCA)
		if err != nil {
			return o, fmt.Errorf("--ssl-ca: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(pemBytes) {
			return o, fmt.Errorf("--ssl-ca %s: no PEM certificates in it", f.sslCA)
		}
	}
	if (f.sslCert == "") != (f.sslKey == "") {
		return o, errors.New("--ssl-cert and --ssl-key go together")
	}
	if f.sslCert != "" {
		c, err := tls.LoadX509KeyPair(f.sslCert, f.sslKey)
		if err != nil {
			return o, fmt.Errorf("--ssl-cert/--ssl-key: %w", err)
		}
		o.Certificates = []tls.Certificate{c}
	}
	var fps []string
	for _, file := range f.expectCert {
		pemBytes, err := os.ReadFile(file)
		if err != nil {
			return o, fmt.Errorf("--expect-cert: %w", err)
		}
		var leaf *x509.Certificate
		for rest := pemBytes; leaf == nil; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				return o, fmt.Errorf("--expect-cert %s: no PEM certificate in it", file)
			}
			if blk.Type == "CERTIFICATE" {
				if leaf, err = x509.ParseCertificate(blk.Bytes); err != nil {
					return o, fmt.Errorf("--expect-cert %s: %w", file, err)
				}
			}
		}
		fps = append(fps, cluster.ServedBy(leaf).Fingerprint)
	}
	o.ExpectFingerprint = strings.Join(fps, ",")
	return o, nil
}

// shardFlags reads --shard I/N or --shards N (+ JOB_COMPLETION_INDEX).
func (f *clusterFlags) shardFlags(cmd *cobra.Command) (cluster.Shard, error) {
	switch {
	case f.shard != "" && cmd.Flags().Changed("shards"):
		return cluster.Shard{}, errors.New("--shard and --shards are exclusive")
	case f.shard != "":
		sh, err := cluster.ParseShard(f.shard)
		if err != nil {
			return sh, fmt.Errorf("--shard %w", err)
		}
		return sh, nil
	case cmd.Flags().Changed("shards"):
		v, ok := os.LookupEnv("JOB_COMPLETION_INDEX")
		if !ok {
			return cluster.Shard{}, errors.New("--shards needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job); use --shard I/N elsewhere")
		}
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return cluster.Shard{}, fmt.Errorf("JOB_COMPLETION_INDEX %q: not a number", v)
		}
		sh, err := cluster.NewShard(i, f.shards)
		if err != nil {
			return sh, fmt.Errorf("--shards %d with JOB_COMPLETION_INDEX=%d: %w", f.shards, i, err)
		}
		return sh, nil
	}
	return cluster.Shard{}, nil
}

// promptPassword is the value pflag gives --password/-p when it has none
// (NoOptDefVal): then the password is read from the terminal, like mysql -p.
// As with mysql, a value must be attached (-pSECRET, --password=SECRET).
// Shown in --help as --password string[="(prompt)"]; a password that is
// literally "(prompt)" prompts too, which is the safe way round.
const promptPassword = "(prompt)"

// resolvePassword picks the password: --password-file, -p (prompt),
// --password VALUE (with a warning: it shows in ps and /proc), else
// SSLD_PASSWORD.
func (f *clusterFlags) resolvePassword(cmd *cobra.Command) (string, error) {
	given := cmd.Flags().Changed("password")
	switch {
	case given && f.passwordFile != "":
		return "", errors.New("--password and --password-file are exclusive")
	case f.passwordFile != "":
		return readPasswordFile(cmd.ErrOrStderr(), f.passwordFile)
	case given && f.password == promptPassword:
		return readPasswordTerminal(cmd.ErrOrStderr())
	case given:
		fmt.Fprintln(cmd.ErrOrStderr(), "ssld cluster: Warning: a password on the command line can be read by other users (ps, /proc); "+
			"use -p to be prompted, --password-file FILE or SSLD_PASSWORD")
		return f.password, nil
	}
	return os.Getenv("SSLD_PASSWORD"), nil
}

// readPasswordFile returns the first line of path (without its line end).
// A file that others can read draws a warning.
func readPasswordFile(stderr io.Writer, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	if !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 {
		return "", fmt.Errorf("--password-file %s: not a regular file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "ssld cluster: Warning: --password-file %s is readable by group or others (mode %04o); chmod 600 it\n",
			path, fi.Mode().Perm())
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s: the first line is empty", path)
	}
	return pw, nil
}

// readPasswordTerminal prompts on the controlling terminal and reads a line
// with echo off. Standard input is used when it is the terminal; otherwise
// /dev/tty, so that `-p` works with piped input as mysql -p does.
func readPasswordTerminal(stderr io.Writer) (string, error) {
	in := os.Stdin
	if !isTerminal(in) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return "", errors.New("-p without a value prompts on a terminal, and there is none; use --password-file FILE or SSLD_PASSWORD")
		}
		defer tty.Close()
		in, stderr = tty, tty
	}
	return readNoEcho(in, stderr, "Enter password: ")
}
