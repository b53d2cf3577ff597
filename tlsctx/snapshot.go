package tlsctx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Snapshot is the TLS material of one channel as loaded by one reload. It is
// immutable once published: readers may keep and use it from any goroutine
// without locking, and must not modify it.
type Snapshot struct {
	Channel    Channel
	Generation uint64 // the Manager generation that built this snapshot
	// CertFile, KeyFile, CAFile and CAPath are the effective settings
	// (after the cluster -> ssl_* fallback); "" when unset. CertFile and
	// KeyFile are lists when the channel serves several certificates (see
	// Settings); Certs names each pair's own files.
	CertFile, KeyFile, CAFile, CAPath string
	// CRLFile and CRLPath are the effective ssl_crl / ssl_crlpath (or
	// cluster_ counterparts); "" when unset. CRLs lists what they held.
	CRLFile, CRLPath string
	// Certificate and Leaf are the first certificate's (Certs[0]); nil when
	// the channel has no cert/key (TLS off).
	Certificate *tls.Certificate
	Leaf        *x509.Certificate
	// Certs are every certificate the channel serves, in the order of the
	// setting; nil when TLS off.
	Certs    []*ServedCert
	CAs      *x509.CertPool // nil when no CA is configured
	CACount  int            // distinct CA certificates in CAs
	LoadedAt time.Time
	// KeyBackend is what signs handshakes with the first certificate's
	// key (ServedCert.KeyBackend for each): BackendOpenSSL or BackendGo
	// ("" when TLS off). It is BackendGo under BackendOpenSSL when
	// libcrypto could not take the key.
	KeyBackend CryptoBackend
	// Policy is the TLS policy the snapshot's handshakes get (tls_version,
	// ssl_cipher, tls_ciphersuites, ssl_groups or their cluster_ forms).
	Policy Policy

	digest       [32]byte      // hash of paths, settings and file bytes: equal digest = unchanged
	serverConfig *tls.Config   // per-snapshot server config with its own session-ticket keys; nil when TLS off
	tickets      *ticketKeys   // serverConfig's ticket keys and their rotation; nil when TLS or tickets are off
	keyWarnings  []string      // the backend fallback warnings, repeated on unchanged reloads
	certSetting  string        // the setting CertFile came from (ssl_cert, cluster_ssl_cert)
	caCerts      []sourcedCert // the distinct certificates in CAs, with where each was read
	crls         *crlSet       // the CRLs applied to peer certificates; nil when none is configured
	overlap      []OverlapCA   // CAs removed from the configured set, still in CAs until their window ends
}

// ServedCert is one certificate of a channel, with its key. It is
// immutable, like the Snapshot that holds it.
type ServedCert struct {
	Position          int    // 1 for the first of the list, 2 for the second, ...
	CertFile, KeyFile string // this pair's own files
	Certificate       *tls.Certificate
	Leaf              *x509.Certificate
	// KeyBackend is what signs handshakes with this key: BackendOpenSSL
	// or BackendGo.
	KeyBackend    CryptoBackend
	intermediates []*x509.Certificate // parsed Certificate.Certificate[1:], served after the leaf
}

// Serial returns the leaf serial number as openssl prints it (FormatSerial).
func (c *ServedCert) Serial() string { return FormatSerial(c.Leaf.SerialNumber) }

// Fingerprint returns the lower-case hex SHA-256 of the leaf DER.
func (c *ServedCert) Fingerprint() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}

// KeyType names the leaf's key: "RSA 2048", "ECDSA P-256", "Ed25519".
func (c *ServedCert) KeyType() string { return KeyType(c.Leaf) }

// KeyType names the public key of cert: "RSA 2048", "ECDSA P-256",
// "Ed25519", or the algorithm name for any other.
func KeyType(cert *x509.Certificate) string {
	if kind := publicKeyKind(cert.PublicKey); kind != "" {
		return kind
	}
	return cert.PublicKeyAlgorithm.String()
}

// publicKeyKind names a public key as KeyType does; "" for another type.
func publicKeyKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return ""
}

// SANs returns the leaf's subject alternative names: DNS names, IP
// addresses, URIs and e-mail addresses, in that order.
func (c *ServedCert) SANs() []string { return leafSANs(c.Leaf) }

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
	for _, sc := range s.Certs {
		note(sc.Leaf, "certificate", s.certSetting, sc.CertFile)
		for _, c := range sc.intermediates {
			note(c, "intermediate certificate", s.certSetting, sc.CertFile)
		}
	}
	for _, sc := range s.caCerts {
		note(sc.cert, "CA certificate", sc.setting, sc.file)
	}
	slices.SortStableFunc(out, func(a, b ExpiringCert) int { return a.NotAfter.Compare(b.NotAfter) })
	return out
}

// Served returns Certs; for a snapshot built by hand (an embedder's
// fake, a test's) with only Certificate and Leaf set, that one certificate
// at position 1. nil when TLS is off.
func (s *Snapshot) Served() []*ServedCert {
	if !s.Enabled() {
		return nil
	}
	if len(s.Certs) > 0 {
		return s.Certs
	}
	return []*ServedCert{{Position: 1, CertFile: s.CertFile, KeyFile: s.KeyFile,
		Certificate: s.Certificate, Leaf: s.Leaf, KeyBackend: s.KeyBackend}}
}

// Enabled reports whether the channel has a certificate (TLS on).
func (s *Snapshot) Enabled() bool { return s != nil && s.Certificate != nil }

// Serial returns the first leaf's serial number as openssl prints it (see
// FormatSerial), or "" when TLS is off. Serial, Fingerprint, NotBefore,
// NotAfter, Subject, Issuer and SANs describe the first certificate; Certs
// has each.
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
	return leafSANs(s.Leaf)
}

func leafSANs(leaf *x509.Certificate) []string {
	var out []string
	out = append(out, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range leaf.URIs {
		out = append(out, u.String())
	}
	out = append(out, leaf.EmailAddresses...)
	return out
}
