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
// SSLCRL (a file of CRLs, PEM or DER) and SSLCRLPath (a folder: c_rehash
// *.rN links, *.crl, *.pem) revoke client certificates of the channel; the
// cluster channel falls back to them when both ClusterSSLCRL and
// ClusterSSLCRLPath are empty, applying only the CRLs whose issuer is in
// its CA set.
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
	SSLCRL, SSLCRLPath, ClusterSSLCRL, ClusterSSLCRLPath          string
	// CRLStale is what a load does with a CRL past its nextUpdate:
	// CRLStaleWarn ("" means it) applies it with a warning,
	// CRLStaleReject refuses the load.
	CRLStale string
	// AllowIdentityChange lets a reload serve a certificate that drops a
	// DNS name or IP address of the served one, or changes its subject;
	// without it such a reload is refused (ErrIdentityChange). It is not
	// part of any channel's material.
	AllowIdentityChange bool
	// CloseUntrustedSessions makes every successful reload close the
	// tracked sessions (Manager.Track) whose peer the new material no
	// longer trusts; without it they are only reported. Not part of any
	// channel's material.
	CloseUntrustedSessions bool
	// CAOverlap keeps a CA that a reload removes from a channel's CA set
	// trusted for peer certificates this long (Snapshot.Overlap); a reload
	// of its own (TriggerCAOverlapExpiry) drops it when the window ends,
	// and handshakes refuse it from that moment. Zero: dropped at once.
	// Not part of any channel's material.
	CAOverlap time.Duration
	// Cluster says whether the cluster channel is served. The zero value,
	// ClusterAuto, is the library's rule: served when any ClusterSSL*
	// field is set. ssld sets ClusterOn or ClusterOff from
	// cluster_listen alone. Whether the channel is served is fixed when
	// the Manager is created: a reload that would add or remove it needs
	// a restart, like a listener.
	Cluster ClusterMode
	// The TLS policy (see Policy), applied by a reload to new handshakes:
	// TLSVersion lists the allowed protocol versions, e.g.
	// "TLSv1.2,TLSv1.3" (the default when empty); SSLCipher the TLS 1.2
	// cipher suites, TLSCipherSuites the TLS 1.3 ones and SSLGroups the
	// key-exchange groups, each in OpenSSL's names separated by ':' (empty:
	// crypto/tls's defaults). The Cluster* forms are the cluster channel's,
	// each falling back to the client channel's value when empty.
	TLSVersion, SSLCipher, TLSCipherSuites, SSLGroups                             string
	ClusterTLSVersion, ClusterSSLCipher, ClusterTLSCipherSuites, ClusterSSLGroups string
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
	// ClusterAuto serves the cluster channel when any of ClusterSSLCert,
	// ClusterSSLKey, ClusterSSLCA, ClusterSSLCAPath is set.
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
		return s.clusterKeys() != nil
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
		{"cluster_ssl_crl", s.ClusterSSLCRL}, {"cluster_ssl_crlpath", s.ClusterSSLCRLPath},
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
	cert, key, ca, capath      string
	certSetting, keySetting    string
	caSetting, capathSetting   string
	passphrase                 string
	crl, crlpath               string
	crlSetting, crlpathSetting string
	// crlInherited: the cluster channel uses ssl_crl* with a CA set of its
	// own, so CRLs of CAs outside that set are left out, not refused.
	crlInherited bool
}

func (m material) hasPair() bool { return m.cert != "" || m.key != "" }
func (m material) hasCA() bool   { return m.ca != "" || m.capath != "" }
func (m material) hasCRL() bool  { return m.crl != "" || m.crlpath != "" }

// crlSettingUsed and crlFileUsed name the CRL setting an error is about:
// the file when set, else the folder.
func (m material) crlSettingUsed() string {
	if m.crl != "" {
		return m.crlSetting
	}
	return m.crlpathSetting
}

func (m material) crlFileUsed() string {
	if m.crl != "" {
		return m.crl
	}
	return m.crlpath
}

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
		crl:        s.SSLCRL, crlpath: s.SSLCRLPath,
		crlSetting: "ssl_crl", crlpathSetting: "ssl_crlpath",
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
	if s.ClusterSSLCRL != "" || s.ClusterSSLCRLPath != "" {
		m.crl, m.crlpath = s.ClusterSSLCRL, s.ClusterSSLCRLPath
		m.crlSetting, m.crlpathSetting = "cluster_ssl_crl", "cluster_ssl_crlpath"
	} else if m.caSetting == "cluster_ssl_ca" {
		m.crlInherited = true
	}
	return m
}

// mergeSettings returns the settings behind the live snapshots after only
// chans were reloaded from next: the fields of channels that were not
// reloaded keep their previous values.
func mergeSettings(prev, next Settings, chans []Channel) Settings {
	out := prev
	out.Cluster = next.Cluster
	out.ExpiryWarning = next.ExpiryWarning
	out.CRLStale = next.CRLStale
	out.AllowIdentityChange = next.AllowIdentityChange
	out.CloseUntrustedSessions = next.CloseUntrustedSessions
	out.CAOverlap = next.CAOverlap
	for _, ch := range chans {
		switch ch {
		case ChannelClient:
			out.SSLCert, out.SSLKey, out.SSLKeyPassphrase = next.SSLCert, next.SSLKey, next.SSLKeyPassphrase
			out.SSLCA, out.SSLCAPath = next.SSLCA, next.SSLCAPath
			out.TLSVersion, out.SSLCipher, out.TLSCipherSuites, out.SSLGroups = next.TLSVersion, next.SSLCipher, next.TLSCipherSuites, next.SSLGroups
			out.SSLCRL, out.SSLCRLPath = next.SSLCRL, next.SSLCRLPath
		case ChannelCluster:
			out.ClusterSSLCert, out.ClusterSSLKey = next.ClusterSSLCert, next.ClusterSSLKey
			out.ClusterSSLCA, out.ClusterSSLCAPath = next.ClusterSSLCA, next.ClusterSSLCAPath
			out.ClusterTLSVersion, out.ClusterSSLCipher = next.ClusterTLSVersion, next.ClusterSSLCipher
			out.ClusterTLSCipherSuites, out.ClusterSSLGroups = next.ClusterTLSCipherSuites, next.ClusterSSLGroups
			out.ClusterSSLCRL, out.ClusterSSLCRLPath = next.ClusterSSLCRL, next.ClusterSSLCRLPath
		}
	}
	return out
}

// sameMaterial reports whether a and b are equal apart from ExpiryWarning,
// CRLStale, AllowIdentityChange, CloseUntrustedSessions and CAOverlap, which only change what is reported or refused, not what is
// served.
func sameMaterial(a, b Settings) bool {
	a.ExpiryWarning, b.ExpiryWarning = 0, 0
	a.CRLStale, b.CRLStale = "", ""
	a.AllowIdentityChange, b.AllowIdentityChange = false, false
	a.CloseUntrustedSessions, b.CloseUntrustedSessions = false, false
	a.CAOverlap, b.CAOverlap = 0, 0
	return a == b
}
