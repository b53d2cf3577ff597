package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ssld/ssld/internal/testenv"
)

// TestPrometheusRules: deploy/prometheus/ssld-rules.yml passes `promtool
// check rules` and its unit tests (`promtool test rules`), every alert has a
// unit test, no rule names a job, every ssld metric a rule uses is served by
// a live node whose /metrics passes `promtool check metrics`, and
// docs/metrics.md shows the file as it is.
func TestPrometheusRules(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy/prometheus")
	rulesPath := filepath.Join(dir, "ssld-rules.yml")
	for _, args := range [][]string{{"check", "rules", "ssld-rules.yml"}, {"test", "rules", "ssld-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v: %s", args, out)
		assert.Contains(t, string(out), "SUCCESS", "promtool %v", args)
	}

	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	raw, err := os.ReadFile(rulesPath)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	rawTests, err := os.ReadFile(filepath.Join(dir, "ssld-rules.test.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(rawTests, &tests))
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	var alerts []string
	metricNames := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			assert.True(t, fires[r.Alert], "no unit test makes %s fire", r.Alert)
			assert.NotRegexp(t, `job\s*=~?\s*"`, r.Expr, "%s names a job", r.Alert)
			for _, m := range regexp.MustCompile(`\bssld_[a-z_]+`).FindAllString(r.Expr, -1) {
				metricNames[m] = true
			}
		}
	}
	sort.Strings(alerts)
	assert.Len(t, alerts, 8, "alerts: %v", alerts)

	// A live node's /metrics.
	tn := newTestNode(t, "metrics_listen: 127.0.0.1:0\n")
	t.Setenv("SSLD_PASSWORD", adminPW)
	code, out, _ := runCLI(t, "reload", "--socket", tn.Socket) // the reload series have samples
	require.Equal(t, 0, code, out)
	code, body := testenv.HTTPGet(t, "http://"+tn.N.MetricsAddr().String()+"/metrics")
	require.Equal(t, http.StatusOK, code, body)
	cm := exec.Command(promtool, "check", "metrics")
	cm.Stdin = strings.NewReader(body)
	lint, err := cm.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", lint)
	assert.Empty(t, strings.TrimSpace(string(lint)), "promtool check metrics")
	for m := range metricNames {
		assert.Regexp(t, `(?m)^`+m+`[{ ]`, body, "a rule uses %s, which /metrics does not serve", m)
	}

	// docs/metrics.md includes the file verbatim.
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/metrics.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), "```yaml\n"+string(raw)+"```\n", "docs/metrics.md must show deploy/prometheus/ssld-rules.yml as it is")
}

// liveSeries turns the gauges the "files newer" rule reads, scraped from a
// live node, into promtool input_series (constant for 30 minutes), under
// the given instance and job labels.
func liveSeries(t *testing.T, metricsURL, instance, job string) string {
	t.Helper()
	fams := testenv.ScrapeMetrics(t, metricsURL)
	var b strings.Builder
	for _, name := range []string{"ssld_tls_file_modified_timestamp_seconds", "ssld_tls_certificate_loaded_timestamp_seconds",
		"ssld_tls_last_reload_success_timestamp_seconds"} {
		fam := fams[name]
		require.NotNil(t, fam, name)
		for _, m := range fam.Metric {
			labels := []string{fmt.Sprintf("instance=%q", instance), fmt.Sprintf("job=%q", job)}
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "      - series: '%s{%s}'\n        values: '%sx30'\n", name, strings.Join(labels, ", "),
				strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64))
		}
	}
	return b.String()
}

// TestFilesNewerAlertOnLiveMetrics: SSLDFilesNewerThanServedCertificate,
// evaluated by promtool on series scraped from a real node, fires for both
// channels after a renewal nobody reloaded (no hook, watch: false), and is
// quiet once `ssld reload` ran. The node serves the cluster channel
// (cluster_listen), so both channels have series.
func TestFilesNewerAlertOnLiveMetrics(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	tn := newTestNode(t, "metrics_listen: 127.0.0.1:0\ncluster_listen: 127.0.0.1:0\n")
	metricsURL := "http://" + tn.N.MetricsAddr().String() + "/metrics"
	rules := filepath.Join(repoRoot(t), "deploy/prometheus/ssld-rules.yml")
	evaluate := func(series, expAlerts string) {
		t.Helper()
		doc := "rule_files:\n  - " + rules + "\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n" + series +
			"    alert_rule_test:\n      - eval_time: 10m\n        alertname: SSLDFilesNewerThanServedCertificate\n        exp_alerts:" + expAlerts
		path := filepath.Join(t.TempDir(), "live.test.yml")
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
		out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
		assert.NoError(t, err, "promtool test rules:\n%s\n%s", out, doc)
	}
	firing := ""
	for _, ch := range []string{"client", "cluster"} {
		firing += fmt.Sprintf(`
          - exp_labels: {severity: warning, instance: "db1:9180", job: any-job, channel: %s}
            exp_annotations:
              summary: "db1:9180 %s: TLS files changed but were not reloaded"
              description: "Run ssld reload; if it fails, see @@ssl_last_reload_error. Check the deploy hook's log."`, ch, ch)
	}

	// Quiet while the files are what is served.
	evaluate(liveSeries(t, metricsURL, "db1:9180", "any-job"), " []\n")
	// A renewal that nobody reloads: both channels fire.
	time.Sleep(20 * time.Millisecond) // a modification time after the load
	tn.Rotate()
	evaluate(liveSeries(t, metricsURL, "db1:9180", "any-job"), firing+"\n")
	// ssld reload: quiet again.
	t.Setenv("SSLD_PASSWORD", adminPW)
	code, out, _ := runCLI(t, "reload", "--socket", tn.Socket)
	require.Equal(t, 0, code, out)
	evaluate(liveSeries(t, metricsURL, "db1:9180", "any-job"), " []\n")
}
