package metrics

import (
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssld/ssld/tlsctx"
)

var (
	descNotAfter = prometheus.NewDesc("ssld_tls_certificate_not_after_seconds",
		"End of the validity of each served certificate (certificate: its position in ssl_cert, 1 for the first; key_type: RSA 2048, ECDSA P-256, ...), in seconds since the epoch.", []string{"channel", "certificate", "key_type"}, nil)
	descChainNotAfter = prometheus.NewDesc("ssld_tls_chain_not_after_seconds",
		"End of the validity of the first certificate to expire among those the channel depends on: the served certificate, the intermediates served with it and the CA certificates (ssl_ca, ssl_capath), in seconds since the epoch.", []string{"channel"}, nil)
	descNotBefore = prometheus.NewDesc("ssld_tls_certificate_not_before_seconds",
		"Start of the validity of each served certificate (labels as ssld_tls_certificate_not_after_seconds), in seconds since the epoch.", []string{"channel", "certificate", "key_type"}, nil)
	descLoaded = prometheus.NewDesc("ssld_tls_certificate_loaded_timestamp_seconds",
		"When the served material of the channel was loaded (a reload of unchanged files keeps it), in seconds since the epoch.", []string{"channel"}, nil)
	descFileModified = prometheus.NewDesc("ssld_tls_file_modified_timestamp_seconds",
		"Modification time of each configured file of the channel (file: cert, key, ca, capath, crl, crlpath; symlinks followed), read at scrape time.", []string{"channel", "file"}, nil)
	descCRLNextUpdate = prometheus.NewDesc("ssld_tls_crl_next_update_seconds",
		"Earliest nextUpdate among the CRLs the channel applies (ssl_crl, ssl_crlpath), in seconds since the epoch; past it a CRL is stale. Present when the channel applies a CRL that has a nextUpdate.", []string{"channel"}, nil)
	descCRLs = prometheus.NewDesc("ssld_tls_crls",
		"CRLs the channel applies (ssl_crl, ssl_crlpath), by state: current, or stale (past its nextUpdate at scrape time; still applied unless ssl_crl_stale is reject, which refuses the reload).", []string{"channel", "state"}, nil)
	descCAOverlap = prometheus.NewDesc("ssld_tls_ca_overlap_until_seconds",
		"End of the ssl_ca_overlap window of each CA a reload removed from the channel's CA set and that stays trusted for peer certificates until then, in seconds since the epoch (ca: its subject).", []string{"channel", "ca"}, nil)
	descGeneration = prometheus.NewDesc("ssld_tls_reload_generation",
		"Generation of the live TLS material: 1 after startup, +1 per reload that changed anything.", nil, nil)
	descLastAttempt = prometheus.NewDesc("ssld_tls_last_reload_attempt_timestamp_seconds",
		"Start of the last reload attempt, in seconds since the epoch; 0 before the first.", nil, nil)
	descLastSuccess = prometheus.NewDesc("ssld_tls_last_reload_success_timestamp_seconds",
		"Start of the last successful reload (ok or unchanged), in seconds since the epoch; 0 before the first.", nil, nil)
	descLastFailed = prometheus.NewDesc("ssld_tls_last_reload_failed",
		"1 if the last reload failed (the previous material is still served), else 0.", nil, nil)
)

// liveCollector reads the Source on every scrape.
type liveCollector struct{ m *Metrics }

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNotAfter, descChainNotAfter, descNotBefore, descLoaded, descFileModified,
		descCRLNextUpdate, descCRLs, descCAOverlap, descGeneration, descLastAttempt, descLastSuccess, descLastFailed} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descGeneration, float64(st.Generation))
	gauge(descLastAttempt, seconds(st.LastAttempt))
	gauge(descLastSuccess, seconds(st.LastSuccess))
	failed := 0.0
	if st.LastError != "" {
		failed = 1
	}
	gauge(descLastFailed, failed)

	// The served channels only: a node without cluster_listen has no
	// cluster samples (Current is nil for a channel that is not served).
	for _, name := range []tlsctx.Channel{tlsctx.ChannelClient, tlsctx.ChannelCluster} {
		snap := c.m.src.Current(name)
		if snap == nil {
			continue
		}
		for _, c := range snap.Served() {
			pos := strconv.Itoa(c.Position)
			gauge(descNotAfter, seconds(c.Leaf.NotAfter), string(name), pos, c.KeyType())
			gauge(descNotBefore, seconds(c.Leaf.NotBefore), string(name), pos, c.KeyType())
		}
		if e, ok := snap.EarliestExpiry(); ok {
			gauge(descChainNotAfter, seconds(e.NotAfter), string(name))
		}
		gauge(descLoaded, seconds(snap.LoadedAt), string(name))
		for _, o := range snap.Overlap() {
			gauge(descCAOverlap, seconds(o.Until), string(name), o.Subject)
		}
		if crls := snap.CRLs(); len(crls) > 0 {
			now := time.Now()
			stale := 0
			for _, c := range crls {
				if c.Stale(now) {
					stale++
				}
			}
			gauge(descCRLs, float64(len(crls)-stale), string(name), "current")
			gauge(descCRLs, float64(stale), string(name), "stale")
			if next, ok := snap.CRLNextUpdate(); ok {
				gauge(descCRLNextUpdate, seconds(next), string(name))
			}
		}
		// With several certificates, the latest change among the
		// certificate files (and among the keys): one sample per kind.
		files := []struct {
			kind  string
			paths []string
		}{
			{"cert", tlsctx.SplitList(snap.CertFile)}, {"key", tlsctx.SplitList(snap.KeyFile)},
			{"ca", []string{snap.CAFile}}, {"capath", []string{snap.CAPath}},
			{"crl", []string{snap.CRLFile}}, {"crlpath", []string{snap.CRLPath}},
		}
		for _, f := range files {
			var latest time.Time
			for _, p := range f.paths {
				if p == "" {
					continue
				}
				// A file that cannot be stat'ed has no sample: its absence
				// is not a timestamp, and the next reload reports why.
				if fi, err := os.Stat(p); err == nil && fi.ModTime().After(latest) {
					latest = fi.ModTime()
				}
			}
			if !latest.IsZero() {
				gauge(descFileModified, seconds(latest), string(name), f.kind)
			}
		}
	}
}

// seconds converts t to fractional seconds since the epoch, 0 for the zero
// time ("never").
func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
