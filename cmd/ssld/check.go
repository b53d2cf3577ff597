package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/ssld/ssld/internal/config"
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
	// CRLs is how many CRLs (ssl_crl, ssl_crlpath) the channel applies;
	// CRLNextUpdate the earliest nextUpdate among them.
	CRLs          int    `json:"crls,omitempty"`
	CRLNextUpdate string `json:"crl_next_update,omitempty"`
	// Certificates lists every certificate the channel serves (ssl_cert
	// may list several); the fields above describe the first.
	Certificates []checkCert `json:"certificates,omitempty"`
	Warnings     []string    `json:"warnings"`
	Error        string      `json:"error,omitempty"`
}

// checkCert is one certificate of a channel in the output of `ssld check`.
type checkCert struct {
	Position int     `json:"position"`
	KeyType  string  `json:"key_type"`
	CertFile string  `json:"cert_file"`
	Serial   string  `json:"serial"`
	Subject  string  `json:"subject"`
	Issuer   string  `json:"issuer"`
	NotAfter string  `json:"not_after"`
	DaysLeft float64 `json:"days_left"`
}

// checkReport is the whole output of `ssld check`.
type checkReport struct {
	Config   string         `json:"config"`
	OK       bool           `json:"ok"`
	Channels []checkChannel `json:"channels"`
	Warnings []string       `json:"warnings"`
	// Problems has one entry per setting and file (and reason): material
	// shared by several channels (the cluster channel falls back to ssl_*)
	// is one problem naming every channel it breaks.
	Problems []string `json:"problems"`
	// ValidityOnly is true when there are problems and every one is a
	// certificate outside its validity window (expired or not yet valid):
	// exit 3, or 0 with --allow-expired. ssld serve starts degraded on such
	// files and a reload over the Unix socket repairs it.
	ValidityOnly bool `json:"validity_only"`
	// Allowed is true when --allow-expired accepted those problems.
	Allowed bool `json:"allowed"`
}

// Exit statuses of `ssld check` beyond 0 (valid), 1 (invalid) and 2
// (usage).
const checkExitValidityOnly = 3

// checkProblem is one problem of a check, with the channels it breaks.
type checkProblem struct {
	channels []string
	text     string // without the channel prefix
	validity bool   // a certificate outside its validity window
}

// checkProblems collects problems, merging those about the same setting,
// file and reason that several channels share.
type checkProblems struct {
	list  []*checkProblem
	byKey map[string]*checkProblem
}

// nowInReason is the part of a validity reason that names the moment of
// each channel's build; two channels built a second apart still share the
// problem.
var nowInReason = regexp.MustCompile(` \(now [^)]*\)`)

// add records text (a problem of channel, "" for one about the config
// itself). Problems with the same key are merged; an empty key never is.
func (p *checkProblems) add(channel, key, text string, validity bool) {
	if key != "" {
		if p.byKey == nil {
			p.byKey = map[string]*checkProblem{}
		}
		if have, ok := p.byKey[key]; ok {
			if channel != "" {
				have.channels = append(have.channels, channel)
			}
			return
		}
	}
	c := &checkProblem{text: text, validity: validity}
	if channel != "" {
		c.channels = []string{channel}
	}
	p.list = append(p.list, c)
	if key != "" {
		p.byKey[key] = c
	}
}

// addChannelError records a channel's build error. A *tlsctx.ReloadError
// is keyed by its setting, file and reason.
func (p *checkProblems) addChannelError(channel string, err error) {
	var re *tlsctx.ReloadError
	if !errors.As(err, &re) {
		p.add(channel, "", err.Error(), false)
		return
	}
	bare := *re
	bare.Channel = ""
	key := bare.Setting + "\x00" + bare.File + "\x00" + nowInReason.ReplaceAllString(bare.Reason, "")
	p.add(channel, key, bare.Error(), outsideValidity(err))
}

// outsideValidity reports whether err is a certificate that is expired or
// not yet valid: the leaf, or a certificate of the chain it must verify
// along (the cluster channel).
func outsideValidity(err error) bool {
	if errors.Is(err, tlsctx.ErrOutsideValidity) {
		return true
	}
	var ie x509.CertificateInvalidError
	return errors.As(err, &ie) && ie.Reason == x509.Expired
}

// strings renders the problems, each prefixed with the channels it breaks.
func (p *checkProblems) strings() []string {
	out := []string{}
	for _, c := range p.list {
		switch len(c.channels) {
		case 0:
			out = append(out, c.text)
		case 1:
			out = append(out, "channel "+c.channels[0]+": "+c.text)
		default:
			out = append(out, "channels "+strings.Join(c.channels, ", ")+": "+c.text)
		}
	}
	return out
}

// validityOnly reports whether there are problems and all are certificates
// outside their validity window.
func (p *checkProblems) validityOnly() bool {
	for _, c := range p.list {
		if !c.validity {
			return false
		}
	}
	return len(p.list) > 0
}

// runCheck loads the config and every file through tlsctx.Check (the
// validation of a reload), without a daemon and without binding anything.
// days > 0 makes a certificate expiring within that many days a problem:
// the leaf, an intermediate served with it, or a CA certificate.
func runCheck(ctx context.Context, path string, days int, now time.Time) (rep checkReport) {
	rep = checkReport{Config: path, Channels: []checkChannel{}, Warnings: []string{}}
	var probs checkProblems
	defer func() {
		rep.Problems = probs.strings()
		rep.OK = len(rep.Problems) == 0
		rep.ValidityOnly = probs.validityOnly()
	}()
	cfg, err := config.Load(path)
	if err != nil {
		probs.add("", "", err.Error(), false)
		return rep
	}
	rep.Config = cfg.Path()
	if err := protocol.ValidateUsers(cfg.ProtocolUsers()); err != nil {
		probs.add("", "", fmt.Sprintf("config file %s: %v", cfg.Path(), err), false)
	}
	rep.Warnings = append(rep.Warnings, cfg.UnknownKeyWarnings()...)
	// ssld serve refuses to start on these, so check must not pass them.
	if _, err := config.NewLogger(io.Discard, cfg.LogLevel, cfg.LogFormat); err != nil {
		probs.add("", "", config.LogSettingError(err, cfg.Path(), "", "").Error(), false)
	}
	src := config.NewSource(cfg.Path(), config.SourceOptions{})
	tr, err := tlsctx.Check(ctx, src)
	if err != nil {
		probs.add("", "", err.Error(), false)
		return rep
	}
	rep.Warnings = append(rep.Warnings, tr.Warnings...)
	for _, c := range tr.Channels {
		out := checkChannel{Channel: string(c.Channel), Warnings: append([]string{}, c.Warnings...)}
		if c.Err != nil {
			out.Error = c.Err.Error()
			probs.addChannelError(string(c.Channel), c.Err)
			rep.Channels = append(rep.Channels, out)
			continue
		}
		s := c.Snapshot
		out.CertFile = s.CertFile
		if s.Enabled() {
			left := daysLeft(s.NotAfter(), now)
			out.TLS, out.Serial, out.Subject, out.Issuer = true, s.Serial(), s.Subject(), s.Issuer()
			out.NotAfter, out.DaysLeft = s.NotAfter().UTC().Format(time.RFC3339), &left
			for _, sc := range s.Served() {
				out.Certificates = append(out.Certificates, checkCert{Position: sc.Position, KeyType: sc.KeyType(),
					CertFile: sc.CertFile, Serial: sc.Serial(), Subject: sc.Leaf.Subject.String(), Issuer: sc.Leaf.Issuer.String(),
					NotAfter: sc.Leaf.NotAfter.UTC().Format(time.RFC3339), DaysLeft: daysLeft(sc.Leaf.NotAfter, now)})
			}
			out.CertFile = out.Certificates[0].CertFile
		}
		out.CRLs = len(s.CRLs())
		if next, ok := s.CRLNextUpdate(); ok {
			out.CRLNextUpdate = next.UTC().Format(time.RFC3339)
		}
		if days > 0 {
			// The leaf, the intermediates served with it and every CA
			// certificate: any of them expiring breaks clients.
			for _, e := range s.ExpiringBefore(now.Add(time.Duration(days) * 24 * time.Hour)) {
				what := e.Role
				if e.Role != "certificate" {
					what += fmt.Sprintf(" %q", e.Subject)
				}
				text := fmt.Sprintf("%s %q: %s expires at %s, in %.1f days, within --days %d",
					e.Setting, e.File, what, e.NotAfter.UTC().Format(time.RFC3339), daysLeft(e.NotAfter, now), days)
				probs.add(string(c.Channel), text, text, false)
			}
		}
		rep.Channels = append(rep.Channels, out)
	}
	return rep
}

// exitCode is the exit status for rep: 0 ok (or only certificates outside
// their validity window with --allow-expired), 3 only such certificates,
// 1 anything else.
func (rep checkReport) exitCode() int {
	switch {
	case rep.OK || rep.Allowed:
		return 0
	case rep.ValidityOnly:
		return checkExitValidityOnly
	default:
		return 1
	}
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
			if len(c.Certificates) > 1 {
				for _, sc := range c.Certificates {
					fmt.Fprintf(stdout, "channel %s: certificate %d of %d: key_type=%q serial=%s subject=%q not_after=%s days_left=%.1f cert=%s\n",
						c.Channel, sc.Position, len(c.Certificates), sc.KeyType, sc.Serial, sc.Subject, sc.NotAfter, sc.DaysLeft, sc.CertFile)
				}
			}
		}
		if c.CRLs > 0 {
			fmt.Fprintf(stdout, "channel %s: crls=%d next_update=%s\n", c.Channel, c.CRLs, c.CRLNextUpdate)
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
	switch {
	case rep.OK:
		fmt.Fprintf(stdout, "%s: ok\n", rep.Config)
	case rep.Allowed:
		fmt.Fprintf(stdout, "%s: ok except %d certificate(s) outside their validity window, accepted by --allow-expired: "+
			"ssld serve starts degraded until the files are renewed and reloaded\n", rep.Config, len(rep.Problems))
	case rep.ValidityOnly:
		fmt.Fprintf(stdout, "%s: %d problem(s), each a certificate outside its validity window (exit 3): renew, then reload\n",
			rep.Config, len(rep.Problems))
	default:
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", rep.Config, len(rep.Problems))
	}
}

// notifyCheckRefusal puts a failed check's first problem into the systemd
// unit's status line (STATUS=) when systemd runs the check (the unit's
// ExecStartPre=, with NotifyAccess=exec so that a process other than the
// main one may send it): while systemd waits to retry the start, `systemctl
// status ssld` shows no log lines but does show this. Without
// $NOTIFY_SOCKET it does nothing.
func notifyCheckRefusal(rep checkReport, code int) {
	if code == 0 || len(rep.Problems) == 0 || os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	// STATUS= is one line.
	text := "start refused by ssld check: " + strings.Join(strings.Fields(rep.Problems[0]), " ")
	if n := len(rep.Problems) - 1; n > 0 {
		text += fmt.Sprintf(" (and %d more problem(s), see journalctl -u ssld)", n)
	}
	_, _ = daemon.SdNotify(false, "STATUS="+text)
}

func newCheckCmd() *cobra.Command {
	var (
		config       string
		days         int
		format       string
		allowExpired bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file and every TLS file it names, without a daemon (like nginx -t)",
		Long: `Load the config file and every certificate, key and CA it names through the same code as a
reload (parse, key match, validity window, server-auth fitness, CA sets, cluster chain), without
a running daemon and without binding any port. Prints, per channel, the serial, subject, issuer,
not_after, days left and every warning; then one line per problem naming the setting, the file
and the reason. A file shared by several channels is one problem naming every channel.

Exit status: 0 all valid; 1 something is invalid, or a certificate expires within --days
(the leaf, an intermediate served with it, or a CA in ssl_ca / ssl_capath or their cluster_
counterparts); 2 usage error; 3 the only problems are certificates outside their validity
window (expired or not yet valid): ssld serve starts degraded on them (the Unix socket
works, TLS listeners refuse connections) and a reload with renewed files repairs it.
--allow-expired turns 3 into 0: the systemd unit's ExecStartPre= uses it, so a start with
broken files fails while an expired certificate still starts, degraded, to be repaired.
Under systemd ($NOTIFY_SOCKET set, NotifyAccess=exec) a failed check also sends its first
problem as the unit's STATUS=, which systemctl status shows.`,
		Example: `  ssld check --config /etc/ssld/ssld.yaml
  ssld check --config /etc/ssld/ssld.yaml --days 21
  ssld check --config ssld.yaml --format json
  ssld check --config /etc/ssld/ssld.yaml --allow-expired`,
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
			rep.Allowed = allowExpired && rep.ValidityOnly
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printCheckText(cmd.OutOrStdout(), cmd.ErrOrStderr(), rep)
			}
			code := rep.exitCode()
			notifyCheckRefusal(rep, code)
			if code != 0 {
				return exitError(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&config, "config", "c", "", "config file to check (YAML, TOML or my.cnf-style INI)")
	f.IntVar(&days, "days", 0, "also fail when a certificate (leaf, intermediate or CA) expires within this many days (0: only when invalid)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	f.BoolVar(&allowExpired, "allow-expired", false, "exit 0 when the only problems are certificates outside their validity window (expired or not yet valid), which ssld serve starts degraded on (the systemd unit's start check)")
	return cmd
}
