package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/tlsctx"
)

// checkChannel is one channel in the output of `ssld check`.
type checkChannel struct {
	Channel  string   `json:"channel"`
	TLS      bool     `json:"tls"`
	CertFile string   `json:"cert_file,omitempty"`
	Serial   string   `json:"serial,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	NotAfter string   `json:"not_after,omitempty"`
	DaysLeft *float64 `json:"days_left,omitempty"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error,omitempty"`
}

// checkReport is the whole output of `ssld check`.
type checkReport struct {
	Config   string         `json:"config"`
	OK       bool           `json:"ok"`
	Channels []checkChannel `json:"channels"`
	Warnings []string       `json:"warnings"`
	Problems []string       `json:"problems"`
}

// runCheck loads the config and every file through tlsctx.Check (the
// validation of a reload), without a daemon and without binding anything.
// days > 0 makes a certificate expiring within that many days a problem:
// the leaf, an intermediate served with it, or a CA certificate.
func runCheck(ctx context.Context, path string, days int, now time.Time) checkReport {
	rep := checkReport{Config: path, Channels: []checkChannel{}, Warnings: []string{}, Problems: []string{}}
	cfg, err := loadConfig(path)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		return rep
	}
	rep.Config = cfg.path
	if err := protocol.ValidateUsers(cfg.protocolUsers()); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("config file %s: %v", cfg.path, err))
	}
	rep.Warnings = append(rep.Warnings, cfg.unknownKeyWarnings()...)
	// ssld serve refuses to start on these, so check must not pass them.
	if _, err := newLogger(io.Discard, cfg.LogLevel, cfg.LogFormat); err != nil {
		rep.Problems = append(rep.Problems, logSettingError(err, cfg.path, "", "").Error())
	}
	src := &fileSource{path: cfg.path}
	tr, err := tlsctx.Check(ctx, src)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		return rep
	}
	rep.Warnings = append(rep.Warnings, tr.Warnings...)
	for _, c := range tr.Channels {
		out := checkChannel{Channel: string(c.Channel), Warnings: append([]string{}, c.Warnings...)}
		if c.Err != nil {
			out.Error = c.Err.Error()
			rep.Problems = append(rep.Problems, c.Err.Error())
			rep.Channels = append(rep.Channels, out)
			continue
		}
		s := c.Snapshot
		out.CertFile = s.CertFile
		if s.Enabled() {
			left := daysLeft(s.NotAfter(), now)
			out.TLS, out.Serial, out.Subject, out.Issuer = true, s.Serial(), s.Subject(), s.Issuer()
			out.NotAfter, out.DaysLeft = s.NotAfter().UTC().Format(time.RFC3339), &left
		}
		if days > 0 {
			// The leaf, the intermediates served with it and every CA
			// certificate: any of them expiring breaks clients.
			for _, e := range s.ExpiringBefore(now.Add(time.Duration(days) * 24 * time.Hour)) {
				what := e.Role
				if e.Role != "certificate" {
					what += fmt.Sprintf(" %q", e.Subject)
				}
				rep.Problems = append(rep.Problems, fmt.Sprintf("channel %s: %s %q: %s expires at %s, in %.1f days, within --days %d",
					c.Channel, e.Setting, e.File, what, e.NotAfter.UTC().Format(time.RFC3339), daysLeft(e.NotAfter, now), days))
			}
		}
		rep.Channels = append(rep.Channels, out)
	}
	rep.OK = len(rep.Problems) == 0
	return rep
}

// daysLeft is the time from now to t in days, rounded down to a tenth.
func daysLeft(t, now time.Time) float64 {
	return math.Floor(t.Sub(now).Hours()/24*10) / 10
}

func printCheckText(stdout, stderr io.Writer, rep checkReport) {
	for _, c := range rep.Channels {
		switch {
		case c.Error != "":
			fmt.Fprintf(stdout, "channel %s: invalid\n", c.Channel)
		case !c.TLS:
			fmt.Fprintf(stdout, "channel %s: TLS off (no certificate configured)\n", c.Channel)
		default:
			fmt.Fprintf(stdout, "channel %s: serial=%s subject=%q issuer=%q not_after=%s days_left=%.1f cert=%s\n",
				c.Channel, c.Serial, c.Subject, c.Issuer, c.NotAfter, *c.DaysLeft, c.CertFile)
		}
		for _, w := range c.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "error: %s\n", p)
	}
	if rep.OK {
		fmt.Fprintf(stdout, "%s: ok\n", rep.Config)
	} else {
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", rep.Config, len(rep.Problems))
	}
}

func newCheckCmd() *cobra.Command {
	var (
		config string
		days   int
		format string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file and every TLS file it names, without a daemon (like nginx -t)",
		Long: `Load the config file and every certificate, key and CA it names through the same code as a
reload (parse, key match, validity window, server-auth fitness, CA sets, cluster chain), without
a running daemon and without binding any port. Prints, per channel, the serial, subject, issuer,
not_after, days left and every warning; then one line per problem naming the setting, the file
and the reason.

Exit status: 0 all valid; 1 something is invalid, or a certificate expires within --days
(the leaf, an intermediate served with it, or a CA in ssl_ca / ssl_capath or their cluster_
counterparts); 2 usage error.`,
		Example: `  ssld check --config /etc/ssld/ssld.yaml
  ssld check --config /etc/ssld/ssld.yaml --days 21
  ssld check --config ssld.yaml --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usageError{fmt.Errorf("--config FILE is required")}
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			if days < 0 {
				return usageError{fmt.Errorf("--days %d: must be 0 or more", days)}
			}
			rep := runCheck(cmd.Context(), config, days, time.Now())
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printCheckText(cmd.OutOrStdout(), cmd.ErrOrStderr(), rep)
			}
			if !rep.OK {
				return exitError(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&config, "config", "c", "", "config file to check (YAML, TOML or my.cnf-style INI)")
	f.IntVar(&days, "days", 0, "also fail when a certificate (leaf, intermediate or CA) expires within this many days (0: only when invalid)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}
