package node_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestMetricsOverWire: real TLS, plain-TCP and Unix socket logins, and a
// failed one, land in the documented series with the documented label
// values: TLS handshakes and logins apart, the Unix socket as "socket".
func TestMetricsOverWire(t *testing.T) {
	tn := nodetest.New(t, "metrics_listen: 127.0.0.1:0\n")
	ctx := nodetest.Ctx(t)
	name := tn.TLSName(nil)
	for i := 0; i < 2; i++ {
		require.NoError(t, tn.OpenDBClosed(t, "admin", nodetest.AdminPW, name))
	}
	require.NoError(t, tn.OpenDBClosed(t, "monitor", nodetest.MonitorPW, "false"), "plain TCP")
	require.Error(t, tn.OpenDBClosed(t, "admin", "wrong", name), "a failed login over TLS")
	sock := tn.SocketDB("admin", nodetest.AdminPW)
	require.NoError(t, sock.PingContext(ctx))

	fams := testenv.ScrapeMetrics(t, "http://"+tn.N.MetricsAddr().String()+"/metrics")
	value := func(metric string, labels ...string) float64 { t.Helper(); return fams.Value(t, metric, labels...) }
	assert.Equal(t, 3.0, value("ssld_handshakes_total", "listener", "client"), "TLS handshakes: two logins and the failed one")
	assert.Equal(t, 0.0, value("ssld_handshake_failures_total", "listener", "client"))
	assert.Equal(t, 3.0, value("ssld_logins_total", "listener", "client", "result", "ok"), "two over TLS, one plain")
	assert.Equal(t, 1.0, value("ssld_logins_total", "listener", "client", "result", "failed"))
	assert.Equal(t, 1.0, value("ssld_logins_total", "listener", "socket", "result", "ok"))
	assert.Equal(t, 1.0, value("ssld_connections", "listener", "socket"), "the open socket session")
	assert.Equal(t, 1.0, value("ssld_listener_up", "listener", "client"))
	assert.Equal(t, 1.0, value("ssld_listener_up", "listener", "socket"))
	var name2, panics string
	require.NoError(t, sock.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssld_recovered_panics'").Scan(&name2, &panics))
	assert.Equal(t, panics, strconv.FormatFloat(value("ssld_recovered_panics_total"), 'f', -1, 64),
		"ssld_recovered_panics_total is the status variable")

	allowed := map[string]bool{"client": true, "cluster": true, "socket": true}
	for metric, fam := range fams {
		for _, m := range fam.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "listener" {
					assert.True(t, allowed[lp.GetValue()], "%s{listener=%q}", metric, lp.GetValue())
				}
			}
		}
	}
	for _, metric := range []string{"ssld_handshakes_total", "ssld_logins_total", "ssld_connections", "ssld_accept_errors_total", "ssld_listener_up"} {
		help := fams[metric].GetHelp()
		for _, l := range fams.LabelValues(metric, "listener") {
			assert.Contains(t, help, l, "the help text of %s lists %s", metric, l)
		}
	}
}
