package testenv

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed Prometheus text exposition, by metric name.
type Scrape map[string]*dto.MetricFamily

// ScrapeMetrics GETs url (a /metrics endpoint, 5 s at the most) and parses
// it; anything but a parseable 200 fails tb.
func ScrapeMetrics(tb testing.TB, url string) Scrape {
	tb.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// Value returns the sample of name whose labels include labels (name,
// value pairs); it fails tb when there is none.
func (s Scrape) Value(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	v, ok := s.Lookup(name, labels...)
	if !ok {
		tb.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

// Lookup is Value without failing: false when no sample matches.
func (s Scrape) Lookup(name string, labels ...string) (float64, bool) {
	for _, m := range s.samples(name, labels...) {
		return sampleValue(m), true
	}
	return 0, false
}

// Sum adds up every sample of name whose labels include labels.
func (s Scrape) Sum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.samples(name, labels...) {
		total += sampleValue(m)
	}
	return total
}

// LabelValues lists the distinct values of label across name's samples.
func (s Scrape) LabelValues(name, label string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range s.samples(name) {
		for _, lp := range m.Label {
			if lp.GetName() == label && !seen[lp.GetValue()] {
				seen[lp.GetValue()] = true
				out = append(out, lp.GetValue())
			}
		}
	}
	return out
}

func (s Scrape) samples(name string, labels ...string) []*dto.Metric {
	fam := s[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, lp := range m.Label {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
