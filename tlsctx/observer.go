package tlsctx

import "time"

// ReloadEvent describes one finished Reload call, for an observer
// registered with WithObserver (metrics, audit logs).
type ReloadEvent struct {
	Trigger    string        // what caused the reload, see WithTrigger ("api" by default)
	Result     string        // "ok", "unchanged" or "failed"
	Err        error         // the *ReloadError when Result is "failed", else nil
	Duration   time.Duration // time spent building (zero when it never started)
	Generation uint64        // the generation live after the call
	Channels   []Channel     // the channels the call was asked to reload
	// ClosedSessions is how many tracked sessions the reload closed
	// because their peer is no longer trusted (Settings.CloseUntrustedSessions).
	ClosedSessions int
}

// Reload results reported in ReloadEvent.Result.
const (
	ResultOK        = "ok"
	ResultUnchanged = "unchanged"
	ResultFailed    = "failed"
)

// WithObserver makes the Manager call fn once after every Reload call
// returns its result, successful or not, including calls that fail before
// they start (an unknown channel, ctx cancelled while waiting for another
// reload). The initial load in New is not reported.
//
// fn is called synchronously on the reloading goroutine, in reload order,
// while the next reload waits: it must not block and must not call Reload.
// It should only update counters or hand the event off.
func WithObserver(fn func(ReloadEvent)) Option {
	return func(o *options) { o.observer = fn }
}

// AddObserver registers fn after New, for parts built on the Manager (a
// metrics registry that reads it, say): fn is called as a WithObserver
// observer is, after those registered before it, for every Reload call
// that starts after AddObserver returns. Safe for concurrent use.
func (m *Manager) AddObserver(fn func(ReloadEvent)) {
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	m.observers = append(m.observers[:len(m.observers):len(m.observers)], fn)
}

func (m *Manager) notify(ev ReloadEvent) {
	m.obsMu.Lock()
	obs := m.observers
	m.obsMu.Unlock()
	for _, fn := range obs {
		// A copy each: chans may be the package's allChannels.
		e := ev
		e.Channels = append([]Channel(nil), ev.Channels...)
		fn(e)
	}
}
