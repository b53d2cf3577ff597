// Package tlsctx holds a server's TLS contexts and swaps them atomically.
//
// A Manager keeps one immutable Snapshot per Channel behind an atomic
// pointer. Reload rereads the settings through a Source, reads and
// validates every file, builds all channels into locals and publishes all
// of them in one store, or none. Readers (handshakes, status queries) never
// lock. See the Example for embedding in a plain Go TLS server.
package tlsctx

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Manager owns the TLS snapshots of every channel and their reload
// bookkeeping. Create it with New. All methods are safe for concurrent use.
type Manager struct {
	src      Source
	logger   *slog.Logger
	observer func(ReloadEvent) // nil when none; see WithObserver
	sem      chan struct{}     // serialises Reload; a channel so waiting honours ctx

	// Seams, set by New and replaced only by tests before use.
	now       func() time.Time
	readFile  fileReader
	pairTries int
	pairWait  time.Duration

	versions      versionRange // fixed at New: tls_version is restart-only
	serverConfigs map[Channel]*tls.Config

	state atomic.Pointer[state]
}

// state is everything Reload publishes, in one immutable value so readers
// see snapshots and status from the same reload.
type state struct {
	snaps       map[Channel]*Snapshot
	settings    Settings
	generation  uint64
	lastAttempt time.Time
	lastSuccess time.Time
	lastError   string
}

// Status is the reload bookkeeping of a Manager.
type Status struct {
	// LastAttempt and LastSuccess are zero before the first Reload; the
	// initial load in New is not an attempt.
	LastAttempt, LastSuccess time.Time
	LastError                string // "" after a success
	Generation               uint64 // 1 after New; +1 per reload that changed anything
	// Settings are the settings behind the live snapshots, passphrase
	// included: callers must redact it before showing it.
	Settings Settings
}

// Result describes a successful Reload.
type Result struct {
	Changed    bool      // false when every file and setting was byte-identical
	Generation uint64    // the generation now live
	Channels   []Channel // the channels that were reloaded
	Warnings   []string  // non-fatal findings, e.g. a group-readable key
	Duration   time.Duration
}

// Option configures New.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	observer func(ReloadEvent)
}

// WithLogger makes the Manager log every reload (result ok, unchanged or
// failed; channel, serial, not_after, duration, trigger, error) to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// ReloadOption configures one Reload.
type ReloadOption func(*reloadOptions)

type reloadOptions struct {
	channels []Channel
	trigger  string
}

// ForChannel limits a reload to ch; the other channel keeps its snapshot.
// The default is all channels. Repeating it adds channels.
func ForChannel(ch Channel) ReloadOption {
	return func(o *reloadOptions) { o.channels = append(o.channels, ch) }
}

// WithTrigger records what caused the reload ("sql", "signal", "watch",
// "api") in the log.
func WithTrigger(t string) ReloadOption { return func(o *reloadOptions) { o.trigger = t } }

// New loads the settings from src and every channel's material with the
// same strict validation as Reload. On failure it returns a *ReloadError and
// no Manager. The initial load does not count as a reload attempt: Status
// reports zero LastAttempt and LastSuccess until the first Reload.
func New(ctx context.Context, src Source, opts ...Option) (*Manager, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	m := &Manager{
		src:       src,
		logger:    o.logger,
		observer:  o.observer,
		sem:       make(chan struct{}, 1),
		now:       time.Now,
		readFile:  readBounded,
		pairTries: 5,
		pairWait:  50 * time.Millisecond,
	}
	s, err := src.Load(ctx)
	if err != nil {
		return nil, &ReloadError{Setting: "config", Reason: err.Error(), Err: err}
	}
	v, err := parseTLSVersion(s.TLSVersion)
	if err != nil {
		return nil, &ReloadError{Setting: "tls_version", Reason: err.Error(), Err: err}
	}
	m.versions = v
	b := m.builder()
	st := &state{snaps: map[Channel]*Snapshot{}, settings: s, generation: 1}
	for _, ch := range allChannels {
		out, err := b.build(ctx, ch, s)
		if err != nil {
			return nil, err
		}
		out.snap.Generation = 1
		st.snaps[ch] = out.snap
		for _, w := range out.warnings {
			m.log(slog.LevelWarn, "tls material warning", "channel", string(ch), "warning", w)
		}
	}
	m.serverConfigs = map[Channel]*tls.Config{}
	for _, ch := range allChannels {
		if st.snaps[ch].Enabled() {
			m.serverConfigs[ch] = m.newServerTLSConfig(ch)
		}
	}
	m.state.Store(st)
	for _, ch := range allChannels {
		m.logSnapshot("loaded", ch, st.snaps[ch], 0, "startup")
	}
	return m, nil
}

func (m *Manager) builder() *builder {
	return &builder{now: m.now, readFile: m.readFile, pairTries: m.pairTries, pairWait: m.pairWait, versions: m.versions}
}

// Current returns the live snapshot of ch. It never returns nil for a
// known channel after New (nil for an unknown one), takes no lock, and is
// safe to call from a TLS handshake callback.
func (m *Manager) Current(ch Channel) *Snapshot {
	return m.state.Load().snaps[ch]
}

// Status returns the reload bookkeeping. It takes no lock; the values are
// consistent with each other (one reload's result).
func (m *Manager) Status() Status {
	st := m.state.Load()
	return Status{
		LastAttempt: st.lastAttempt,
		LastSuccess: st.lastSuccess,
		LastError:   st.lastError,
		Generation:  st.generation,
		Settings:    st.settings,
	}
}

// Reload rereads the settings from the Source and the files of every
// channel (or those chosen with ForChannel), validates them, and publishes
// the new snapshots of all those channels at once. Reloads are serialised:
// a concurrent call waits for the running one (or for ctx).
//
// On failure it returns a *ReloadError, keeps every live snapshot, records
// the attempt time and the error in Status, and new handshakes keep using
// the previous material. Settings changes that need a restart fail with
// RestartRequired set. Byte-identical material reports Changed=false and
// keeps the generation and the snapshots (so session tickets stay valid),
// but still records a success. Existing connections are never touched.
func (m *Manager) Reload(ctx context.Context, opts ...ReloadOption) (Result, error) {
	ro := reloadOptions{trigger: "api"}
	for _, opt := range opts {
		opt(&ro)
	}
	chans := allChannels
	if len(ro.channels) > 0 {
		chans = nil
		for _, ch := range allChannels { // dedupe, keep canonical order
			for _, want := range ro.channels {
				if want == ch {
					chans = append(chans, ch)
					break
				}
			}
		}
		for _, want := range ro.channels {
			if !want.valid() {
				err := &ReloadError{Channel: want, Setting: "channel", Reason: fmt.Sprintf("unknown channel %q", want)}
				m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Generation: m.state.Load().generation, Channels: ro.channels})
				return Result{}, err
			}
		}
	}

	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		err := &ReloadError{Setting: "reload", Reason: "cancelled while waiting for another reload: " + ctx.Err().Error(), Err: ctx.Err()}
		m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Generation: m.state.Load().generation, Channels: chans})
		return Result{}, err
	}
	defer func() { <-m.sem }()

	start := m.now()
	cur := m.state.Load()
	res, next, err := m.reload(ctx, cur, chans)
	res.Duration = m.now().Sub(start)
	if err != nil {
		failed := *cur
		failed.lastAttempt = start
		failed.lastError = err.Error()
		m.state.Store(&failed)
		m.logFailure(err, res.Duration, ro.trigger)
		m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Duration: res.Duration, Generation: failed.generation, Channels: chans})
		return Result{}, err
	}
	next.lastAttempt, next.lastSuccess, next.lastError = start, start, ""
	m.state.Store(next)
	result := ResultOK
	if !res.Changed {
		result = ResultUnchanged
	}
	for _, ch := range chans {
		m.logSnapshot(result, ch, next.snaps[ch], res.Duration, ro.trigger)
	}
	for _, w := range res.Warnings {
		m.log(slog.LevelWarn, "tls material warning", "warning", w, "trigger", ro.trigger)
	}
	m.notify(ReloadEvent{Trigger: ro.trigger, Result: result, Duration: res.Duration, Generation: res.Generation, Channels: chans})
	return res, nil
}

// reload builds the next state from cur without publishing anything.
func (m *Manager) reload(ctx context.Context, cur *state, chans []Channel) (Result, *state, error) {
	s, err := m.src.Load(ctx)
	if err != nil {
		return Result{}, nil, &ReloadError{Channel: single(chans), Setting: "config", Reason: err.Error(), Err: err}
	}
	if err := checkShape(cur.settings, s, m.versions, chans); err != nil {
		return Result{}, nil, err
	}
	b := m.builder()
	next := &state{snaps: map[Channel]*Snapshot{}, generation: cur.generation}
	for ch, snap := range cur.snaps {
		next.snaps[ch] = snap
	}
	var res Result
	changed := false
	for _, ch := range chans {
		if err := ctx.Err(); err != nil {
			return Result{}, nil, &ReloadError{Channel: ch, Setting: "reload", Reason: "cancelled: " + err.Error(), Err: err}
		}
		out, err := b.build(ctx, ch, s)
		if err != nil {
			return Result{}, nil, err
		}
		res.Warnings = append(res.Warnings, out.warnings...)
		if out.snap.digest != cur.snaps[ch].digest {
			next.snaps[ch] = out.snap
			changed = true
		}
	}
	next.settings = mergeSettings(cur.settings, s, chans)
	if next.settings != cur.settings {
		changed = true
	}
	if changed {
		next.generation++
		for _, ch := range chans {
			if next.snaps[ch] != cur.snaps[ch] {
				next.snaps[ch].Generation = next.generation
			}
		}
	}
	res.Changed, res.Generation, res.Channels = changed, next.generation, chans
	return res, next, nil
}

func single(chans []Channel) Channel {
	if len(chans) == 1 {
		return chans[0]
	}
	return ""
}

func (m *Manager) log(level slog.Level, msg string, args ...any) {
	if m.logger != nil {
		m.logger.Log(context.Background(), level, msg, args...)
	}
}

func (m *Manager) logSnapshot(result string, ch Channel, s *Snapshot, d time.Duration, trigger string) {
	if m.logger == nil {
		return
	}
	args := []any{"result", result, "channel", string(ch), "generation", s.Generation,
		"duration", d, "trigger", trigger}
	if s.Enabled() {
		args = append(args, "serial", s.Serial(), "not_after", s.NotAfter().UTC().Format(time.RFC3339))
	} else {
		args = append(args, "tls", "off")
	}
	m.log(slog.LevelInfo, "tls reload", args...)
}

func (m *Manager) logFailure(err error, d time.Duration, trigger string) {
	if m.logger == nil {
		return
	}
	args := []any{"result", "failed", "duration", d, "trigger", trigger, "error", err.Error()}
	if re, ok := err.(*ReloadError); ok && re.Channel != "" {
		args = append(args, "channel", string(re.Channel))
	}
	m.log(slog.LevelError, "tls reload", args...)
}
