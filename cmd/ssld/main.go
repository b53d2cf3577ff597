// Command ssld reloads TLS certificates in place: a node daemon that speaks
// the MySQL wire protocol (mysql -e 'SSL_RELOAD'), built on the tlsctx
// library.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

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
	root.PersistentFlags().StringVar(&logLevel, "log-level", "", "log level: debug, info, warn, error (default: the config's log_level, info)")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "", "log format: text or json (default: the config's log_format, text)")
	root.AddCommand(newServeCmd())
	root.AddCommand(newCheckCmd())
	root.AddCommand(newReloadCmd())
	root.AddCommand(newStatusCmd())
	root.AddCommand(newPasswdCmd())
	root.AddCommand(newClusterCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newManCmd(root))
	setVersionFlag(root)
	return root
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
	return runIn(args, os.Stdin, stdout, stderr)
}

// runIn is run with stdin given (ssld passwd reads it).
func runIn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	markUsageErrors(root)
	root.SetArgs(attachedPasswords(args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// cobra adds help and completion inside Execute; added here (after
	// SetOut: completion keeps the writer it sees), the unknown-command
	// check below (root.Find) finds them too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var err error
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		// The completion scripts' hidden request command, which cobra
		// adds inside Execute.
		err = root.Execute()
	} else if _, _, err = root.Find(args); err != nil {
		err = usageError{err} // an unknown command
	} else {
		err = root.Execute()
	}
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	fmt.Fprintln(stderr, "ssld:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// markUsageErrors makes cobra's own errors, a bad flag or a wrong number of
// arguments, usageErrors (exit 2) for c and every command below it.
func markUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if validate := c.Args; validate != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := validate(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}
