// Package metrics exposes ssld's TLS state and traffic counters in the
// Prometheus text format, plus a health check.
//
// Values that describe the live TLS material (expiry, generation, reload
// timestamps) are read from the Source on every scrape, never copied, so a
// scrape always agrees with SHOW VARIABLES. Counters (reloads, handshakes,
// connections) are updated by the daemon through methods on Metrics; the
// reload counter is fed by a tlsctx observer:
//
//	var met *metrics.Metrics
//	mgr, err := tlsctx.New(ctx, src, tlsctx.WithObserver(func(ev tlsctx.ReloadEvent) { met.ObserveReload(ev) }))
//	met = metrics.New(mgr) // before the first Reload: New does not report its load
//
// Every metric is documented in docs/metrics.md.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssld/ssld/tlsctx"
)

// Source is where the live TLS state comes from; *tlsctx.Manager
// satisfies it. Both methods are called on every scrape and health check
// and must be safe for concurrent use.
type Source interface {
	Status() tlsctx.Status
	Current(ch tlsctx.Channel) *tlsctx.Snapshot
}

var _ Source = (*tlsctx.Manager)(nil)

// Known reload triggers and results; their counters exist from the start
// at zero, so rate() and increase() work before the first reload.
var (
	knownTriggers = []string{"sql", "signal", "watch", tlsctx.TriggerCAOverlapExpiry}
	knownResults  = []string{tlsctx.ResultOK, tlsctx.ResultUnchanged, tlsctx.ResultFailed}
)

// Metrics holds ssld's Prometheus metrics in a registry of its own (not
// the global one, so embedding programs and tests do not collide). Create
// it with New. All methods are safe for concurrent use, and the counter
// methods are safe on a nil *Metrics, where they do nothing, so callers
// need no check when metrics are off.
type Metrics struct {
	src Source
	now func() time.Time // seam for the health check's expiry test
	reg *prometheus.Registry

	reloads           *prometheus.CounterVec
	handshakes        *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
	logins            *prometheus.CounterVec
	connections       *prometheus.GaugeVec
	acceptErrors      *prometheus.CounterVec
	listenerUp        *prometheus.GaugeVec
	untrustedClosed   prometheus.Counter

	// perConn holds the children of the per-connection metrics for the
	// known listeners, looked up once in New: every connection counts in
	// three or four of them, and WithLabelValues hashes and checks the
	// label values on each call. Read-only after New.
	perConn map[string]*connMetrics

	mu      sync.Mutex
	stopped map[string]string // listener -> why it stopped accepting for good

	panics atomic.Pointer[func() int64] // SetRecoveredPanics; nil reads 0
}

// connMetrics are one listener's per-connection metrics.
type connMetrics struct {
	handshakes, handshakeFailures prometheus.Counter // nil for the Unix socket
	loginsOK, loginsFailed        prometheus.Counter
	connections                   prometheus.Gauge
}

// Listener label values: the TCP listener of `listen` (client channel),
// the one of `cluster_listen`, and the Unix socket.
const (
	ListenerClient  = "client"
	ListenerCluster = "cluster"
	ListenerSocket  = "socket"
)

var (
	tlsListeners = []string{ListenerClient, ListenerCluster}
	allListeners = []string{ListenerClient, ListenerCluster, ListenerSocket}
)

// New creates the metrics for src and registers them, with the Go runtime
// and process collectors, in a new registry.
func New(src Source) *Metrics {
	m := &Metrics{
		src: src,
		now: time.Now,
		reg: prometheus.NewRegistry(),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssld_tls_reloads_total",
			Help: "TLS reloads by trigger (sql, signal, watch, api) and result (ok, unchanged, failed).",
		}, []string{"trigger", "result"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssld_handshakes_total",
			Help: "Completed TLS handshakes by listener (client, cluster); logins are ssld_logins_total.",
		}, []string{"listener"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssld_handshake_failures_total",
			Help: "Failed TLS handshakes by listener (client, cluster).",
		}, []string{"listener"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssld_logins_total",
			Help: "MySQL logins by listener (client, cluster, socket) and result (ok, failed).",
		}, []string{"listener", "result"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ssld_connections",
			Help: "Open connections by listener (client, cluster, socket).",
		}, []string{"listener"}),
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssld_accept_errors_total",
			Help: "Failed accept calls by listener (client, cluster, socket), retried with backoff unless the listener stopped.",
		}, []string{"listener"}),
		untrustedClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ssld_tls_sessions_closed_untrusted_total",
			Help: "Open TLS sessions closed by a reload because the new CA set or CRLs no longer trust their client certificate (ssl_close_untrusted_sessions).",
		}),
		listenerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ssld_listener_up",
			Help: "1 while a listener (client, cluster, socket) accepts connections, 0 once it stopped for good.",
		}, []string{"listener"}),
	}
	for _, t := range knownTriggers {
		for _, r := range knownResults {
			m.reloads.WithLabelValues(t, r)
		}
	}
	m.perConn = map[string]*connMetrics{}
	for _, l := range allListeners {
		m.perConn[l] = &connMetrics{
			loginsOK:     m.logins.WithLabelValues(l, "ok"),
			loginsFailed: m.logins.WithLabelValues(l, "failed"),
			connections:  m.connections.WithLabelValues(l),
		}
		m.acceptErrors.WithLabelValues(l)
	}
	for _, l := range tlsListeners {
		m.perConn[l].handshakes = m.handshakes.WithLabelValues(l)
		m.perConn[l].handshakeFailures = m.handshakeFailures.WithLabelValues(l)
	}
	m.reg.MustRegister(
		&liveCollector{m: m},
		m.reloads, m.handshakes, m.handshakeFailures, m.logins, m.connections, m.acceptErrors, m.listenerUp, m.untrustedClosed,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ssld_recovered_panics_total",
			Help: "Panics recovered in connection goroutines since start (each closed its connection); the Ssld_recovered_panics status variable.",
		}, m.recoveredPanics),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SetRecoveredPanics makes ssld_recovered_panics_total read f on every
// scrape (the daemon passes protocol.RecoveredPanics, which SHOW STATUS
// reads too, so both always agree). Until it is set the counter is 0.
func (m *Metrics) SetRecoveredPanics(f func() int64) {
	if m == nil || f == nil {
		return
	}
	m.panics.Store(&f)
}

func (m *Metrics) recoveredPanics() float64 {
	if f := m.panics.Load(); f != nil {
		return float64((*f)())
	}
	return 0
}

// ObserveReload counts one reload in ssld_tls_reloads_total. Its signature
// fits tlsctx.WithObserver; it does not block.
func (m *Metrics) ObserveReload(ev tlsctx.ReloadEvent) {
	if m == nil {
		return
	}
	trigger := ev.Trigger
	if trigger == "" {
		trigger = "api"
	}
	m.reloads.WithLabelValues(trigger, ev.Result).Inc()
	if ev.ClosedSessions > 0 {
		m.untrustedClosed.Add(float64(ev.ClosedSessions))
	}
}

// TLSHandshake counts a TLS handshake on listener (client, cluster) in
// ssld_handshakes_total or, when it failed, ssld_handshake_failures_total.
func (m *Metrics) TLSHandshake(listener string, ok bool) {
	if m == nil {
		return
	}
	pc := m.perConn[listener]
	switch {
	case ok && pc != nil && pc.handshakes != nil:
		pc.handshakes.Inc()
	case ok:
		m.handshakes.WithLabelValues(listener).Inc()
	case pc != nil && pc.handshakeFailures != nil:
		pc.handshakeFailures.Inc()
	default:
		m.handshakeFailures.WithLabelValues(listener).Inc()
	}
}

// Login counts a MySQL login on listener in ssld_logins_total.
func (m *Metrics) Login(listener string, ok bool) {
	if m == nil {
		return
	}
	if pc := m.perConn[listener]; pc != nil {
		if ok {
			pc.loginsOK.Inc()
		} else {
			pc.loginsFailed.Inc()
		}
		return
	}
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.logins.WithLabelValues(listener, result).Inc()
}

// ListenerStarted marks listener as accepting (ssld_listener_up 1).
func (m *Metrics) ListenerStarted(listener string) {
	if m != nil {
		m.listenerUp.WithLabelValues(listener).Set(1)
	}
}

// AcceptError counts a failed accept on listener. permanent means the
// listener stopped accepting for good: ssld_listener_up goes to 0 and
// /healthz fails with err from then on.
func (m *Metrics) AcceptError(listener string, err error, permanent bool) {
	if m == nil {
		return
	}
	m.acceptErrors.WithLabelValues(listener).Inc()
	if !permanent {
		return
	}
	m.listenerUp.WithLabelValues(listener).Set(0)
	m.mu.Lock()
	if m.stopped == nil {
		m.stopped = map[string]string{}
	}
	m.stopped[listener] = err.Error()
	m.mu.Unlock()
}

// ConnOpened counts an accepted connection on listener as open.
func (m *Metrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	if pc := m.perConn[listener]; pc != nil {
		pc.connections.Inc()
		return
	}
	m.connections.WithLabelValues(listener).Inc()
}

// ConnClosed counts a connection on listener as closed; call it exactly
// once for every ConnOpened.
func (m *Metrics) ConnClosed(listener string) {
	if m == nil {
		return
	}
	if pc := m.perConn[listener]; pc != nil {
		pc.connections.Dec()
		return
	}
	m.connections.WithLabelValues(listener).Dec()
}

// Registry returns the registry behind Handler, for registering more
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics (Prometheus text format, from this Metrics'
// registry only), /healthz (see health) and /livez (200 "ok" whenever the
// process answers: a liveness probe, so that a node which started
// degraded is not restarted in a loop while it waits to be repaired). Any
// other path is 404. Safe
// for concurrent use; mount it on the metrics_listen server.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg,
		promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})))
	mux.HandleFunc("GET /healthz", m.serveHealth)
	mux.HandleFunc("GET /livez", serveLive)
	return mux
}
