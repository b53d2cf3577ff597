package sqlcmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dolthub/vitess/go/mysql"

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
// node could run the validation; what a reload would do is in the rows,
// one per served channel (one per certificate where a channel serves
// several): Status ready, with the certificate the channel would serve, or would_fail with why in Message ("a reload would fail:
// ..." and the reason SSL_RELOAD would give, without the channel, which
// is the row's, and without what a failed reload keeps, since a dry run
// changes nothing). A reason already given for an earlier channel (the
// cluster channel falling back to the same ssl_* file) is not repeated.
// Warnings are the reload's non-fatal findings.
// readTimes is the retry count in a torn pair's reason ("(read 7 times)").
var readTimes = regexp.MustCompile(` \(read \d+ times\)`)

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
	chans := x.servedChannels()
	if c.Channel != "" {
		opts = append(opts, tlsctx.ForChannel(c.Channel))
		chans = []tlsctx.Channel{c.Channel}
	}
	res := &Result{
		Columns: []Column{
			{Name: "Channel"}, {Name: "Status"}, {Name: "Serial"}, {Name: "Fingerprint_SHA256"},
			{Name: "Not_after"}, {Name: "Issuer"}, {Name: "Changed"}, {Name: "Message"}, {Name: "Position", Int: true},
		},
		Rows: [][]any{},
	}
	failRow := func(ch tlsctx.Channel, msg string) {
		res.Rows = append(res.Rows, []any{string(ch), CheckWouldFail, nil, nil, nil, nil, nil, msg, nil})
	}
	rep, err := v.Validate(ctx, opts...)
	if err != nil {
		if errors.Is(err, tlsctx.ErrChannelNotServed) {
			return nil, errChannelNotServed("CHECK TLS", c.Channel)
		}
		// Settings that cannot load or a change that needs a restart: the
		// whole reload would fail, so every channel would, for one reason.
		for i, ch := range chans {
			if i == 0 {
				failRow(ch, wouldFail(err))
				continue
			}
			failRow(ch, "a reload would fail: the same reason as channel "+string(chans[0]))
		}
		return res, nil
	}
	// A reload is all or nothing: one broken channel fails it for all.
	var first *tlsctx.ChannelCheck
	for i := range rep.Channels {
		if rep.Channels[i].Err != nil && first == nil {
			first = &rep.Channels[i]
		}
	}
	for _, w := range rep.Warnings {
		res.Warnings = append(res.Warnings, Warning{Level: "Warning", Code: ErrSSLLibrary, Message: w})
	}
	given := map[string]tlsctx.Channel{} // reason -> the channel whose row gave it
	for _, cc := range rep.Channels {
		for _, w := range cc.Warnings {
			res.Warnings = append(res.Warnings, Warning{Level: "Warning", Code: ErrSSLLibrary, Message: w})
		}
		switch {
		case cc.Err != nil:
			why := channelReason(cc.Err)
			// The same files torn for both channels: each channel re-read
			// them its own number of times, which is no other reason.
			key := readTimes.ReplaceAllString(why, "")
			if earlier, ok := given[key]; ok {
				failRow(cc.Channel, "a reload would fail: the same reason as channel "+string(earlier))
				continue
			}
			given[key] = cc.Channel
			failRow(cc.Channel, "a reload would fail: "+why)
			continue
		case first != nil:
			failRow(cc.Channel, "a reload would fail because channel "+string(first.Channel)+
				" fails (a reload is all channels or none); this channel's own material is valid")
			continue
		}
		snap := cc.Snapshot
		if !snap.Enabled() {
			res.Rows = append(res.Rows, []any{string(cc.Channel), CheckReady, nil, nil, nil, nil, nil, "TLS off on this channel", nil})
			continue
		}
		// One row per certificate (ssl_cert may list several), Changed
		// saying whether the channel serves that one now.
		live := map[string]bool{}
		if x.env.Certs != nil {
			for _, c := range x.env.Certs.Current(cc.Channel).Served() {
				live[c.Fingerprint()] = true
			}
		}
		for _, c := range snap.Served() {
			changed, msg := "YES", "a reload would serve this certificate"
			if live[c.Fingerprint()] {
				changed, msg = "NO", "the certificate is the one served now"
			}
			res.Rows = append(res.Rows, []any{string(cc.Channel), CheckReady, c.Serial(), strings.ToLower(c.Fingerprint()),
				sysvars.FormatTime(c.Leaf.NotAfter), c.Leaf.Issuer.String(), changed, msg, int64(c.Position)})
		}
	}
	return res, nil
}

// servedChannels are the channels the node serves (the client channel, and
// the cluster channel where cluster_listen serves it), from the Manager's
// status; a Certs without one reports the channels it has a snapshot of.
func (x *Executor) servedChannels() []tlsctx.Channel {
	if st, ok := x.env.Certs.(interface{ Status() tlsctx.Status }); ok {
		if chans := st.Status().Channels; len(chans) > 0 {
			return chans
		}
	}
	out := []tlsctx.Channel{tlsctx.ChannelClient}
	if x.env.Certs != nil && x.env.Certs.Current(tlsctx.ChannelCluster) != nil {
		out = append(out, tlsctx.ChannelCluster)
	}
	return out
}

// channelReason is a channel's failure without the "channel NAME: " prefix
// (the row names the channel): the setting, the file and the reason.
func channelReason(err error) string {
	var re *tlsctx.ReloadError
	if errors.As(err, &re) && re.Channel != "" {
		return strings.TrimPrefix(re.Error(), "channel "+string(re.Channel)+": ")
	}
	return err.Error()
}

// wouldFail is the Message of a dry run whose settings cannot load or
// whose change needs a restart: what SSL_RELOAD would say, less what a
// failed reload keeps (a dry run keeps everything).
func wouldFail(err error) string {
	var re *tlsctx.ReloadError
	if errors.As(err, &re) && re.RestartRequired {
		setting := re.Setting
		if setting == "" {
			setting = "a setting"
		}
		return fmt.Sprintf("a reload would fail: %s cannot change on reload (%s); restart ssld to apply it", setting, re.Error())
	}
	return "a reload would fail: " + err.Error()
}

// errChannelNotServed is 1210, as for an unknown channel name: stmt named
// a channel this node does not serve (the cluster channel without
// cluster_listen), so there is nothing to reload or check on it.
func errChannelNotServed(stmt string, ch tlsctx.Channel) *Error {
	return newError(mysql.ERWrongArguments, mysql.SSUnknownSQLState,
		"Incorrect arguments to %s: this node does not serve the %s channel (cluster_listen is not set); FOR CHANNEL client is the channel it serves", stmt, ch)
}
