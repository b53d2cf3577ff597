package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo describes the running binary for ssld_build_info.
type BuildInfo struct {
	Version       string // 0.1.0, or (devel) for a build without a version
	Revision      string // VCS commit, "" when unknown
	GoVersion     string // runtime.Version()
	CryptoBackend string // the backend the node resolved: openssl or go
}

// SetBuildInfo publishes ssld_build_info{version,revision,goversion,crypto_backend} 1,
// the usual info-metric shape: join on it to label any series with the
// build (`... * on(instance, job) group_left(version) ssld_build_info`).
// Call it once, before serving; a later call replaces the labels. It is
// safe on a nil *Metrics, where it does nothing.
func (m *Metrics) SetBuildInfo(b BuildInfo) {
	if m == nil {
		return
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ssld_build_info",
		Help: "Always 1; the labels say which ssld build runs: version, VCS revision, Go version and the crypto backend in use (openssl, go).",
	}, []string{"version", "revision", "goversion", "crypto_backend"})
	if err := m.reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err) // a fixed, valid description: cannot happen
		}
		g = are.ExistingCollector.(*prometheus.GaugeVec)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g.Reset()
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion, b.CryptoBackend).Set(1)
}
