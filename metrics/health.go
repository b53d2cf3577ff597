package metrics

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ssld/ssld/tlsctx"
)

// health returns "" when every listener accepts connections, the client
// channel serves a certificate that is valid now and the cluster channel,
// where it is served, has one, else the reason it does not. A failed last
// reload alone is not unhealthy: the previous certificate is still
// served, and ssld_tls_last_reload_failed is the signal for that. A
// channel that is not served (no cluster_listen) plays no part.
func (m *Metrics) health() string {
	m.mu.Lock()
	for _, l := range allListeners {
		if why, ok := m.stopped[l]; ok {
			m.mu.Unlock()
			return fmt.Sprintf("listener %s stopped accepting connections: %s", l, why)
		}
	}
	m.mu.Unlock()
	snap := m.src.Current(tlsctx.ChannelClient)
	if snap == nil || !snap.Enabled() {
		if why := m.unavailable(tlsctx.ChannelClient); why != "" {
			// A degraded start: say why, so the probe's log is the runbook.
			return "client channel has no certificate loaded (the listen port refuses every connection): " + why
		}
		return "client channel has no certificate loaded"
	}
	now := m.now()
	// Every certificate served: an expired RSA one fails the clients that
	// get it as surely as an expired first one.
	for _, c := range snap.Served() {
		if now.After(c.Leaf.NotAfter) {
			return fmt.Sprintf("client certificate (serial %s) expired at %s", c.Serial(), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(c.Leaf.NotBefore) {
			return fmt.Sprintf("client certificate (serial %s) is not valid before %s", c.Serial(), c.Leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if why := m.unavailable(tlsctx.ChannelCluster); why != "" {
		return "cluster channel has no certificate loaded (the cluster_listen port refuses every connection): " + why
	}
	return ""
}

// unavailable is why a degraded start left ch without its certificate, ""
// when it has one or is not served.
func (m *Metrics) unavailable(ch tlsctx.Channel) string {
	if g, ok := m.src.(interface{ Unavailable(tlsctx.Channel) error }); ok {
		if err := g.Unavailable(ch); err != nil {
			return err.Error()
		}
		return ""
	}
	// A Source without per-channel reasons: the joined ones.
	for _, u := range m.src.Status().Unavailable {
		if u == ch {
			return m.src.Status().LastError
		}
	}
	return ""
}

// serveLive answers 200 "ok": the process is up and serving HTTP.
func serveLive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// serveHealth answers 200 "ok" or 503 with the reason, as plain text.
func (m *Metrics) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if reason := m.health(); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, reason)
		return
	}
	fmt.Fprintln(w, "ok")
}
