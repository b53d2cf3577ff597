package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
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
	assert.Len(t, alerts, 7, "alerts: %v", alerts)

	// A live node's /metrics.
	tn := newTestNode(t, "metrics_listen: 127.0.0.1:0\n")
	t.Setenv("SSLD_PASSWORD", adminPW)
	code, out, _ := runCLI(t, "reload", "--socket", tn.socket) // the reload series have samples
	require.Equal(t, 0, code, out)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + tn.n.metricsAddr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	cm := exec.Command(promtool, "check", "metrics")
	cm.Stdin = strings.NewReader(string(body))
	lint, err := cm.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", lint)
	assert.Empty(t, strings.TrimSpace(string(lint)), "promtool check metrics")
	for m := range metricNames {
		assert.Regexp(t, `(?m)^`+m+`[{ ]`, string(body), "a rule uses %s, which /metrics does not serve", m)
	}

	// docs/metrics.md includes the file verbatim.
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/metrics.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), "```yaml\n"+string(raw)+"```\n", "docs/metrics.md must show deploy/prometheus/ssld-rules.yml as it is")
}
