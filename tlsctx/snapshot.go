package tlsctx

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"time"
)

// Snapshot is the TLS material of one channel as loaded by one reload. It is
// immutable once published: readers may keep and use it from any goroutine
// without locking, and must not modify it.
type Snapshot struct {
	Channel    Channel
	Generation uint64 // the Manager generation that built this snapshot
	// CertFile, KeyFile, CAFile and CAPath are the effective paths (after the
	// cluster -> ssl_* fallback); "" when unset.
	CertFile, KeyFile, CAFile, CAPath string
	// CRLFile and CRLPath are the effective ssl_crl / ssl_crlpath (or
	// cluster_ counterparts); "" when unset. CRLs lists what they held.
	CRLFile, CRLPath string
	Certificate      *tls.Certificate  // nil when the channel has no cert/key (TLS off)
	Leaf             *x509.Certificate // nil when TLS off
	CAs              *x509.CertPool    // nil when no CA is configured
	CACount          int               // distinct CA certificates in CAs
	LoadedAt         time.Time
	// KeyBackend is what signs handshakes with this snapshot's key:
	// BackendOpenSSL or BackendGo ("" when TLS off). It is BackendGo
	// under BackendOpenSSL when libcrypto could not take the key.
	KeyBackend CryptoBackend
	// Policy is the TLS policy the snapshot's handshakes get (tls_version,
	// ssl_cipher, tls_ciphersuites, ssl_groups or their cluster_ forms).
	Policy Policy

	digest        [32]byte            // hash of paths, settings and file bytes: equal digest = unchanged
	serverConfig  *tls.Config         // per-snapshot server config with its own session-ticket keys; nil when TLS off
	tickets       *ticketKeys         // serverConfig's ticket keys and their rotation; nil when TLS or tickets are off
	keyWarnings   []string            // the backend fallback warning, repeated on unchanged reloads
	certSetting   string              // the setting CertFile came from (ssl_cert, cluster_ssl_cert)
	intermediates []*x509.Certificate // parsed Certificate.Certificate[1:], served after the leaf
	caCerts       []sourcedCert       // the distinct certificates in CAs, with where each was read
	crls          *crlSet             // the CRLs applied to peer certificates; nil when none is configured
	overlap       []OverlapCA         // CAs removed from the configured set, still in CAs until their window ends
}

// sourcedCert is a certificate with the setting and file it was read from.
type sourcedCert struct {
	cert          *x509.Certificate
	setting, file string
}

// ExpiringCert is a certificate of a snapshot that expires before a given
// time (ExpiringBefore).
type ExpiringCert struct {
	// What it is: "certificate" (the leaf), "intermediate certificate"
	// (served after the leaf, from the same file) or "CA certificate".
	Role     string
	Setting  string // ssl_cert, ssl_ca, ssl_capath or their cluster_ counterparts
	File     string
	Subject  string
	NotAfter time.Time
}

// ExpiringBefore lists the certificates of the snapshot that expire before
// t, earliest first: the leaf, the intermediate certificates served with
// it, and every CA certificate (ssl_ca, ssl_capath). A served intermediate
// that expires before the leaf breaks every client's chain on its own day,
// and an expired CA stops client certificates from verifying; neither shows
// in the leaf's not_after.
func (s *Snapshot) ExpiringBefore(t time.Time) []ExpiringCert {
	var out []ExpiringCert
	for _, e := range s.dependedOn() {
		if e.NotAfter.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// EarliestExpiry is the certificate of the snapshot that expires first
// among the leaf, the intermediates served with it and the CA
// certificates; false when the snapshot has none of them.
func (s *Snapshot) EarliestExpiry() (ExpiringCert, bool) {
	all := s.dependedOn()
	if len(all) == 0 {
		return ExpiringCert{}, false
	}
	return all[0], true
}

// dependedOn lists every certificate the channel depends on, earliest
// expiry first.
func (s *Snapshot) dependedOn() []ExpiringCert {
	if s == nil {
		return nil
	}
	var out []ExpiringCert
	note := func(c *x509.Certificate, role, setting, file string) {
		out = append(out, ExpiringCert{Role: role, Setting: setting, File: file,
			Subject: c.Subject.String(), NotAfter: c.NotAfter})
	}
	if s.Leaf != nil {
		note(s.Leaf, "certificate", s.certSetting, s.CertFile)
	}
	for _, c := range s.intermediates {
		note(c, "intermediate certificate", s.certSetting, s.CertFile)
	}
	for _, sc := range s.caCerts {
		note(sc.cert, "CA certificate", sc.setting, sc.file)
	}
	slices.SortStableFunc(out, func(a, b ExpiringCert) int { return a.NotAfter.Compare(b.NotAfter) })
	return out
}

// Enabled reports whether the channel has a certificate (TLS on).
func (s *Snapshot) Enabled() bool { return s != nil && s.Certificate != nil }

// Serial returns the leaf serial number as openssl prints it (see
// FormatSerial), or "" when TLS is off.
func (s *Snapshot) Serial() string {
	if !s.Enabled() {
		return ""
	}
	return FormatSerial(s.Leaf.SerialNumber)
}

// Fingerprint returns the lower-case hex SHA-256 of the leaf DER, or "" when
// TLS is off.
func (s *Snapshot) Fingerprint() string {
	if !s.Enabled() {
		return ""
	}
	sum := sha256.Sum256(s.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}

// NotBefore returns the start of the leaf's validity, zero when TLS is off.
func (s *Snapshot) NotBefore() time.Time {
	if !s.Enabled() {
		return time.Time{}
	}
	return s.Leaf.NotBefore
}

// NotAfter returns the end of the leaf's validity, zero when TLS is off.
func (s *Snapshot) NotAfter() time.Time {
	if !s.Enabled() {
		return time.Time{}
	}
	return s.Leaf.NotAfter
}

// Subject returns the leaf subject (RFC 2253 style), "" when TLS is off.
func (s *Snapshot) Subject() string {
	if !s.Enabled() {
		return ""
	}
	return s.Leaf.Subject.String()
}

// Issuer returns the leaf issuer (RFC 2253 style), "" when TLS is off.
func (s *Snapshot) Issuer() string {
	if !s.Enabled() {
		return ""
	}
	return s.Leaf.Issuer.String()
}

// SANs returns the leaf's subject alternative names: DNS names, IP
// addresses, URIs and e-mail addresses, in that order. nil when TLS is off.
func (s *Snapshot) SANs() []string {
	if !s.Enabled() {
		return nil
	}
	var out []string
	out = append(out, s.Leaf.DNSNames...)
	for _, ip := range s.Leaf.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range s.Leaf.URIs {
		out = append(out, u.String())
	}
	out = append(out, s.Leaf.EmailAddresses...)
	return out
}
