// Command ssld reloads TLS certificates in place: a node daemon that speaks
// the MySQL wire protocol (mysql -e 'SSL_RELOAD'), built on the tlsctx
// library.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks errors that exit with code 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

var logLevel, logFormat string

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ssld",
		Short:         "Reload TLS certificates in place, node by node or cluster-wide",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newServeCmd())
	root.AddCommand(newCheckCmd())
	root.AddCommand(newReloadCmd())
	root.AddCommand(newStatusCmd())
	root.AddCommand(newClusterCmd())
	return root
}

func newLogger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(logFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Runtime defaults for the daemon, chosen with ssld-bench (see
// docs/performance.md, "Garbage collector setting"). ssld's live heap is
// tiny (a few MiB) while every new TLS connection leaves ~60 KiB of
// handshake garbage, so Go's default GOGC=100 collects many times per
// second under a connection storm. 200 halves that at the price of about
// 20 KiB more resident memory per idle connection; 400 saves a little more
// CPU but costs ~90 KiB per idle connection. The soft memory limit bounds
// the heap whatever GOGC is. GOGC and GOMEMLIMIT in the environment win.
const (
	defaultGCPercent   = 200
	defaultMemoryLimit = 256 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// run executes the CLI and returns the process exit code: 0 success, 1
// failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	fmt.Fprintln(stderr, "ssld:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "flag") {
		return 2
	}
	return 1
}
