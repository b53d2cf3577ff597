package sysvars

import (
	"context"
	"sync/atomic"

	"github.com/ssld/ssld/tlsctx"
)

// Configured is a tlsctx.Source that remembers the settings its source
// returned last: what the config file held at the last reload attempt
// (start-up, SQL, SIGHUP, watch, CHECK TLS), whether the reload then
// succeeded or was refused. AddTLS with WithConfigured reports them in
// @@ssl_cert, @@ssl_ca, ... as MySQL reports the configured value of a
// variable, while SHOW STATUS's Current_tls_* report the live snapshot: after
// a refused reload the two differ, which tells the operator a change is
// pending. Reading costs nothing (no file is read for a SELECT); a config
// file that fails to parse keeps the previous settings.
//
// Give the Configured, not its source, to tlsctx.New. Safe for concurrent
// use.
type Configured struct {
	src  tlsctx.Source
	last atomic.Pointer[tlsctx.Settings]
}

// NewConfigured wraps src.
func NewConfigured(src tlsctx.Source) *Configured { return &Configured{src: src} }

// Load implements tlsctx.Source.
func (c *Configured) Load(ctx context.Context) (tlsctx.Settings, error) {
	s, _, err := c.LoadWithWarnings(ctx)
	return s, err
}

// LoadWithWarnings implements tlsctx.WarningSource (the source's warnings
// when it has them, none otherwise).
func (c *Configured) LoadWithWarnings(ctx context.Context) (tlsctx.Settings, []string, error) {
	var (
		s        tlsctx.Settings
		warnings []string
		err      error
	)
	if ws, ok := c.src.(tlsctx.WarningSource); ok {
		s, warnings, err = ws.LoadWithWarnings(ctx)
	} else {
		s, err = c.src.Load(ctx)
	}
	if err == nil {
		c.last.Store(&s)
	}
	return s, warnings, err
}

// Settings returns the settings of the last successful Load; false before
// the first.
func (c *Configured) Settings() (tlsctx.Settings, bool) {
	if s := c.last.Load(); s != nil {
		return *s, true
	}
	return tlsctx.Settings{}, false
}

// configuredPolicy are the policy settings of ch in s (tls_version,
// ssl_cipher, tls_ciphersuites, ssl_groups) after the cluster_ -> client
// fallback tlsctx applies, as written; tls_version's default when unset;
// all empty for a channel s does not serve.
func configuredPolicy(s tlsctx.Settings, ch tlsctx.Channel) [4]string {
	if !s.Serves(ch) {
		return [4]string{}
	}
	out := [4]string{s.TLSVersion, s.SSLCipher, s.TLSCipherSuites, s.SSLGroups}
	if ch == tlsctx.ChannelCluster {
		for i, v := range [4]string{s.ClusterTLSVersion, s.ClusterSSLCipher, s.ClusterTLSCipherSuites, s.ClusterSSLGroups} {
			if v != "" {
				out[i] = v
			}
		}
	}
	if out[0] == "" {
		out[0] = tlsctx.DefaultTLSVersion
	}
	return out
}

// configuredPaths are the file settings of ch in s after the cluster ->
// ssl_* fallback tlsctx applies (cert and key as a pair, CA file and folder
// as a pair); all empty for a channel s does not serve.
func configuredPaths(s tlsctx.Settings, ch tlsctx.Channel) (cert, key, ca, capath string) {
	if !s.Serves(ch) {
		return "", "", "", ""
	}
	cert, key, ca, capath = s.SSLCert, s.SSLKey, s.SSLCA, s.SSLCAPath
	if ch != tlsctx.ChannelCluster {
		return
	}
	if s.ClusterSSLCert != "" || s.ClusterSSLKey != "" {
		cert, key = s.ClusterSSLCert, s.ClusterSSLKey
	}
	if s.ClusterSSLCA != "" || s.ClusterSSLCAPath != "" {
		ca, capath = s.ClusterSSLCA, s.ClusterSSLCAPath
	}
	return
}

// configuredCRLPaths are ssl_crl and ssl_crlpath of ch in s after the
// cluster -> ssl_* fallback (the file and the folder as a pair); empty for
// a channel s does not serve.
func configuredCRLPaths(s tlsctx.Settings, ch tlsctx.Channel) (crl, crlpath string) {
	if !s.Serves(ch) {
		return "", ""
	}
	crl, crlpath = s.SSLCRL, s.SSLCRLPath
	if ch == tlsctx.ChannelCluster && (s.ClusterSSLCRL != "" || s.ClusterSSLCRLPath != "") {
		crl, crlpath = s.ClusterSSLCRL, s.ClusterSSLCRLPath
	}
	return
}
