package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// node is a tlsctx.Manager over generated files, with Metrics fed by its
// observer, served on 127.0.0.1:0.
type node struct {
	dir string
	ca  *pki.CA
	mgr *tlsctx.Manager
	met *Metrics
	url string
}

// newNode serves the cluster channel too (falling back to the same files).
func newNode(t *testing.T) *node { return newNodeCluster(t, tlsctx.ClusterOn) }

func newNodeCluster(t *testing.T, cluster tlsctx.ClusterMode) *node {
	t.Helper()
	n := &node{dir: t.TempDir(), ca: pkitest.MustCA(t, "metrics root")}
	require.NoError(t, pki.WriteFile(n.path("ca.crt"), n.ca.CertPEM, 0o644))
	n.rotate(t)
	var met *Metrics
	mgr, err := tlsctx.New(context.Background(),
		tlsctx.StaticSource(tlsctx.Settings{SSLCert: n.path("server.crt"), SSLKey: n.path("server.key"), SSLCA: n.path("ca.crt"),
			Cluster: cluster}),
		tlsctx.WithObserver(func(ev tlsctx.ReloadEvent) { met.ObserveReload(ev) }))
	require.NoError(t, err)
	met = New(mgr)
	n.mgr, n.met = mgr, met

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: met.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	n.url = "http://" + ln.Addr().String()
	return n
}

func (n *node) path(name string) string { return filepath.Join(n.dir, name) }

// rotate writes a new server pair and returns its leaf.
func (n *node) rotate(t *testing.T) *pki.Leaf {
	t.Helper()
	l := pkitest.MustIssue(t, n.ca, pki.DevServerOptions())
	require.NoError(t, pki.WriteFile(n.path("server.crt"), l.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(n.path("server.key"), l.KeyPEM, 0o600))
	return l
}

func (n *node) scrape(t *testing.T) testenv.Scrape {
	t.Helper()
	return testenv.ScrapeMetrics(t, n.url+"/metrics")
}

func unix(tm time.Time) float64 { return float64(tm.UnixNano()) / 1e9 }

func TestScrapeFollowsReloads(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	leaf1 := n.mgr.Current(tlsctx.ChannelClient).Leaf

	s := n.scrape(t)
	assert.Equal(t, unix(leaf1.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "client"))
	assert.Equal(t, unix(leaf1.NotBefore), s.Value(t, "ssld_tls_certificate_not_before_seconds", "channel", "client"))
	assert.Equal(t, unix(leaf1.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "cluster"), "cluster falls back to ssl_*")
	assert.Equal(t, unix(leaf1.NotAfter), s.Value(t, "ssld_tls_chain_not_after_seconds", "channel", "client"), "the leaf expires before its 10-year CA")
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_reload_generation"))
	assert.Equal(t, 0.0, s.Value(t, "ssld_tls_last_reload_attempt_timestamp_seconds"), "0 before the first reload")
	assert.Equal(t, 0.0, s.Value(t, "ssld_tls_last_reload_success_timestamp_seconds"))
	assert.Equal(t, 0.0, s.Value(t, "ssld_tls_last_reload_failed"))
	for _, trig := range []string{"sql", "signal", "watch"} {
		for _, res := range []string{"ok", "unchanged", "failed"} {
			assert.Equal(t, 0.0, s.Value(t, "ssld_tls_reloads_total", "trigger", trig, "result", res), "pre-initialised %s/%s", trig, res)
		}
	}
	for _, f := range []string{"cert", "key", "ca"} {
		assert.Greater(t, s.Value(t, "ssld_tls_file_modified_timestamp_seconds", "channel", "client", "file", f), 0.0)
	}
	assert.Greater(t, s.Value(t, "ssld_tls_certificate_loaded_timestamp_seconds", "channel", "client"), 0.0)
	_, hasGo := s.Lookup("go_goroutines")
	assert.True(t, hasGo, "Go runtime metrics are included")

	// A successful reload with new material.
	leaf2 := n.rotate(t)
	_, err := n.mgr.Reload(ctx, tlsctx.WithTrigger("sql"))
	require.NoError(t, err)
	s = n.scrape(t)
	st := n.mgr.Status()
	assert.Equal(t, unix(leaf2.Cert.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "client"))
	assert.Equal(t, 2.0, s.Value(t, "ssld_tls_reload_generation"))
	assert.Equal(t, unix(st.LastAttempt), s.Value(t, "ssld_tls_last_reload_attempt_timestamp_seconds"))
	assert.Equal(t, unix(st.LastSuccess), s.Value(t, "ssld_tls_last_reload_success_timestamp_seconds"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_reloads_total", "trigger", "sql", "result", "ok"))
	assert.Equal(t, unix(n.mgr.Current(tlsctx.ChannelClient).LoadedAt), s.Value(t, "ssld_tls_certificate_loaded_timestamp_seconds", "channel", "client"))

	// A failed reload: old expiry, failed=1, success time unchanged.
	require.NoError(t, pki.WriteFile(n.path("server.crt"), []byte("garbage"), 0o644))
	// A renewal comes long after the load; the file system's clock can lag
	// time.Now() by a tick, so date the write explicitly.
	later := n.mgr.Current(tlsctx.ChannelClient).LoadedAt.Add(time.Second)
	require.NoError(t, os.Chtimes(n.path("server.crt"), later, later))
	_, err = n.mgr.Reload(ctx, tlsctx.WithTrigger("watch"))
	require.Error(t, err)
	s = n.scrape(t)
	assert.Equal(t, unix(leaf2.Cert.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "client"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_last_reload_failed"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_reloads_total", "trigger", "watch", "result", "failed"))
	assert.Equal(t, unix(st.LastSuccess), s.Value(t, "ssld_tls_last_reload_success_timestamp_seconds"))
	assert.Greater(t, s.Value(t, "ssld_tls_last_reload_attempt_timestamp_seconds"), unix(st.LastSuccess))
	assert.Greater(t, s.Value(t, "ssld_tls_file_modified_timestamp_seconds", "channel", "client", "file", "cert"),
		s.Value(t, "ssld_tls_certificate_loaded_timestamp_seconds", "channel", "client"),
		"the file on disk is newer than the served material: what the stale-files alert looks for")

	// Fixed, then the same bytes again: ok, then unchanged.
	require.NoError(t, pki.WriteFile(n.path("server.crt"), leaf2.CertPEM, 0o644))
	_, err = n.mgr.Reload(ctx, tlsctx.WithTrigger("signal"))
	require.NoError(t, err)
	_, err = n.mgr.Reload(ctx, tlsctx.WithTrigger("signal"))
	require.NoError(t, err)
	_, err = n.mgr.Reload(ctx) // default trigger
	require.NoError(t, err)
	s = n.scrape(t)
	assert.Equal(t, 0.0, s.Value(t, "ssld_tls_last_reload_failed"))
	assert.Equal(t, 2.0, s.Value(t, "ssld_tls_reloads_total", "trigger", "signal", "result", "unchanged"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_reloads_total", "trigger", "api", "result", "unchanged"))
	assert.Equal(t, 2.0, s.Value(t, "ssld_tls_reload_generation"), "same bytes as generation 2")
}

func TestTrafficCounters(t *testing.T) {
	n := newNode(t)
	for i := 0; i < 3; i++ {
		n.met.TLSHandshake(ListenerClient, true)
	}
	n.met.TLSHandshake(ListenerCluster, true)
	n.met.TLSHandshake(ListenerClient, false)
	n.met.Login(ListenerClient, true)
	n.met.Login(ListenerSocket, true)
	n.met.Login(ListenerSocket, false)
	n.met.ConnOpened(ListenerClient)
	n.met.ConnOpened(ListenerClient)
	n.met.ConnClosed(ListenerClient)
	n.met.ListenerStarted(ListenerClient)
	n.met.AcceptError(ListenerClient, errors.New("accept: too many open files"), false)

	s := n.scrape(t)
	assert.Equal(t, 3.0, s.Value(t, "ssld_handshakes_total", "listener", "client"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_handshakes_total", "listener", "cluster"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_handshake_failures_total", "listener", "client"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_logins_total", "listener", "client", "result", "ok"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_logins_total", "listener", "socket", "result", "failed"))
	assert.Equal(t, 0.0, s.Value(t, "ssld_logins_total", "listener", "cluster", "result", "failed"), "exists at 0")
	assert.Equal(t, 1.0, s.Value(t, "ssld_connections", "listener", "client"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_accept_errors_total", "listener", "client"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_listener_up", "listener", "client"))
	assert.Equal(t, 0.0, s.Value(t, "ssld_recovered_panics_total"), "exists at 0 before SetRecoveredPanics")
	var panics int64 = 3
	n.met.SetRecoveredPanics(func() int64 { return panics })
	assert.Equal(t, 3.0, n.scrape(t).Value(t, "ssld_recovered_panics_total"), "read on every scrape")
	panics = 4
	assert.Equal(t, 4.0, n.scrape(t).Value(t, "ssld_recovered_panics_total"))

	// The label values are exactly the documented ones.
	want := map[string][]string{
		"ssld_handshakes_total":         {"client", "cluster"},
		"ssld_handshake_failures_total": {"client", "cluster"},
		"ssld_logins_total":             {"client", "cluster", "socket"},
		"ssld_connections":              {"client", "cluster", "socket"},
		"ssld_accept_errors_total":      {"client", "cluster", "socket"},
	}
	for name, values := range want {
		assert.ElementsMatch(t, values, s.LabelValues(name, "listener"), name)
	}
	assert.ElementsMatch(t, []string{"ok", "failed"}, s.LabelValues("ssld_logins_total", "result"))

	var off *Metrics // metrics disabled: the calls are no-ops
	off.TLSHandshake("client", true)
	off.Login("client", false)
	off.ConnOpened("client")
	off.ConnClosed("client")
	off.ListenerStarted("client")
	off.AcceptError("client", errors.New("x"), true)
	off.ObserveReload(tlsctx.ReloadEvent{Result: "ok"})
	off.SetRecoveredPanics(func() int64 { return 1 })
}

// TestHealthzListenerStopped: a listener that stopped accepting for good
// makes /healthz fail with the reason; a temporary accept error does not.
func TestHealthzListenerStopped(t *testing.T) {
	n := newNode(t)
	n.met.AcceptError(ListenerClient, errors.New("accept tcp 127.0.0.1:3307: too many open files"), false)
	code, _ := testenv.HTTPGet(t, n.url+"/healthz")
	assert.Equal(t, http.StatusOK, code, "a retried accept error is not unhealthy")
	n.met.AcceptError(ListenerClient, errors.New("accept tcp 127.0.0.1:3307: bad file descriptor"), true)
	code, body := testenv.HTTPGet(t, n.url+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "listener client stopped accepting connections: accept tcp 127.0.0.1:3307: bad file descriptor\n", body)
	assert.Equal(t, 0.0, n.scrape(t).Value(t, "ssld_listener_up", "listener", "client"))
}

func TestHealthz(t *testing.T) {
	n := newNode(t)
	code, body := testenv.HTTPGet(t, n.url+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	// The clock seam is read by the handler goroutine, so the expiry cases
	// call health directly; the 503 path over HTTP is covered by
	// TestHealthzWithoutCertificate.
	snap := n.mgr.Current(tlsctx.ChannelClient)
	m := New(n.mgr)
	m.now = func() time.Time { return snap.NotAfter().Add(time.Second) }
	assert.Equal(t, fmt.Sprintf("client certificate (serial %s) expired at %s", snap.Serial(), snap.NotAfter().UTC().Format(time.RFC3339)), m.health())
	m.now = func() time.Time { return snap.NotBefore().Add(-time.Second) }
	assert.Contains(t, m.health(), "is not valid before")

	code, _ = testenv.HTTPGet(t, n.url+"/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

// noTLS is a Source whose client channel has TLS off.
type noTLS struct{}

func (noTLS) Status() tlsctx.Status { return tlsctx.Status{Generation: 1} }
func (noTLS) Current(ch tlsctx.Channel) *tlsctx.Snapshot {
	return &tlsctx.Snapshot{Channel: ch}
}

func TestHealthzWithoutCertificate(t *testing.T) {
	m := New(noTLS{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	code, body := testenv.HTTPGet(t, "http://"+ln.Addr().String()+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "client channel has no certificate loaded\n", body)

	// Alive all the same: the liveness probe must not restart it.
	code, body = testenv.HTTPGet(t, "http://"+ln.Addr().String()+"/livez")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	// /metrics still works, without per-channel certificate samples.
	code, body = testenv.HTTPGet(t, "http://"+ln.Addr().String()+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, "ssld_tls_certificate_not_after_seconds{")
	assert.Contains(t, body, "ssld_tls_reload_generation 1")
}

// TestChainNotAfter: when an intermediate served with the leaf or the CA
// expires before the leaf, ssld_tls_chain_not_after_seconds reports the
// first of them to expire and ssld_tls_certificate_not_after_seconds still
// the leaf's.
func TestChainNotAfter(t *testing.T) {
	n := newNode(t)
	now := time.Now()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name        string
		root, inter time.Duration
		first       func(pkitest.Chain) time.Time
	}{
		{"intermediate first", 25 * day, 20 * day, func(c pkitest.Chain) time.Time { return c.Intermediate.Cert.NotAfter }},
		{"CA first", 15 * day, 20 * day, func(c pkitest.Chain) time.Time { return c.Root.Cert.NotAfter }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pkitest.MustChain(t, now.Add(tc.root), now.Add(tc.inter), now.Add(60*day))
			require.NoError(t, pki.WriteFile(n.path("server.crt"), c.Leaf.ChainPEM(c.Intermediate), 0o644))
			require.NoError(t, pki.WriteFile(n.path("server.key"), c.Leaf.KeyPEM, 0o600))
			require.NoError(t, pki.WriteFile(n.path("ca.crt"), c.Root.CertPEM, 0o644))
			_, err := n.mgr.Reload(context.Background())
			require.NoError(t, err)
			s := n.scrape(t)
			for _, ch := range []string{"client", "cluster"} {
				assert.Equal(t, unix(c.Leaf.Cert.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", ch))
				assert.Equal(t, unix(tc.first(c)), s.Value(t, "ssld_tls_chain_not_after_seconds", "channel", ch))
			}
		})
	}
}

// TestServedChannelsOnly: a node that does not serve the cluster channel
// has no cluster samples; one whose served cluster channel could not be
// built at start fails /healthz naming that channel and its port, while
// the client channel's samples are there.
func TestServedChannelsOnly(t *testing.T) {
	n := newNodeCluster(t, tlsctx.ClusterAuto)
	s := n.scrape(t)
	_, ok := s.Lookup("ssld_tls_certificate_not_after_seconds", "channel", "client")
	assert.True(t, ok)
	for _, name := range []string{"ssld_tls_certificate_not_after_seconds", "ssld_tls_chain_not_after_seconds", "ssld_tls_certificate_loaded_timestamp_seconds"} {
		_, ok := s.Lookup(name, "channel", "cluster")
		assert.False(t, ok, "%s has a cluster sample on a node without the cluster channel", name)
	}
	code, _ := testenv.HTTPGet(t, n.url+"/healthz")
	assert.Equal(t, http.StatusOK, code)

	// The cluster channel served, its certificate missing: a degraded start.
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: n.path("server.crt"), SSLKey: n.path("server.key"), SSLCA: n.path("ca.crt"),
		ClusterSSLCert: n.path("missing.crt"), ClusterSSLKey: n.path("missing.key"), Cluster: tlsctx.ClusterOn,
	}), tlsctx.WithDegradedStart())
	require.NoError(t, err)
	m := New(mgr)
	assert.Equal(t, `cluster channel has no certificate loaded (the cluster_listen port refuses every connection): channel cluster: cluster_ssl_cert "`+
		n.path("missing.crt")+`": file does not exist`, m.health())
}
