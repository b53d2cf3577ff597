package node_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestWatchAndMetrics: with watch: true, new files on disk are served with
// no statement sent, a bad file keeps the old certificate and sets
// ssl_last_reload_error, fixing it recovers; /metrics follows along.
func TestWatchAndMetrics(t *testing.T) {
	tn := nodetest.New(t, "watch: true\nmetrics_listen: 127.0.0.1:0\n")
	require.True(t, tn.N.Watching())
	metricsURL := "http://" + tn.N.MetricsAddr().String() + "/metrics"
	db := tn.DB("admin", nodetest.AdminPW, tn.TLSName(nil))
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, cond, "waiting for %s", what)
	}

	newSerial := tn.Rotate()
	waitFor("the new certificate to be served", func() bool { return tn.ServedSerial() == newSerial })
	assert.Equal(t, newSerial, nodetest.OpenSSLSerial(t, tn.Addr), "openssl s_client sees the watched renewal")

	crt := filepath.Join(tn.Dir, "certs/server.crt")
	require.NoError(t, os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o644))
	waitFor("the reload error", func() bool { return nodetest.Variable(t, db, "ssl_last_reload_error") != "" })
	assert.Contains(t, nodetest.Variable(t, db, "ssl_last_reload_error"), crt)
	assert.Equal(t, newSerial, tn.ServedSerial())

	fixed := tn.Rotate()
	waitFor("recovery", func() bool { return tn.ServedSerial() == fixed })
	waitFor("the error to clear", func() bool { return nodetest.Variable(t, db, "ssl_last_reload_error") == "" })

	s := testenv.ScrapeMetrics(t, metricsURL)
	okWatch := s.Sum("ssld_tls_reloads_total", "trigger", "watch", "result", "ok")
	failedWatch := s.Sum("ssld_tls_reloads_total", "trigger", "watch", "result", "failed")
	assert.GreaterOrEqual(t, okWatch, 2.0)
	assert.GreaterOrEqual(t, failedWatch, 1.0)
	// ssld_handshakes_total counts TLS handshakes, not logins: one more
	// openssl s_client (a handshake, no login) moves it by exactly one, on
	// the documented label value, and leaves the logins alone.
	before := testenv.ScrapeMetrics(t, metricsURL)
	assert.Equal(t, fixed, nodetest.OpenSSLSerial(t, tn.Addr))
	after := testenv.ScrapeMetrics(t, metricsURL)
	assert.Equal(t, before.Sum("ssld_handshakes_total", "listener", "client")+1, after.Sum("ssld_handshakes_total", "listener", "client"))
	assert.Equal(t, before.Sum("ssld_logins_total"), after.Sum("ssld_logins_total"), "a handshake without a login is no login")
	for _, l := range after.LabelValues("ssld_handshakes_total", "listener") {
		assert.Contains(t, []string{"client", "cluster"}, l, "listener label values")
	}
}
