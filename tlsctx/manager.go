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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the Manager's seams, shared with Check.
var timeNow = time.Now

// defaultPairWait times pairTries-1 (4) is the 200 ms window within which a
// mismatched pair is re-read (at growing intervals, see loadPair).
const defaultPairWait = 50 * time.Millisecond

// Manager owns the TLS snapshots of every channel and their reload
// bookkeeping. Create it with New. All methods are safe for concurrent use.
type Manager struct {
	src    Source
	logger *slog.Logger
	sem    chan struct{} // serialises Reload; a channel so waiting honours ctx

	obsMu     sync.Mutex
	observers []func(ReloadEvent) // WithObserver's, then AddObserver's, in order

	// Seams, set by New and replaced only by tests before use.
	now       func() time.Time
	readFile  fileReader
	pairTries int
	pairWait  time.Duration
	pairAfter func(time.Duration) <-chan time.Time // nil: time.After
	// ticketClock drives the session-ticket key rotation (tickets.go).
	ticketClock func() time.Time

	backend       CryptoBackend // resolved at New: BackendOpenSSL or BackendGo
	backendInfo   string
	auto          *autoChoices // crypto_backend auto with libcrypto loaded: chosen per key kind (autobackend.go); else nil
	serverConfigs map[Channel]*tls.Config
	// channels are the channels served, fixed at New (Settings.Serves):
	// a channel appears or disappears only with a restart.
	channels []Channel

	state atomic.Pointer[state]
	// history holds the last loads for History (history.go).
	history history
	// sessions are the open connections embedders track (sessions.go).
	sessions sessions

	// The CA overlap expiry reload (overlap.go).
	overlapMu    sync.Mutex
	overlapTimer *time.Timer
	stopped      bool
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
	lastTrigger string // "startup", "sql admin@localhost", "signal", "watch", ...
	// unavailable holds the channels that a degraded start (see
	// WithDegradedStart) could not build, with the reason, until a reload
	// of that channel succeeds. nil or empty in normal operation.
	unavailable map[Channel]*ReloadError
}

// Status is the reload bookkeeping of a Manager.
type Status struct {
	// LastAttempt and LastSuccess are zero before the first Reload; the
	// initial load in New is not an attempt.
	LastAttempt, LastSuccess time.Time
	LastError                string // "" after a success
	// LastTrigger is what caused the last load: "startup" after New, then
	// the trigger of the last Reload, followed by who asked when known
	// ("sql admin@localhost", "signal", "watch"; see WithTrigger, WithUser).
	LastTrigger string
	// Unavailable lists the channels a degraded start could not build and
	// that no reload has repaired yet (empty in normal operation).
	Unavailable []Channel
	// Channels lists the channels served (see Settings.Serves), fixed at
	// New: the client channel, and the cluster channel where it is served.
	Channels   []Channel
	Generation uint64 // 1 after New; +1 per reload that changed anything
	// Settings are the settings behind the live snapshots, passphrase
	// included: callers must redact it before showing it.
	Settings Settings
	// CryptoBackend is the backend resolved in New (see WithCryptoBackend).
	CryptoBackend CryptoBackend
}

// Result describes a successful Reload.
type Result struct {
	Changed    bool      // false when every file and setting was byte-identical
	Generation uint64    // the generation now live
	Channels   []Channel // the channels that were reloaded
	Warnings   []string  // non-fatal findings, e.g. a group-readable key
	Duration   time.Duration
	// UntrustedSessions is how many tracked sessions (Track) the live
	// material no longer trusts after this reload; ClosedSessions how many
	// of them this reload closed (Settings.CloseUntrustedSessions).
	UntrustedSessions, ClosedSessions int
}

// Option configures New.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	observer func(ReloadEvent)
	degraded bool
	backend  CryptoBackend
}

// WithDegradedStart makes New succeed when a channel's material is
// invalid (expired, missing, mismatched, unreadable): that channel starts
// without a certificate, Unavailable reports why, Status().LastError holds
// the reason, and the first Reload that builds it brings it up. Settings
// that cannot be loaded at all (Source error, a TLS policy value it cannot apply) and a
// served cluster channel with no CA still fail New. Without this option
// New fails on any invalid material.
func WithDegradedStart() Option { return func(o *options) { o.degraded = true } }

// WithLogger makes the Manager log every reload (result ok, unchanged or
// failed; channel, serial, not_after, duration, trigger, error) to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// ReloadOption configures one Reload.
type ReloadOption func(*reloadOptions)

type reloadOptions struct {
	channels []Channel
	trigger  string
	user     string
}

// describe is the trigger as recorded in Status.LastTrigger and the log.
func (o reloadOptions) describe() string {
	if o.user == "" {
		return o.trigger
	}
	return o.trigger + " " + o.user
}

// ForChannel limits a reload to ch; the other channel keeps its snapshot.
// The default is every served channel. Repeating it adds channels. A
// channel that is not served (the cluster channel without a cluster
// listener) fails the reload with an error wrapping ErrChannelNotServed,
// before anything is read or recorded, as an unknown channel does.
func ForChannel(ch Channel) ReloadOption {
	return func(o *reloadOptions) { o.channels = append(o.channels, ch) }
}

// WithTrigger records what caused the reload ("sql", "signal", "watch",
// "api") in the log.
func WithTrigger(t string) ReloadOption { return func(o *reloadOptions) { o.trigger = t } }

// WithUser records who asked for the reload (e.g. "admin@localhost" for a
// SQL statement). It appears after the trigger in Status.LastTrigger and in
// the log line; ReloadEvent.Trigger (and so metrics labels) keeps only the
// trigger, so the set of label values stays bounded.
func WithUser(u string) ReloadOption { return func(o *reloadOptions) { o.user = u } }

// New loads the settings from src and every channel's material with the
// same strict validation as Reload. On failure it returns a *ReloadError and
// no Manager, unless WithDegradedStart is given (see there). The initial
// load does not count as a reload attempt: Status reports zero LastAttempt
// and LastSuccess until the first Reload, except after a degraded start,
// where LastAttempt is the start and LastError says why.
func New(ctx context.Context, src Source, opts ...Option) (*Manager, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	m := &Manager{
		src:         src,
		logger:      o.logger,
		sem:         make(chan struct{}, 1),
		now:         timeNow,
		readFile:    readBounded,
		pairTries:   5,
		pairWait:    defaultPairWait,
		ticketClock: time.Now,
	}
	if o.observer != nil {
		m.observers = []func(ReloadEvent){o.observer}
	}
	s, srcWarnings, err := loadSettings(ctx, src)
	if err != nil {
		return nil, &ReloadError{Setting: "config", Reason: err.Error(), Err: err}
	}
	// A policy that cannot be applied is a configuration error, not bad
	// material: no degraded start.
	for _, ch := range s.Channels() {
		if _, err := ChannelPolicy(s, ch); err != nil {
			return nil, err
		}
	}
	if m.backend, m.backendInfo, err = resolveBackend(o.backend); err != nil {
		return nil, &ReloadError{Setting: "crypto_backend", Reason: err.Error(), Err: err}
	}
	if want, _ := ParseCryptoBackend(string(o.backend)); want == BackendAuto && m.backend == BackendOpenSSL {
		m.auto = &autoChoices{} // each key kind signed by the backend measured faster here
	}
	m.log(slog.LevelInfo, "crypto backend", "crypto_backend", string(m.backend), "detail", m.backendInfo)
	m.channels = s.Channels()
	// A cluster channel without a CA is a configuration error a reload
	// cannot repair (a CA appearing needs a restart): no degraded start.
	if err := clusterTrust(s, ChannelCluster); err != nil {
		return nil, err
	}
	start := m.now()
	b := m.builder(nil)
	defer b.releaseMemory()
	st := &state{snaps: map[Channel]*Snapshot{}, settings: s, generation: 1, lastTrigger: "startup"}
	for _, w := range capWarnings(append(srcWarnings, unservedWarnings(s)...)) {
		m.log(slog.LevelWarn, "config warning", "warning", w, "trigger", "startup")
	}
	for _, ch := range m.channels {
		out, err := b.build(ctx, ch, s)
		if err != nil {
			if !o.degraded {
				return nil, err
			}
			re := asReloadError(ch, err)
			if st.unavailable == nil {
				st.unavailable = map[Channel]*ReloadError{}
			}
			st.unavailable[ch] = re
			st.snaps[ch] = placeholder(ch, s)
			continue
		}
		out.snap.Generation = 1
		st.snaps[ch] = out.snap
		for _, w := range capWarnings(out.warnings) {
			m.log(slog.LevelWarn, "tls material warning", "channel", string(ch), "warning", w)
		}
	}
	if len(st.unavailable) > 0 {
		st.lastAttempt = start
		st.lastError = st.unavailableError()
	}
	m.serverConfigs = map[Channel]*tls.Config{}
	for _, ch := range m.channels {
		if st.snaps[ch].Enabled() || (st.unavailable[ch] != nil && channelMaterial(s, ch).hasPair()) {
			m.serverConfigs[ch] = m.newServerTLSConfig(ch)
		}
	}
	m.state.Store(st)
	startResult := ResultOK
	var startErr error
	if len(st.unavailable) > 0 {
		startResult, startErr = ResultFailed, errors.New(st.unavailableError())
	}
	m.record(start, "startup", startResult, startErr, st.generation, m.channels, nil, st.snaps)
	for _, ch := range m.channels {
		if re := st.unavailable[ch]; re != nil {
			m.log(slog.LevelError, "tls reload", "result", "failed", "channel", string(ch), "trigger", "startup",
				"error", re.Error(), "degraded", true)
			continue
		}
		m.logSnapshot("loaded", ch, st.snaps[ch], 0, "startup", nil)
	}
	return m, nil
}

// placeholder is the snapshot of a channel a degraded start could not
// build: the configured paths, no certificate, a zero digest (so any
// successful build replaces it).
func placeholder(ch Channel, s Settings) *Snapshot {
	mat := channelMaterial(s, ch)
	policy, _ := ChannelPolicy(s, ch) // checked by New before any channel is built
	return &Snapshot{Channel: ch, CertFile: mat.cert, KeyFile: mat.key, CAFile: mat.ca, CAPath: mat.capath,
		CRLFile: mat.crl, CRLPath: mat.crlpath, Policy: policy}
}

func asReloadError(ch Channel, err error) *ReloadError {
	if re, ok := err.(*ReloadError); ok {
		return re
	}
	return &ReloadError{Channel: ch, Setting: "reload", Reason: err.Error(), Err: err}
}

// unavailableError joins the reasons of the unavailable channels, in
// channel order.
func (st *state) unavailableError() string {
	var parts []string
	for _, ch := range allChannels {
		if re := st.unavailable[ch]; re != nil {
			parts = append(parts, re.Error())
		}
	}
	return strings.Join(parts, "; ")
}

// Unavailable returns why ch has no certificate although one is
// configured (a degraded start that no reload has repaired yet), or nil.
// It takes no lock and is safe to call on every accepted connection.
func (m *Manager) Unavailable(ch Channel) error {
	if re := m.state.Load().unavailable[ch]; re != nil {
		return re
	}
	return nil
}

// builder returns a builder for one New or Reload; prev are the live
// snapshots (nil in New), whose digests let unchanged material skip the
// work of a new signer and config.
func (m *Manager) builder(prev map[Channel]*Snapshot) *builder {
	return &builder{now: m.now, ticketNow: m.ticketClock, readFile: m.readFile, pairTries: m.pairTries, pairWait: m.pairWait, after: m.pairAfter,
		backend: m.backend, auto: m.auto, prev: prev}
}

// Current returns the live snapshot of ch. It never returns nil for a
// served channel after New; it returns nil for a channel that is not
// served (see Settings.Serves) and for an unknown one. It takes no lock
// and is safe to call from a TLS handshake callback.
func (m *Manager) Current(ch Channel) *Snapshot {
	return m.state.Load().snaps[ch]
}

// Status returns the reload bookkeeping. It takes no lock; the values are
// consistent with each other (one reload's result).
func (m *Manager) Status() Status {
	st := m.state.Load()
	out := Status{
		LastAttempt:   st.lastAttempt,
		LastSuccess:   st.lastSuccess,
		LastError:     st.lastError,
		LastTrigger:   st.lastTrigger,
		Generation:    st.generation,
		Settings:      st.settings,
		CryptoBackend: m.backend,
		Channels:      append([]Channel(nil), m.channels...),
	}
	for _, ch := range allChannels {
		if st.unavailable[ch] != nil {
			out.Unavailable = append(out.Unavailable, ch)
		}
	}
	return out
}

// Reload rereads the settings from the Source and the files of every
// served channel (or those chosen with ForChannel), validates them, and publishes
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
	chans, err := m.chosen(ro.channels)
	if err != nil {
		cur := m.state.Load()
		m.record(m.now(), ro.describe(), ResultFailed, err, cur.generation, ro.channels, cur.snaps, cur.snaps)
		m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Generation: cur.generation, Channels: ro.channels})
		return Result{}, err
	}

	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		err := &ReloadError{Setting: "reload", Reason: "cancelled while waiting for another reload: " + ctx.Err().Error(), Err: ctx.Err()}
		cur := m.state.Load()
		m.record(m.now(), ro.describe(), ResultFailed, err, cur.generation, chans, cur.snaps, cur.snaps)
		m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Generation: cur.generation, Channels: chans})
		return Result{}, err
	}
	start := m.now()
	cur := m.state.Load()
	// The build runs on its own goroutine so that the deadline of ctx is
	// kept even when a read blocks (a hung network filesystem): at the
	// deadline the reload fails and nothing is swapped. The goroutine keeps
	// the reload slot until it returns; its late result is dropped.
	type outcome struct {
		res  Result
		next *state
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		res, next, err := m.reload(ctx, cur, chans)
		done <- outcome{res, next, err}
	}()
	var o outcome
	select {
	case o = <-done:
		defer func() { <-m.sem }()
	case <-ctx.Done():
		go func() { <-done; <-m.sem }()
		o.err = &ReloadError{Channel: single(chans), Setting: "reload", Err: ctx.Err(),
			Reason: "did not finish before its deadline (" + ctx.Err().Error() + "); a file read may be blocked; nothing was swapped"}
	}
	res, next, err := o.res, o.next, o.err
	res.Duration = m.now().Sub(start)
	trigger := ro.describe()
	if err != nil {
		failed := *cur
		failed.lastAttempt = start
		failed.lastError = err.Error()
		failed.lastTrigger = trigger
		m.state.Store(&failed)
		m.logFailure(err, res.Duration, trigger)
		m.record(start, trigger, ResultFailed, err, failed.generation, chans, cur.snaps, cur.snaps)
		m.notify(ReloadEvent{Trigger: ro.trigger, Result: ResultFailed, Err: err, Duration: res.Duration, Generation: failed.generation, Channels: chans})
		return Result{}, err
	}
	next.lastAttempt, next.lastSuccess, next.lastError, next.lastTrigger = start, start, "", trigger
	if len(next.unavailable) > 0 {
		// Channels a degraded start left down and this reload did not
		// build: still down, and still the reason to report.
		next.lastError = next.unavailableError()
	}
	m.state.Store(next)
	m.scheduleOverlapExpiry(0)
	res.UntrustedSessions, res.ClosedSessions = m.recheckSessions(next.settings.CloseUntrustedSessions, trigger)
	result := ResultOK
	if !res.Changed {
		result = ResultUnchanged
	}
	for _, ch := range chans {
		m.logSnapshot(result, ch, next.snaps[ch], res.Duration, trigger, cur.snaps[ch])
	}
	m.record(start, trigger, result, nil, next.generation, chans, cur.snaps, next.snaps)
	for _, w := range res.Warnings {
		m.log(slog.LevelWarn, "tls reload warning", "warning", w, "trigger", trigger)
	}
	m.notify(ReloadEvent{Trigger: ro.trigger, Result: result, Duration: res.Duration, Generation: res.Generation, Channels: chans,
		ClosedSessions: res.ClosedSessions})
	return res, nil
}

// chosen returns the channels of a reload or a dry run: every served
// channel when want is empty, else want deduplicated in canonical order.
// An unknown channel or one that is not served is an error.
func (m *Manager) chosen(want []Channel) ([]Channel, error) {
	if len(want) == 0 {
		return m.channels, nil
	}
	for _, w := range want {
		if !w.valid() {
			return nil, &ReloadError{Channel: w, Setting: "channel", Reason: fmt.Sprintf("unknown channel %q", w)}
		}
		if !slices.Contains(m.channels, w) {
			return nil, &ReloadError{Channel: w, Setting: "channel", Err: ErrChannelNotServed,
				Reason: "this node does not serve the " + string(w) + " channel (cluster_listen is not set); there is nothing to reload"}
		}
	}
	var chans []Channel
	for _, ch := range m.channels { // dedupe, keep canonical order
		if slices.Contains(want, ch) {
			chans = append(chans, ch)
		}
	}
	return chans, nil
}

// reload builds the next state from cur without publishing anything.
func (m *Manager) reload(ctx context.Context, cur *state, chans []Channel) (Result, *state, error) {
	s, srcWarnings, err := loadSettings(ctx, m.src)
	if err != nil {
		return Result{}, nil, &ReloadError{Channel: single(chans), Setting: "config", Reason: err.Error(), Err: err}
	}
	if err := checkShape(cur.settings, s, chans); err != nil {
		return Result{}, nil, err
	}
	b := m.builder(cur.snaps)
	defer b.releaseMemory()
	next := &state{snaps: map[Channel]*Snapshot{}, generation: cur.generation}
	for ch, snap := range cur.snaps {
		next.snaps[ch] = snap
	}
	var res Result
	res.Warnings = append(res.Warnings, srcWarnings...)
	res.Warnings = append(res.Warnings, unservedWarnings(s)...)
	for ch, re := range cur.unavailable {
		if next.unavailable == nil {
			next.unavailable = map[Channel]*ReloadError{}
		}
		next.unavailable[ch] = re
	}
	changed := false
	var found channelFindings
	for _, ch := range chans {
		if err := ctx.Err(); err != nil {
			return Result{}, nil, &ReloadError{Channel: ch, Setting: "reload", Reason: "cancelled: " + err.Error(), Err: err}
		}
		out, err := b.build(ctx, ch, s)
		if err != nil {
			return Result{}, nil, err
		}
		if err := guardIdentity(s, cur.snaps[ch], out.snap); err != nil {
			return Result{}, nil, err
		}
		found.add(ch, out.warnings)
		if out.snap.digest != cur.snaps[ch].digest {
			next.snaps[ch] = out.snap
			changed = true
		}
		delete(next.unavailable, ch)
	}
	res.Warnings = capWarnings(distinct(append(res.Warnings, found.warnings()...)))
	next.settings = mergeSettings(cur.settings, s, chans)
	if !sameMaterial(next.settings, cur.settings) {
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

// logSnapshot logs one channel of a load; old is the channel's snapshot
// before it (nil at start-up). A changed certificate or CA set adds the
// old serial and fingerprint and the CA subjects added and removed, as
// History records them.
func (m *Manager) logSnapshot(result string, ch Channel, s *Snapshot, d time.Duration, trigger string, old *Snapshot) {
	if m.logger == nil {
		return
	}
	args := []any{"result", result, "channel", string(ch), "generation", s.Generation,
		"duration", d, "trigger", trigger}
	if s.Enabled() {
		// With several certificates, each one's, in the order of ssl_cert.
		var after []string
		for _, c := range s.Served() {
			after = append(after, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		args = append(args, "serial", s.serials(), "fingerprint", s.fingerprints(), "not_after", strings.Join(after, ","))
	} else {
		args = append(args, "tls", "off")
	}
	if old != nil && old != s {
		c := channelChange(ch, old, s)
		if c.OldFingerprint != c.NewFingerprint {
			args = append(args, "old_serial", c.OldSerial, "old_fingerprint", c.OldFingerprint)
		}
		if len(c.CAAdded) > 0 {
			args = append(args, "ca_added", c.CAAdded)
		}
		if len(c.CARemoved) > 0 {
			args = append(args, "ca_removed", c.CARemoved)
		}
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

// channelFindings collects the warnings of each channel's build. A channel
// that falls back to the ssl_* files finds what the client channel finds;
// that is one finding, not one per channel.
type channelFindings struct {
	order []string
	by    map[string][]Channel
}

func (f *channelFindings) add(ch Channel, warnings []string) {
	if f.by == nil {
		f.by = map[string][]Channel{}
	}
	for _, w := range warnings {
		// A finding that names its channel already is grouped by what it
		// says; warnings names the channel again where it is specific.
		w = strings.TrimPrefix(w, "channel "+string(ch)+": ")
		if _, seen := f.by[w]; !seen {
			f.order = append(f.order, w)
		}
		f.by[w] = append(f.by[w], ch)
	}
}

// warnings returns each finding once, naming the channels it applies to:
// "channel cluster: ..." for one, "channels client, cluster: ..." for a
// file both channels read.
func (f *channelFindings) warnings() []string {
	var out []string
	for _, w := range f.order {
		chans := f.by[w]
		names := make([]string, len(chans))
		for i, ch := range chans {
			names[i] = string(ch)
		}
		prefix := "channel "
		if len(chans) > 1 {
			prefix = "channels "
		}
		out = append(out, prefix+strings.Join(names, ", ")+": "+w)
	}
	return out
}

// MaxWarnings is how many warnings a reload (or a check) reports and logs:
// MySQL's max_error_count default, 1024, which is also how many SHOW
// WARNINGS lists. Past it the first MaxWarnings-1 are kept and the last
// line says how many were left out.
const MaxWarnings = 1024

// capWarnings bounds ws to MaxWarnings lines (see MaxWarnings).
func capWarnings(ws []string) []string {
	if len(ws) <= MaxWarnings {
		return ws
	}
	out := make([]string, 0, MaxWarnings)
	out = append(out, ws[:MaxWarnings-1]...)
	return append(out, fmt.Sprintf("%d more warnings were left out (at most %d are reported, as MySQL's max_error_count)",
		len(ws)-(MaxWarnings-1), MaxWarnings))
}

// distinct drops repeated warnings, keeping the first of each.
func distinct(ws []string) []string {
	seen := make(map[string]bool, len(ws))
	out := ws[:0]
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
