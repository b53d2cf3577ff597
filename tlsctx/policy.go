package tlsctx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// Policy is the TLS policy of one channel as a snapshot applies it to the
// handshakes it serves: the protocol versions (tls_version), the TLS 1.2
// cipher suites (ssl_cipher), the TLS 1.3 suites (tls_ciphersuites) and the
// key-exchange groups (ssl_groups), or the cluster_ forms of each for the
// cluster channel (each falling back to the client channel's when unset).
// A reload applies a changed policy to new handshakes; a connection keeps
// the policy it was accepted with.
//
// The string fields are the values in use, normalised (OpenSSL's names,
// ':'-separated, in the configured order); "" for ssl_cipher,
// tls_ciphersuites and ssl_groups means crypto/tls's defaults.
type Policy struct {
	Versions     string // "TLSv1.2,TLSv1.3"
	Ciphers      string // ssl_cipher: "ECDHE-ECDSA-AES128-GCM-SHA256:..."
	CipherSuites string // tls_ciphersuites: "TLS_AES_128_GCM_SHA256:..."
	Groups       string // ssl_groups: "X25519MLKEM768:X25519:P-256"

	versions versionRange
	suites   []uint16      // nil: crypto/tls's defaults
	curves   []tls.CurveID // nil: crypto/tls's defaults
}

// policyKeys names the settings of a channel's policy as the operator wrote
// them (the cluster_ form only where it is set).
type policyKeys struct{ version, cipher, suites, groups string }

// channelPolicySettings returns the policy settings of ch after the cluster
// -> client fallback, with the names of the keys they came from.
func channelPolicySettings(s Settings, ch Channel) (version, cipher, suites, groups string, keys policyKeys) {
	version, cipher, suites, groups = s.TLSVersion, s.SSLCipher, s.TLSCipherSuites, s.SSLGroups
	keys = policyKeys{"tls_version", "ssl_cipher", "tls_ciphersuites", "ssl_groups"}
	if ch != ChannelCluster {
		return
	}
	if s.ClusterTLSVersion != "" {
		version, keys.version = s.ClusterTLSVersion, "cluster_tls_version"
	}
	if s.ClusterSSLCipher != "" {
		cipher, keys.cipher = s.ClusterSSLCipher, "cluster_ssl_cipher"
	}
	if s.ClusterTLSCipherSuites != "" {
		suites, keys.suites = s.ClusterTLSCipherSuites, "cluster_tls_ciphersuites"
	}
	if s.ClusterSSLGroups != "" {
		groups, keys.groups = s.ClusterSSLGroups, "cluster_ssl_groups"
	}
	return
}

// ChannelPolicy returns the policy s configures for ch, or a *ReloadError
// naming the key and the value it cannot apply. It reads no file.
func ChannelPolicy(s Settings, ch Channel) (Policy, error) {
	version, cipher, suites, groups, keys := channelPolicySettings(s, ch)
	bad := func(key, value string, err error) error {
		return &ReloadError{Channel: ch, Setting: key, Reason: fmt.Sprintf("%q: %v", value, err), Err: err}
	}
	var p Policy
	var err error
	if p.versions, err = parseTLSVersion(version); err != nil {
		return Policy{}, bad(keys.version, version, err)
	}
	p.Versions = versionsString(p.versions)
	if p.suites, p.Ciphers, err = parseCiphers(cipher); err != nil {
		return Policy{}, bad(keys.cipher, cipher, err)
	}
	if p.CipherSuites, err = parseCipherSuites(suites, p.versions.max >= tls.VersionTLS13, keys.version); err != nil {
		return Policy{}, bad(keys.suites, suites, err)
	}
	if p.curves, p.Groups, err = parseGroups(groups); err != nil {
		return Policy{}, bad(keys.groups, groups, err)
	}
	if p.versions.min <= tls.VersionTLS12 && p.curves != nil && !slices.ContainsFunc(p.curves, classicGroup) {
		err := fmt.Errorf("every group listed is a TLS 1.3 hybrid; %s %q allows TLS 1.2, whose handshakes need X25519, P-256, P-384 or P-521", keys.version, p.Versions)
		return Policy{}, bad(keys.groups, groups, err)
	}
	return p, nil
}

// versionsString renders a version range in tls_version's syntax.
func versionsString(r versionRange) string {
	var out []string
	for _, v := range []struct {
		id   uint16
		name string
	}{{tls.VersionTLS10, "TLSv1"}, {tls.VersionTLS11, "TLSv1.1"}, {tls.VersionTLS12, "TLSv1.2"}, {tls.VersionTLS13, "TLSv1.3"}} {
		if v.id >= r.min && v.id <= r.max {
			out = append(out, v.name)
		}
	}
	return strings.Join(out, ",")
}

// splitList splits an OpenSSL-style list: names separated by ':', ',' or
// spaces, as OpenSSL and MySQL accept them.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
}

// tls13Suites are the TLS 1.3 suites crypto/tls serves, always all three.
var tls13Suites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}

// otherTLS13Suites are the TLS 1.3 suites OpenSSL knows and crypto/tls does
// not implement; a tls_ciphersuites list may name them (they are then
// simply never negotiated).
var otherTLS13Suites = []string{"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}

// suiteByName finds a cipher suite by OpenSSL's name or its IANA (Go) name,
// in any case.
func suiteByName(name string) (uint16, bool) {
	for id, n := range openSSLCipherNames {
		if strings.EqualFold(n, name) || strings.EqualFold(tls.CipherSuiteName(id), name) {
			return id, true
		}
	}
	return 0, false
}

// parseCiphers parses ssl_cipher: TLS 1.0-1.2 suites by OpenSSL's name (as
// MySQL takes them) or IANA's. "" keeps crypto/tls's defaults.
func parseCiphers(s string) ([]uint16, string, error) {
	names := splitList(s)
	if len(names) == 0 {
		return nil, "", nil
	}
	insecure := map[uint16]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.ID] = true
	}
	var ids []uint16
	var out []string
	for _, n := range names {
		id, ok := suiteByName(n)
		switch {
		case !ok:
			return nil, "", fmt.Errorf("unknown cipher %q (OpenSSL names of TLS 1.2 suites, as ECDHE-ECDSA-AES128-GCM-SHA256; `openssl ciphers -v` lists them)", n)
		case slices.Contains(tls13Suites, id):
			return nil, "", fmt.Errorf("%s is a TLS 1.3 suite: list it in tls_ciphersuites", n)
		case insecure[id]:
			return nil, "", fmt.Errorf("cipher %s is insecure (RC4, 3DES or CBC with SHA-256): not allowed", n)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
			out = append(out, OpenSSLCipherName(id))
		}
	}
	return ids, strings.Join(out, ":"), nil
}

// parseCipherSuites parses tls_ciphersuites. crypto/tls always offers its
// three TLS 1.3 suites and cannot be told to leave one out, so while TLS 1.3
// is allowed (tls13) a list is taken only when it allows all three:
// anything narrower would be a restriction ssld could not enforce, and is
// refused rather than ignored. Without TLS 1.3 no suite of it is ever
// negotiated, so any list of TLS 1.3 suites holds. versionKey names the
// tls_version setting for the message.
func parseCipherSuites(s string, tls13 bool, versionKey string) (string, error) {
	names := splitList(s)
	if len(names) == 0 {
		return "", nil
	}
	var ids []uint16
	var out []string
	for _, n := range names {
		if i := slices.IndexFunc(otherTLS13Suites, func(o string) bool { return strings.EqualFold(o, n) }); i >= 0 {
			out = append(out, otherTLS13Suites[i])
			continue
		}
		id, ok := suiteByName(n)
		if !ok || !slices.Contains(tls13Suites, id) {
			if ok {
				return "", fmt.Errorf("%s is not a TLS 1.3 suite: list it in ssl_cipher", n)
			}
			return "", fmt.Errorf("unknown TLS 1.3 suite %q (want TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)", n)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
			out = append(out, OpenSSLCipherName(id))
		}
	}
	var missing []string
	for _, id := range tls13Suites {
		if !slices.Contains(ids, id) {
			missing = append(missing, OpenSSLCipherName(id))
		}
	}
	if len(missing) > 0 && tls13 {
		return "", fmt.Errorf("leaves out %s, which crypto/tls always offers in TLS 1.3 and cannot be restricted: ssld cannot enforce this list (list all three, or leave TLSv1.3 out of %s)", strings.Join(missing, ", "), versionKey)
	}
	return strings.Join(out, ":"), nil
}

// groupNames are the key-exchange groups crypto/tls implements, by the
// name OpenSSL gives each first (what the policy reports), then aliases.
var groupNames = []struct {
	id    tls.CurveID
	names []string
}{
	{tls.X25519MLKEM768, []string{"X25519MLKEM768"}},
	{tls.SecP256r1MLKEM768, []string{"SecP256r1MLKEM768"}},
	{tls.SecP384r1MLKEM1024, []string{"SecP384r1MLKEM1024"}},
	{tls.X25519, []string{"X25519"}},
	{tls.CurveP256, []string{"P-256", "prime256v1", "secp256r1"}},
	{tls.CurveP384, []string{"P-384", "secp384r1"}},
	{tls.CurveP521, []string{"P-521", "secp521r1"}},
}

// classicGroup reports whether TLS 1.2 can use id (the hybrids are TLS 1.3
// only).
func classicGroup(id tls.CurveID) bool {
	return id == tls.X25519 || id == tls.CurveP256 || id == tls.CurveP384 || id == tls.CurveP521
}

// parseGroups parses ssl_groups (OpenSSL's and PostgreSQL's names,
// X25519MLKEM768 included). "" keeps crypto/tls's defaults.
func parseGroups(s string) ([]tls.CurveID, string, error) {
	names := splitList(s)
	if len(names) == 0 {
		return nil, "", nil
	}
	var ids []tls.CurveID
	var out []string
	for _, n := range names {
		i := slices.IndexFunc(groupNames, func(g struct {
			id    tls.CurveID
			names []string
		}) bool {
			return slices.ContainsFunc(g.names, func(a string) bool { return strings.EqualFold(a, n) })
		})
		if i < 0 {
			var known []string
			for _, g := range groupNames {
				known = append(known, g.names[0])
			}
			return nil, "", fmt.Errorf("unknown group %q (want %s)", n, strings.Join(known, ", "))
		}
		if !slices.Contains(ids, groupNames[i].id) {
			ids = append(ids, groupNames[i].id)
			out = append(out, groupNames[i].names[0])
		}
	}
	return ids, strings.Join(out, ":"), nil
}

// apply sets p on a server or client config.
func (p Policy) apply(cfg *tls.Config) {
	cfg.MinVersion, cfg.MaxVersion = p.versions.min, p.versions.max
	cfg.CipherSuites = p.suites
	cfg.CurvePreferences = p.curves
}

// checkKey checks that the TLS 1.2 suites of p (when ssl_cipher restricts
// them) can be used with the key of leaf: ECDHE-ECDSA suites need an ECDSA
// or Ed25519 key, the others an RSA key. With none usable every TLS 1.2
// handshake would fail: refused when TLS 1.2 is all the channel allows, a
// warning when TLS 1.3 clients still get through.
func (p Policy) checkKey(ch Channel, s Settings, leaf *x509.Certificate) ([]string, error) {
	if p.suites == nil || p.versions.min > tls.VersionTLS12 {
		return nil, nil
	}
	rsaKey := leaf.PublicKeyAlgorithm == x509.RSA
	for _, id := range p.suites {
		if strings.Contains(OpenSSLCipherName(id), "-ECDSA-") != rsaKey {
			return nil, nil
		}
	}
	_, cipher, _, _, keys := channelPolicySettings(s, ch)
	what := fmt.Sprintf("channel %s: %s %q: no suite can be used with the %s key of the certificate, so TLS 1.2 handshakes fail",
		ch, keys.cipher, cipher, leaf.PublicKeyAlgorithm)
	if p.versions.max >= tls.VersionTLS13 {
		return []string{what + " (TLS 1.3 clients are not affected)"}, nil
	}
	return nil, &ReloadError{Channel: ch, Setting: keys.cipher, Reason: fmt.Sprintf("%q: no suite can be used with the %s key of the certificate, and TLS 1.2 is the only version allowed: every handshake would fail", cipher, leaf.PublicKeyAlgorithm)}
}
