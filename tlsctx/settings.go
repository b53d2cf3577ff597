package tlsctx

import (
	"context"
	"time"
)

// Settings is the TLS configuration a Source returns. Paths are absolute
// (the Source resolves relative ones); an empty string means unset.
//
// The cluster channel falls back to the ssl_* values: when both
// ClusterSSLCert and ClusterSSLKey are empty it uses SSLCert/SSLKey, and
// when both ClusterSSLCA and ClusterSSLCAPath are empty it uses
// SSLCA/SSLCAPath. SSLKeyPassphrase applies to both channels.
type Settings struct {
	SSLCert, SSLKey, SSLKeyPassphrase, SSLCA, SSLCAPath           string
	ClusterSSLCert, ClusterSSLKey, ClusterSSLCA, ClusterSSLCAPath string
	// TLSVersion lists the allowed protocol versions, e.g. "TLSv1.2,TLSv1.3"
	// (the default when empty). Changing it requires a restart.
	TLSVersion string
	// Listen and ClusterListen are only compared: changing either requires
	// a restart.
	Listen, ClusterListen string
	// ExpiryWarning makes a load succeed with a warning naming the channel,
	// the setting, the file and the date for every certificate it depends
	// on that expires within this long: the leaf, an intermediate served
	// with it, a CA (ssld's ssl_expiry_warning, 14 days by default). Zero or negative: no
	// warning. It is not part of any channel's material: changing it alone
	// does not bump the generation.
	ExpiryWarning time.Duration
}

// Source supplies Settings. The Manager calls Load once in New and once per
// Reload, never concurrently with itself. An error from Load fails the
// reload with Setting "config" and leaves the live snapshots untouched.
type Source interface {
	Load(ctx context.Context) (Settings, error)
}

// WarningSource is a Source that also reports non-fatal findings about
// the configuration it loaded (keys a reload does not apply, accounts that
// cannot log in, ...). The Manager calls LoadWithWarnings instead of Load
// and adds the warnings to those of the reload (Result.Warnings, the log)
// and of New (the log). The contract of Load applies.
type WarningSource interface {
	Source
	LoadWithWarnings(ctx context.Context) (Settings, []string, error)
}

// loadSettings calls src.LoadWithWarnings when src has it, else src.Load.
func loadSettings(ctx context.Context, src Source) (Settings, []string, error) {
	if ws, ok := src.(WarningSource); ok {
		return ws.LoadWithWarnings(ctx)
	}
	s, err := src.Load(ctx)
	return s, nil, err
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Settings, error)

// Load calls f(ctx).
func (f SourceFunc) Load(ctx context.Context) (Settings, error) { return f(ctx) }

// StaticSource returns a Source that always returns s. Useful for embedding
// when the file paths never change: Reload then rereads the same files.
func StaticSource(s Settings) Source {
	return SourceFunc(func(context.Context) (Settings, error) { return s, nil })
}

// material is the effective configuration of one channel after the
// cluster -> ssl_* fallback, with the setting names the operator used.
type material struct {
	cert, key, ca, capath    string
	certSetting, keySetting  string
	caSetting, capathSetting string
	passphrase               string
}

func (m material) hasPair() bool { return m.cert != "" || m.key != "" }
func (m material) hasCA() bool   { return m.ca != "" || m.capath != "" }

// channelMaterial resolves the files of ch from s.
func channelMaterial(s Settings, ch Channel) material {
	m := material{
		cert: s.SSLCert, key: s.SSLKey, ca: s.SSLCA, capath: s.SSLCAPath,
		certSetting: "ssl_cert", keySetting: "ssl_key",
		caSetting: "ssl_ca", capathSetting: "ssl_capath",
		passphrase: s.SSLKeyPassphrase,
	}
	if ch != ChannelCluster {
		return m
	}
	if s.ClusterSSLCert != "" || s.ClusterSSLKey != "" {
		m.cert, m.key = s.ClusterSSLCert, s.ClusterSSLKey
		m.certSetting, m.keySetting = "cluster_ssl_cert", "cluster_ssl_key"
	}
	if s.ClusterSSLCA != "" || s.ClusterSSLCAPath != "" {
		m.ca, m.capath = s.ClusterSSLCA, s.ClusterSSLCAPath
		m.caSetting, m.capathSetting = "cluster_ssl_ca", "cluster_ssl_capath"
	}
	return m
}

// mergeSettings returns the settings behind the live snapshots after only
// chans were reloaded from next: the fields of channels that were not
// reloaded keep their previous values.
func mergeSettings(prev, next Settings, chans []Channel) Settings {
	out := prev
	out.TLSVersion, out.Listen, out.ClusterListen = next.TLSVersion, next.Listen, next.ClusterListen
	out.ExpiryWarning = next.ExpiryWarning
	for _, ch := range chans {
		switch ch {
		case ChannelClient:
			out.SSLCert, out.SSLKey, out.SSLKeyPassphrase = next.SSLCert, next.SSLKey, next.SSLKeyPassphrase
			out.SSLCA, out.SSLCAPath = next.SSLCA, next.SSLCAPath
		case ChannelCluster:
			out.ClusterSSLCert, out.ClusterSSLKey = next.ClusterSSLCert, next.ClusterSSLKey
			out.ClusterSSLCA, out.ClusterSSLCAPath = next.ClusterSSLCA, next.ClusterSSLCAPath
		}
	}
	return out
}

// sameMaterial reports whether a and b are equal apart from ExpiryWarning,
// which only changes what is reported, not what is served.
func sameMaterial(a, b Settings) bool {
	a.ExpiryWarning, b.ExpiryWarning = 0, 0
	return a == b
}
