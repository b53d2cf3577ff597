package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestWatchAndMetrics: with watch: true, new files on disk are served with
// no statement sent, a bad file keeps the old certificate and sets
// ssl_last_reload_error, fixing it recovers; /metrics follows along.
func TestWatchAndMetrics(t *testing.T) {
	tn := newTestNode(t, "watch: true\nmetrics_listen: 127.0.0.1:0\n")
	require.NotNil(t, tn.n.watcher)
	metricsURL := "http://" + tn.n.metricsAddr().String() + "/metrics"
	db := tn.db("admin", adminPW, tn.tlsName(nil))
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, cond, "waiting for %s", what)
	}

	newSerial := tn.rotate()
	waitFor("the new certificate to be served", func() bool { return tn.servedSerial() == newSerial })
	assert.Equal(t, newSerial, opensslSerial(t, tn.addr), "openssl s_client sees the watched renewal")

	crt := filepath.Join(tn.dir, "certs/server.crt")
	require.NoError(t, os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o644))
	waitFor("the reload error", func() bool { return variable(t, db, "ssl_last_reload_error") != "" })
	assert.Contains(t, variable(t, db, "ssl_last_reload_error"), crt)
	assert.Equal(t, newSerial, tn.servedSerial())

	fixed := tn.rotate()
	waitFor("recovery", func() bool { return tn.servedSerial() == fixed })
	waitFor("the error to clear", func() bool { return variable(t, db, "ssl_last_reload_error") == "" })

	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	reloads := fams["ssld_tls_reloads_total"]
	require.NotNil(t, reloads, string(body))
	var okWatch, failedWatch float64
	for _, m := range reloads.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["trigger"] == "watch" && labels["result"] == "ok" {
			okWatch += m.Counter.GetValue()
		}
		if labels["trigger"] == "watch" && labels["result"] == "failed" {
			failedWatch += m.Counter.GetValue()
		}
	}
	assert.GreaterOrEqual(t, okWatch, 2.0)
	assert.GreaterOrEqual(t, failedWatch, 1.0)
	// ssld_handshakes_total counts TLS handshakes, not logins: one more
	// openssl s_client (a handshake, no login) moves it by exactly one, on
	// the documented label value, and leaves the logins alone.
	scrape := func(name, label string) map[string]float64 {
		t.Helper()
		resp, err := http.Get(metricsURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
		require.NotNil(t, fams[name])
		out := map[string]float64{}
		for _, m := range fams[name].Metric {
			for _, l := range m.Label {
				if l.GetName() == label {
					out[l.GetValue()] += m.Counter.GetValue()
				}
			}
		}
		return out
	}
	hsBefore, loginsBefore := scrape("ssld_handshakes_total", "listener"), scrape("ssld_logins_total", "listener")
	assert.Equal(t, fixed, opensslSerial(t, tn.addr))
	hsAfter, loginsAfter := scrape("ssld_handshakes_total", "listener"), scrape("ssld_logins_total", "listener")
	assert.Equal(t, hsBefore["client"]+1, hsAfter["client"], "before %v, after %v", hsBefore, hsAfter)
	assert.Equal(t, loginsBefore, loginsAfter)
	for l := range hsAfter {
		assert.Contains(t, []string{"client", "cluster"}, l, "listener label values")
	}
}
