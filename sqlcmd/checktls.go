package sqlcmd

import (
	"context"
	"errors"
	"github.com/dolthub/vitess/go/mysql"
	"strings"

	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// CheckTLS is CHECK TLS [FOR CHANNEL name]: the pre-flight of a reload. It
// runs the whole validation SSL_RELOAD would run (settings reread,
// restart-only rules, every file read, parsed, matched and checked) and
// swaps nothing: the served contexts, the generation and
// ssl_last_reload_attempt_time / ssl_last_successful_reload_time stay as
// they are. Modelled on CHECK TABLE: read-only, one row per channel.
type CheckTLS struct {
	Channel tlsctx.Channel // "" = all channels
}

// RequiresSuper implements Command: it reads the key files, like a reload.
func (CheckTLS) RequiresSuper() bool { return true }

// Validator is the dry run of a Reloader; *tlsctx.Manager implements it.
// Validate must be safe for concurrent use and change nothing.
type Validator interface {
	Validate(ctx context.Context, opts ...tlsctx.ReloadOption) (tlsctx.CheckReport, error)
}

// CHECK TLS row statuses.
const (
	CheckReady     = "ready"      // a reload now would load this channel
	CheckWouldFail = "would_fail" // a reload now would fail; Message says why
)

// parseCheck parses CHECK TLS [FOR CHANNEL name]; other CHECK statements
// (CHECK TABLE) are valid MySQL that ssld has no tables for.
func parseCheck(query string, toks []token, word func(int) string,
	near func(int) *Error, end func(int, Command) (Command, bool, *Error)) (Command, bool, *Error) {
	if word(1) != "TLS" {
		if word(1) == "TABLE" {
			return nil, true, errNotSupported("CHECK TABLE")
		}
		return nil, false, nil
	}
	c := CheckTLS{}
	i, e := forChannel("CHECK TLS", toks, word, near, 2, &c.Channel)
	if e != nil {
		return nil, true, e
	}
	return end(i, c)
}

// checkTLS answers CHECK TLS. The statement itself succeeds whenever the
// node could run the validation; what a reload would do is in the rows:
// Status ready, with the certificate the channel would serve, or
// would_fail with the reload's error text in Message (the same text
// SSL_RELOAD would return). Warnings are the reload's non-fatal findings.
func (x *Executor) checkTLS(ctx context.Context, c CheckTLS) (*Result, *Error) {
	v := x.env.Validator
	if v == nil {
		v, _ = x.env.Reloader.(Validator)
	}
	if v == nil {
		return nil, newError(ErrSSLLibrary, mysql.SSUnknownSQLState,
			"CHECK TLS: TLS reloading is not configured on this node")
	}
	var opts []tlsctx.ReloadOption
	chans := []tlsctx.Channel{tlsctx.ChannelClient, tlsctx.ChannelCluster}
	if c.Channel != "" {
		opts = append(opts, tlsctx.ForChannel(c.Channel))
		chans = []tlsctx.Channel{c.Channel}
	}
	res := &Result{
		Columns: []Column{
			{Name: "Channel"}, {Name: "Status"}, {Name: "Serial"}, {Name: "Fingerprint_SHA256"},
			{Name: "Not_after"}, {Name: "Issuer"}, {Name: "Changed"}, {Name: "Message"},
		},
		Rows: [][]any{},
	}
	rep, err := v.Validate(ctx, opts...)
	if err != nil {
		// Settings that cannot load or a change that needs a restart: the
		// whole reload would fail, so every channel would.
		msg := reloadError(err).Msg
		for _, ch := range chans {
			res.Rows = append(res.Rows, []any{string(ch), CheckWouldFail, nil, nil, nil, nil, nil, msg})
		}
		return res, nil
	}
	// A reload is all or nothing: one broken channel fails it for all.
	var first error
	for _, cc := range rep.Channels {
		if cc.Err != nil && first == nil {
			first = cc.Err
		}
	}
	for _, w := range rep.Warnings {
		res.Warnings = append(res.Warnings, Warning{Level: "Warning", Code: ErrSSLLibrary, Message: w})
	}
	for _, cc := range rep.Channels {
		for _, w := range cc.Warnings {
			res.Warnings = append(res.Warnings, Warning{Level: "Warning", Code: ErrSSLLibrary, Message: w})
		}
		switch {
		case cc.Err != nil:
			res.Rows = append(res.Rows, []any{string(cc.Channel), CheckWouldFail, nil, nil, nil, nil, nil, reloadError(cc.Err).Msg})
			continue
		case first != nil:
			var re *tlsctx.ReloadError
			why := first.Error()
			if errors.As(first, &re) && re.Channel != "" {
				why = "channel " + string(re.Channel) + " fails"
			}
			res.Rows = append(res.Rows, []any{string(cc.Channel), CheckWouldFail, nil, nil, nil, nil, nil,
				"this channel's material is valid, but the reload is all or nothing and " + why})
			continue
		}
		snap := cc.Snapshot
		if !snap.Enabled() {
			res.Rows = append(res.Rows, []any{string(cc.Channel), CheckReady, nil, nil, nil, nil, nil, "TLS off on this channel"})
			continue
		}
		changed := "YES"
		if x.env.Certs != nil {
			if live := x.env.Certs.Current(cc.Channel); live.Enabled() && live.Fingerprint() == snap.Fingerprint() {
				changed = "NO"
			}
		}
		msg := "a reload would serve this certificate"
		if changed == "NO" {
			msg = "the certificate is the one served now"
		}
		res.Rows = append(res.Rows, []any{string(cc.Channel), CheckReady, snap.Serial(), strings.ToLower(snap.Fingerprint()),
			sysvars.FormatTime(snap.NotAfter()), snap.Issuer(), changed, msg})
	}
	return res, nil
}
