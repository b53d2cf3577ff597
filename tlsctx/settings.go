package tlsctx

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Settings is the TLS configuration a Source returns. Paths are absolute
// (the Source resolves relative ones); an empty string means unset.
//
// The client channel always exists. The cluster channel exists only where
// it is served (see Cluster and Serves): a server with a public
// certificate in SSLCert and a private client CA in SSLCA, and no cluster
// listener, is never refused because of a channel it does not serve.
//
// The cluster channel falls back to the ssl_* values: when both
// ClusterSSLCert and ClusterSSLKey are empty it uses SSLCert/SSLKey, and
// when both ClusterSSLCA and ClusterSSLCAPath are empty it uses
// SSLCA/SSLCAPath. SSLKeyPassphrase applies to both channels.
//
// SSLCert and SSLKey (and ClusterSSLCert, ClusterSSLKey) each hold one
// path or a comma-separated list of paths (see SplitList): the channel
// then serves several certificates, the first certificate with the first
// key, the second with the second, and so on (RSA and ECDSA side by side).
// Every pair is validated as a single one is, and the set is swapped as
// one: one bad pair fails the whole load. Per handshake crypto/tls serves
// the first certificate the client supports (its server name against the
// certificate's names, its signature algorithms and, in TLS 1.2, its
// cipher suites against the key type), else the first one.
// SSLKeyPassphrase decrypts every encrypted key.
type Settings struct {
	SSLCert, SSLKey, SSLKeyPassphrase, SSLCA, SSLCAPath           string
	ClusterSSLCert, ClusterSSLKey, ClusterSSLCA, ClusterSSLCAPath string
	// Cluster says whether the cluster channel is served. The zero value,
	// ClusterAuto, is the library's rule: served when ClusterListen or any
	// ClusterSSL* field is set. ssld sets ClusterOn or ClusterOff from
	// cluster_listen alone. Whether the channel is served is fixed when
	// the Manager is created: a reload that would add or remove it needs
	// a restart, like a listener.
	Cluster ClusterMode
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

// ClusterMode says whether the cluster channel is served (Settings.Cluster).
type ClusterMode uint8

const (
	// ClusterAuto serves the cluster channel when ClusterListen or any of
	// ClusterSSLCert, ClusterSSLKey, ClusterSSLCA, ClusterSSLCAPath is set.
	ClusterAuto ClusterMode = iota
	// ClusterOn serves it, with the ssl_* fallback for what is unset.
	ClusterOn
	// ClusterOff does not serve it: its files are not read, and ClusterSSL*
	// values that are set draw a warning.
	ClusterOff
)

// Serves reports whether ch exists under s: the client channel always, the
// cluster channel as Cluster says. A channel that is not served is not
// built, validated or reported (Manager.Current returns nil for it).
func (s Settings) Serves(ch Channel) bool {
	switch ch {
	case ChannelClient:
		return true
	case ChannelCluster:
		switch s.Cluster {
		case ClusterOn:
			return true
		case ClusterOff:
			return false
		}
		return s.ClusterListen != "" || s.clusterKeys() != nil
	}
	return false
}

// Channels lists the channels s serves, in the order they are built and
// reported (client first).
func (s Settings) Channels() []Channel {
	var out []Channel
	for _, ch := range allChannels {
		if s.Serves(ch) {
			out = append(out, ch)
		}
	}
	return out
}

// clusterKeys names the cluster_ssl_* settings that are set.
func (s Settings) clusterKeys() []string {
	var out []string
	for _, k := range []struct{ name, v string }{
		{"cluster_ssl_cert", s.ClusterSSLCert}, {"cluster_ssl_key", s.ClusterSSLKey},
		{"cluster_ssl_ca", s.ClusterSSLCA}, {"cluster_ssl_capath", s.ClusterSSLCAPath},
	} {
		if k.v != "" {
			out = append(out, k.name)
		}
	}
	return out
}

// unservedWarnings is the finding about cluster_ssl_* values that are set
// while the cluster channel is not served: they are not read, which is
// worth saying once per load rather than leaving the operator to wonder.
func unservedWarnings(s Settings) []string {
	keys := s.clusterKeys()
	if s.Serves(ChannelCluster) || len(keys) == 0 {
		return nil
	}
	verb := "is"
	if len(keys) > 1 {
		verb = "are"
	}
	return []string{fmt.Sprintf("%s %s set but the cluster channel is not served (cluster_listen is not set): not read", strings.Join(keys, ", "), verb)}
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

// SplitList splits the value of ssl_cert or ssl_key into its paths: one
// path, or several separated by commas, spaces around each trimmed and
// empty elements dropped. A path that itself holds a comma cannot be
// listed. It is a pure function, safe for concurrent use.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// JoinList is the inverse of SplitList: the paths as one setting value.
func JoinList(paths []string) string { return strings.Join(paths, ",") }

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
	out.Cluster = next.Cluster
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
