// Command ssld-bench measures ssld side by side with MariaDB, with the
// limit set by a bare Go crypto/tls server, and with the floor of the MySQL
// protocol through vitess alone (a bare dolthub/vitess listener with the same
// TLS), on loopback, in one run.
//
// Each server runs as its own process, so the figure that matters is read
// from the kernel's accounting of that process: server CPU time per new TLS
// connection (utime+stime from /proc/PID/stat over a fixed load, divided by
// the connections made). On a small machine the load generator competes with
// the server for the cores, so connections per second mostly measure the
// client; they are reported as context.
//
//	go run ./cmd/ssld-bench                     # ssld, bare TLS, bare vitess; ECDSA P-256 and RSA-2048
//	go run ./cmd/ssld-bench --mariadb --json bench.json
//	go run ./cmd/ssld-bench --quick             # CI: ~1 s per phase, ECDSA only
//	go run ./cmd/ssld-bench --mariadb --mixed 0.8   # also a node serving ECDSA and RSA, 80% ECDSA-capable clients
//	go run ./cmd/ssld-bench --mariadb --crl 1000000 # only client-certificate logins, with and without a CRL of a million serials
//
// One run covers every crypto backend (--backends openssl,go: ssld's
// crypto_backend, and the same backend for the bare TLS server's key) and
// both key exchanges (--kex default,x25519: Go's default, which leads with
// X25519MLKEM768, and X25519 alone, like for like with MariaDB). The X25519
// configurations run every phase and carry the targets; the default ones
// measure new connections only, for the cost of the post-quantum exchange.
//
// The load is N loops (--loops) each opening new connections with
// go-sql-driver: TLS handshake, login, ping, close (the bare vitess server
// gets the same). For the bare TLS server it is TLS dial, handshake, close. Every phase stops by itself after
// --duration. See docs/performance.md for a measured run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command line of ssld-bench.
type options struct {
	mariadb        bool
	quick          bool
	duration       time.Duration // per configuration, split over rounds
	rounds         int
	warmup         time.Duration
	loops          int
	reloadInterval time.Duration
	idleReloads    int
	idleConns      int
	keyTypes       []string
	ssldBin        string
	ssldEnv        []string // extra KEY=VALUE for the ssld child
	backends       []string // crypto_backend of ssld and the bare TLS server, one configuration each
	kexes          []string // kexDefault, kexX25519: what the clients offer
	jsonOut        string
	mixed          float64 // share of ECDSA-capable clients in the mixed-client run; 0: no such run
	crl            int     // revoked serials of the client-certificate run; 0: an ordinary run
}

func defaultOptions() options {
	return options{
		duration:       10 * time.Second,
		rounds:         2,
		warmup:         time.Second,
		loops:          8,
		reloadInterval: 50 * time.Millisecond,
		idleReloads:    40,
		idleConns:      200,
		keyTypes:       []string{keyECDSA, keyRSA},
		backends:       []string{"openssl", "go"},
		kexes:          []string{kexDefault, kexX25519},
	}
}

// quickOptions shrinks o to a smoke run: ~1 s per phase, ECDSA only, the
// backend auto picks, Go's default key exchange.
func (o *options) applyQuick() {
	o.duration = time.Second
	o.rounds = 1
	o.warmup = 200 * time.Millisecond
	o.idleReloads = 10
	o.keyTypes = []string{keyECDSA}
	o.backends = []string{"auto"}
	o.kexes = []string{kexDefault}
}

func main() {
	// The bench re-executes itself as the bare TLS server so that its CPU
	// time can be read by PID. The flag is handled before flag parsing to
	// keep it out of --help, and so the test binary can do the same.
	if len(os.Args) > 1 && os.Args[1] == bareFlag {
		os.Exit(bareServerMain(os.Args[2:]))
	}
	o := defaultOptions()
	fs := flag.NewFlagSet("ssld-bench", flag.ExitOnError)
	fs.BoolVar(&o.mariadb, "mariadb", false, "also start a throw-away MariaDB (Debian mariadb-server) with the same certificate")
	fs.BoolVar(&o.quick, "quick", false, "smoke run for CI: ~1 s per phase, ECDSA only, one round")
	fs.DurationVar(&o.duration, "duration", o.duration, "load time per server and configuration (split over --rounds)")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "interleaved rounds per configuration (servers take turns, so drift hits all alike)")
	fs.IntVar(&o.loops, "loops", o.loops, "client loops opening new connections")
	fs.DurationVar(&o.reloadInterval, "reload-interval", o.reloadInterval, "reload period in the with-reload phases")
	fs.IntVar(&o.idleConns, "idle-conns", o.idleConns, "idle TLS connections n opened for the per-connection memory figures (n, then n more: 2n in all)")
	keys := fs.String("keys", strings.Join(o.keyTypes, ","), "certificate key types: "+keyECDSA+","+keyRSA)
	fs.StringVar(&o.ssldBin, "ssld-bin", "", "ssld binary to measure (default: go build ./cmd/ssld into a temporary folder)")
	fs.Func("ssld-env", "extra KEY=VALUE in ssld's environment, repeatable (e.g. GOGC=400, to try runtime settings)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.ssldEnv = append(o.ssldEnv, v)
		return nil
	})
	backends := fs.String("backends", strings.Join(o.backends, ","), "crypto backends to measure, one ssld each: openssl, go, auto")
	kexes := fs.String("kex", strings.Join(o.kexes, ","), "key exchanges the clients offer: "+kexDefault+" (Go's, X25519MLKEM768 first), "+kexX25519+" (X25519 only, like MariaDB 10.11 with OpenSSL 3.0)")
	x25519 := fs.Bool("x25519", false, "same as --kex "+kexX25519)
	fs.StringVar(&o.jsonOut, "json", "", "write every figure as JSON to this file")
	fs.Float64Var(&o.mixed, "mixed", 0, "also run the mixed-client load: a node serving ECDSA and RSA, this share (e.g. 0.8) of the clients ECDSA-capable, the rest RSA-only; needs both --keys")
	fs.IntVar(&o.crl, "crl", 0, "instead of the ordinary run, the client-certificate run: ssld and MariaDB (--mariadb) require a client certificate from the run's CA and apply one CRL of this many revoked serials; ssld with and without it; the first of --keys and --backends (default "+keyECDSA+", auto), clients offering X25519 unless --kex says otherwise")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ssld-bench: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		d := o.duration
		o.applyQuick()
		if set["duration"] {
			o.duration = d
		}
	}
	if o.crl > 0 { // defaults of the client-certificate run: one configuration, like for like
		o.keyTypes, o.backends, o.kexes = []string{keyECDSA}, []string{"auto"}, []string{kexX25519}
	}
	if set["keys"] {
		o.keyTypes = strings.Split(*keys, ",")
	}
	if set["backends"] {
		o.backends = strings.Split(*backends, ",")
	}
	if set["kex"] {
		o.kexes = strings.Split(*kexes, ",")
	}
	if *x25519 {
		o.kexes = []string{kexX25519}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ssld-bench: %v\n", err)
		os.Exit(1)
	}
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, rep); err != nil {
			fmt.Fprintf(os.Stderr, "ssld-bench: %v\n", err)
			os.Exit(1)
		}
	}
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// progress prints one line of progress to w.
func progress(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
