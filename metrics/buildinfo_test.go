package metrics

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBuildInfo: ssld_build_info is 1 with the build's labels, a second
// SetBuildInfo replaces them (one series, never two), and a nil *Metrics
// ignores the call.
func TestBuildInfo(t *testing.T) {
	n := newNode(t)
	assert.Empty(t, n.scrape(t).LabelValues("ssld_build_info", "version"), "no series before SetBuildInfo")

	n.met.SetBuildInfo(BuildInfo{Version: "0.1.0", Revision: "58ffdafa7bf1", GoVersion: "go1.26.8", CryptoBackend: "openssl"})
	s := n.scrape(t)
	assert.Equal(t, 1.0, s.Value(t, "ssld_build_info", "version", "0.1.0", "revision", "58ffdafa7bf1",
		"goversion", "go1.26.8", "crypto_backend", "openssl"))

	n.met.SetBuildInfo(BuildInfo{Version: "0.1.1", GoVersion: "go1.26.8", CryptoBackend: "go"})
	s = n.scrape(t)
	assert.Equal(t, []string{"0.1.1"}, s.LabelValues("ssld_build_info", "version"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_build_info", "version", "0.1.1", "revision", "",
		"goversion", "go1.26.8", "crypto_backend", "go"))

	var off *Metrics
	off.SetBuildInfo(BuildInfo{Version: "0.1.0"})
}
