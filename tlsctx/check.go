package tlsctx

import (
	"context"
	"time"
)

// ChannelCheck is one channel as Check or Validate built it.
type ChannelCheck struct {
	Channel Channel
	// Snapshot is the unpublished snapshot that was built; nil when Err is
	// set. Snapshot.Enabled() is false for a channel with TLS off.
	Snapshot *Snapshot
	Warnings []string // non-fatal findings about this channel's material
	Err      error    // a *ReloadError naming the setting, the file and the reason
}

// CheckReport is the outcome of Check or Validate: every channel, built
// into locals and never published.
type CheckReport struct {
	Settings Settings
	Warnings []string // findings about the configuration (a WarningSource's)
	Channels []ChannelCheck
}

// Err returns the first channel error, or nil when every channel built.
func (r CheckReport) Err() error {
	for _, c := range r.Channels {
		if c.Err != nil {
			return c.Err
		}
	}
	return nil
}

// Check loads the settings from src and builds the material of every
// channel the settings serve (Settings.Serves)
// with the same validation as New and Reload (same file reads, parse,
// key match with the torn-pair re-reads, validity window, server-auth
// fitness, CA sets, cluster chain), without a Manager: nothing is
// published, no listener is involved, no bookkeeping is touched. Unlike a
// reload it does not stop at the first broken channel: every channel is
// built and reported.
//
// The returned error is non-nil (a *ReloadError) only when the settings
// themselves cannot be loaded (Source error, a TLS policy value it cannot apply); problems
// with the material are in the report (CheckReport.Err). Safe for
// concurrent use.
func Check(ctx context.Context, src Source) (CheckReport, error) {
	s, warnings, err := loadSettings(ctx, src)
	if err != nil {
		return CheckReport{}, &ReloadError{Setting: "config", Reason: err.Error(), Err: err}
	}
	for _, ch := range s.Channels() {
		if _, err := ChannelPolicy(s, ch); err != nil {
			return CheckReport{}, err
		}
	}
	b := &builder{now: timeNow, ticketNow: time.Now, readFile: readBounded, pairTries: 5, pairWait: defaultPairWait}
	rep := CheckReport{Settings: s, Warnings: capWarnings(append(warnings, unservedWarnings(s)...))}
	for _, ch := range s.Channels() {
		rep.Channels = append(rep.Channels, buildCheck(ctx, b, ch, s))
	}
	return rep, nil
}

func buildCheck(ctx context.Context, b *builder, ch Channel, s Settings) ChannelCheck {
	out, err := b.build(ctx, ch, s)
	if err != nil {
		return ChannelCheck{Channel: ch, Err: asReloadError(ch, err)}
	}
	return ChannelCheck{Channel: ch, Snapshot: out.snap, Warnings: capWarnings(out.warnings)}
}

// Validate is a dry run of Reload against the running Manager: it rereads
// the settings, checks the restart-only rules against what is live, and
// builds every channel (or those chosen with ForChannel; other options are
// ignored) into locals. Nothing is published and no bookkeeping changes:
// Status, the generation, the observer and the log are untouched. It waits
// for a running Reload, like Reload.
//
// The error is a *ReloadError for settings that cannot be loaded or a
// change that needs a restart (RestartRequired); channel problems are in
// the report, every channel built even when one fails, a certificate the
// identity guard would refuse included (ErrIdentityChange).
func (m *Manager) Validate(ctx context.Context, opts ...ReloadOption) (CheckReport, error) {
	var ro reloadOptions
	for _, opt := range opts {
		opt(&ro)
	}
	chans, err := m.chosen(ro.channels)
	if err != nil {
		return CheckReport{}, err
	}
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return CheckReport{}, &ReloadError{Setting: "reload", Reason: "cancelled while waiting for another reload: " + ctx.Err().Error(), Err: ctx.Err()}
	}
	defer func() { <-m.sem }()
	s, warnings, err := loadSettings(ctx, m.src)
	if err != nil {
		return CheckReport{}, &ReloadError{Setting: "config", Reason: err.Error(), Err: err}
	}
	if err := checkShape(m.state.Load().settings, s, chans); err != nil {
		return CheckReport{}, err
	}
	live := m.state.Load().snaps
	b := m.builder(live)
	defer b.releaseMemory()
	rep := CheckReport{Settings: s, Warnings: capWarnings(append(warnings, unservedWarnings(s)...))}
	for _, ch := range chans {
		c := buildCheck(ctx, b, ch, s)
		if c.Err == nil {
			// What the identity guard of a reload would say.
			if err := guardIdentity(s, live[ch], c.Snapshot); err != nil {
				c.Err, c.Snapshot = err, nil
			}
		}
		rep.Channels = append(rep.Channels, c)
	}
	return rep, nil
}
