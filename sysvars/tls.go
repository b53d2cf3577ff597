package sysvars

import (
	"strconv"
	"time"

	"github.com/ssld/ssld/tlsctx"
)

// TimeFormat is how ssld renders timestamps in system variables: MySQL's
// DATETIME(6) text form, always in UTC.
const TimeFormat = "2006-01-02 15:04:05.000000"

// redacted replaces ssl_key_passphrase whenever one is configured.
const redacted = "[redacted]"

// tlsState is the part of *tlsctx.Manager the TLS variables read. It is an
// interface only so that tests can drive the variables without a Manager.
type tlsState interface {
	Current(ch tlsctx.Channel) *tlsctx.Snapshot
	Status() tlsctx.Status
}

// FormatTime renders t in TimeFormat (UTC), or "" for the zero time, which
// stands for "never" (for example no reload attempted yet).
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// AddTLS registers every TLS variable: ssl_cert, ssl_key, ssl_ca, ssl_capath,
// ssl_crl, ssl_crlpath, ssl_crl_stale, ssl_key_passphrase,
// cluster_ssl_cert|key|ca|capath|crl|crlpath, have_ssl, tls_version,
// ssl_cipher, tls_ciphersuites, ssl_groups and their cluster_ forms,
// ssl_last_reload_attempt_time, ssl_last_successful_reload_time,
// ssl_last_reload_error, ssl_last_reload_trigger, ssl_reload_generation,
// ssl_crypto_backend, ssl_server_serial|fingerprint|not_before|not_after
// (the first certificate) and ssl_server_certificates (every one).
// All are global and change through the config file and a reload, never
// through SET; the ones MySQL lets SET GLOBAL change (ssl_cert, ssl_key,
// ssl_ca, ssl_capath, ssl_crl, ssl_crlpath, the policy settings, cluster_*)
// are not ReadOnly, so that
// SET SESSION of them is 1229 as in MySQL (see Var).
//
// Each value is computed on read from m.Current / m.Status, so it always
// describes the snapshot being served; in particular a failed reload leaves
// ssl_cert and ssl_server_* describing the previous, still-served material
// while ssl_last_reload_error explains the failure. The value functions are
// safe for concurrent use (the Manager's reads are lock-free).
//
// With WithConfigured, the file and policy settings (ssl_cert, ssl_key,
// ssl_ca, ssl_capath, ssl_crl, ssl_crlpath, ssl_crl_stale, the policy
// settings, cluster_*) report what the config
// file held at the last reload attempt instead, as MySQL's variables show
// the configured value and its Current_tls_* status variables the one in
// use; everything else still describes what is served.
//
// AddTLS fails on a nil manager or a duplicate name.
func AddTLS(r *Registry, m *tlsctx.Manager, opts ...TLSOption) error {
	if m == nil {
		return errNilManager
	}
	return addTLS(r, m, opts...)
}

// TLSOption changes what AddTLS registers.
type TLSOption func(*tlsOptions)

type tlsOptions struct{ configured *Configured }

// WithConfigured makes the setting variables report c's settings (see
// AddTLS); c must be the Source the Manager reads.
func WithConfigured(c *Configured) TLSOption { return func(o *tlsOptions) { o.configured = c } }

func addTLS(r *Registry, m tlsState, opts ...TLSOption) error {
	var o tlsOptions
	for _, f := range opts {
		f(&o)
	}
	snap := func(ch tlsctx.Channel, f func(*tlsctx.Snapshot) string) func() string {
		return func() string {
			s := m.Current(ch)
			if s == nil {
				return ""
			}
			return f(s)
		}
	}
	status := func(f func(tlsctx.Status) string) func() string {
		return func() string { return f(m.Status()) }
	}
	certFile := func(s *tlsctx.Snapshot) string { return s.CertFile }
	keyFile := func(s *tlsctx.Snapshot) string { return s.KeyFile }
	caFile := func(s *tlsctx.Snapshot) string { return s.CAFile }
	caPath := func(s *tlsctx.Snapshot) string { return s.CAPath }
	client, cluster := tlsctx.ChannelClient, tlsctx.ChannelCluster
	// path is a file setting of ch: the configured one (field i of
	// configuredPaths) when a Configured has settings, else the live one.
	path := func(ch tlsctx.Channel, i int, live func(*tlsctx.Snapshot) string) func() string {
		served := snap(ch, live)
		if o.configured == nil {
			return served
		}
		return func() string {
			st, ok := o.configured.Settings()
			if !ok {
				return served()
			}
			cert, key, ca, capath := configuredPaths(st, ch)
			return [...]string{cert, key, ca, capath}[i]
		}
	}
	// policy is setting i of ch's TLS policy (tls_version, ssl_cipher,
	// tls_ciphersuites, ssl_groups): the configured one when a Configured
	// has settings, else the one the live snapshot applies.
	policy := func(ch tlsctx.Channel, i int) func() string {
		served := snap(ch, func(s *tlsctx.Snapshot) string {
			p := s.Policy
			return [...]string{p.Versions, p.Ciphers, p.CipherSuites, p.Groups}[i]
		})
		return func() string {
			if o.configured != nil {
				if st, ok := o.configured.Settings(); ok {
					return configuredPolicy(st, ch)[i]
				}
			}
			return served()
		}
	}
	// crlSetting is ssl_crl (i 0) or ssl_crlpath (i 1) of ch, configured
	// or live as path is.
	crlSetting := func(ch tlsctx.Channel, i int) func() string {
		served := snap(ch, func(s *tlsctx.Snapshot) string { return [...]string{s.CRLFile, s.CRLPath}[i] })
		if o.configured == nil {
			return served
		}
		return func() string {
			st, ok := o.configured.Settings()
			if !ok {
				return served()
			}
			crl, crlpath := configuredCRLPaths(st, ch)
			return [...]string{crl, crlpath}[i]
		}
	}
	crlStale := func() string {
		v := m.Status().Settings.CRLStale
		if o.configured != nil {
			if st, ok := o.configured.Settings(); ok {
				v = st.CRLStale
			}
		}
		if v == "" {
			return tlsctx.CRLStaleWarn
		}
		return v
	}

	// The TLS settings MySQL 8 lets SET GLOBAL change for ALTER INSTANCE
	// RELOAD TLS (and its admin_ssl_* counterparts, cluster_ssl_* here):
	// not ReadOnly, so SET SESSION is 1229 as in MySQL; ssld takes them
	// from the config file, so SET GLOBAL is refused (sqlcmd).
	cfg := func(name string, f func() string) Var {
		return Var{Name: name, Scope: ScopeGlobal, Kind: KindString, Value: f}
	}
	vars := []Var{
		cfg("ssl_cert", path(client, 0, certFile)),
		cfg("ssl_key", path(client, 1, keyFile)),
		cfg("ssl_ca", path(client, 2, caFile)),
		cfg("ssl_capath", path(client, 3, caPath)),
		cfg("ssl_crl", crlSetting(client, 0)),
		cfg("ssl_crlpath", crlSetting(client, 1)),
		// What a reload does with a CRL past its nextUpdate: warn or reject.
		ro("ssl_crl_stale", KindString, crlStale),
		// The trust policies of the live settings (the last successful
		// load): how long a removed CA stays trusted, whether a reload
		// closes the sessions it no longer trusts, whether the identity
		// guard is off.
		ro("ssl_ca_overlap", KindString, status(func(st tlsctx.Status) string { return st.Settings.CAOverlap.String() })),
		ro("ssl_close_untrusted_sessions", KindBool, status(func(st tlsctx.Status) string { return onOff(st.Settings.CloseUntrustedSessions) })),
		ro("ssl_allow_identity_change", KindBool, status(func(st tlsctx.Status) string { return onOff(st.Settings.AllowIdentityChange) })),
		// Always "[redacted]", set or not: not even whether a passphrase is
		// configured is revealed.
		ro("ssl_key_passphrase", KindString, func() string { return redacted }),
		// cluster_ssl_* report the files of the cluster channel after the
		// fall-back to ssl_* when cluster_ssl_* is unset; they are empty on
		// a node that does not serve the cluster channel (no
		// cluster_listen), whatever the config file says.
		cfg("cluster_ssl_cert", path(cluster, 0, certFile)),
		cfg("cluster_ssl_key", path(cluster, 1, keyFile)),
		cfg("cluster_ssl_ca", path(cluster, 2, caFile)),
		cfg("cluster_ssl_capath", path(cluster, 3, caPath)),
		cfg("cluster_ssl_crl", crlSetting(cluster, 0)),
		cfg("cluster_ssl_crlpath", crlSetting(cluster, 1)),
		ro("have_ssl", KindString, func() string {
			if s := m.Current(client); s != nil && s.Enabled() {
				return "YES"
			}
			return "DISABLED"
		}),
		// The TLS policy, applied by a reload to new sessions; the
		// cluster_ forms are the cluster channel's after the fall-back to
		// the client's, empty where the cluster channel is not served.
		cfg("tls_version", policy(client, 0)),
		cfg("ssl_cipher", policy(client, 1)),
		cfg("tls_ciphersuites", policy(client, 2)),
		cfg("ssl_groups", policy(client, 3)),
		cfg("cluster_tls_version", policy(cluster, 0)),
		cfg("cluster_ssl_cipher", policy(cluster, 1)),
		cfg("cluster_tls_ciphersuites", policy(cluster, 2)),
		cfg("cluster_ssl_groups", policy(cluster, 3)),
		ro("ssl_last_reload_attempt_time", KindString, status(func(st tlsctx.Status) string {
			return FormatTime(st.LastAttempt)
		})),
		ro("ssl_last_successful_reload_time", KindString, status(func(st tlsctx.Status) string {
			return FormatTime(st.LastSuccess)
		})),
		ro("ssl_last_reload_error", KindString, status(func(st tlsctx.Status) string { return st.LastError })),
		// What caused the last load: startup, "sql user@host", signal, watch.
		ro("ssl_last_reload_trigger", KindString, status(func(st tlsctx.Status) string { return st.LastTrigger })),
		ro("ssl_reload_generation", KindInt, status(func(st tlsctx.Status) string {
			return strconv.FormatUint(st.Generation, 10)
		})),
		// What signs new handshakes on the client channel: openssl or go
		// (go also when OpenSSL could not take the key; the reload warned).
		ro("ssl_crypto_backend", KindString, func() string {
			if s := m.Current(client); s != nil && s.KeyBackend != "" {
				return string(s.KeyBackend)
			}
			return string(m.Status().CryptoBackend)
		}),
		ro("ssl_server_serial", KindString, snap(client, func(s *tlsctx.Snapshot) string { return s.Serial() })),
		ro("ssl_server_fingerprint", KindString, snap(client, func(s *tlsctx.Snapshot) string { return s.Fingerprint() })),
		ro("ssl_server_not_before", KindString, snap(client, func(s *tlsctx.Snapshot) string {
			if !s.Enabled() {
				return ""
			}
			return FormatTime(s.NotBefore())
		})),
		ro("ssl_server_not_after", KindString, snap(client, func(s *tlsctx.Snapshot) string {
			if !s.Enabled() {
				return ""
			}
			return FormatTime(s.NotAfter())
		})),
		// Every certificate the client channel serves (ssl_server_* above
		// describe the first), as a JSON array of ServedCertificate.
		ro("ssl_server_certificates", KindString, snap(client, ServedCertificatesJSON)),
	}
	return r.addAll(vars)
}
