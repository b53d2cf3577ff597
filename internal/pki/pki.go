// Package pki mints certificate authorities and leaf certificates.
//
// It serves two callers: tests, which need fresh CAs, leaves, expired and
// not-yet-valid certificates without checking any in, and `ssld serve --dev`,
// which mints a throw-away CA and a server certificate for localhost (and
// ssld-bench). It is therefore not a test-only package and does not import
// "testing"; internal/pkitest wraps it for tests.
//
// All functions are safe for concurrent use; a *CA may issue certificates
// from several goroutines at once (it holds no mutable state).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyType selects the key algorithm of a minted certificate.
type KeyType int

const (
	// ECDSAP256 is an ECDSA key on curve P-256 (the default).
	ECDSAP256 KeyType = iota
	// RSA2048 is a 2048-bit RSA key.
	RSA2048
	// Ed25519 is an Ed25519 key.
	Ed25519
)

// String returns a short name for the key type.
func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA-P256"
	case RSA2048:
		return "RSA-2048"
	case Ed25519:
		return "Ed25519"
	default:
		return fmt.Sprintf("KeyType(%d)", int(k))
	}
}

// CA is a certificate authority that can issue leaves and intermediates.
// It is immutable after creation and safe for concurrent use.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte // PKCS#8, unencrypted
}

// Leaf is an issued certificate with its private key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // the leaf alone; see ChainPEM for leaf + intermediates
	KeyPEM  []byte // PKCS#8, unencrypted
}

// LeafOptions describes a certificate for CA.Issue.
type LeafOptions struct {
	CN       string
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter default to now-1h and now+24h when zero.
	NotBefore, NotAfter time.Time
	KeyType             KeyType
	// ExtKeyUsage defaults to ServerAuth+ClientAuth when nil. Use an empty,
	// non-nil slice for a certificate without the extension.
	ExtKeyUsage []x509.ExtKeyUsage
	// IsCA marks the certificate as a CA (for "CA certificate as leaf" tests).
	IsCA bool
	// Serial defaults to a random 128-bit number when nil.
	Serial *big.Int
}

// Option configures NewCA.
type Option func(*caOptions)

type caOptions struct {
	keyType             KeyType
	notBefore, notAfter time.Time
}

// WithKeyType selects the CA's key algorithm (default ECDSAP256).
func WithKeyType(k KeyType) Option { return func(o *caOptions) { o.keyType = k } }

// WithValidity sets the CA's validity window (default now-1h .. now+10 years).
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(o *caOptions) { o.notBefore, o.notAfter = notBefore, notAfter }
}

// NewCA mints a self-signed root CA with common name cn. It fails only when
// key generation or signing fails.
func NewCA(cn string, opts ...Option) (*CA, error) {
	o := caOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	now := time.Now()
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.AddDate(10, 0, 0)
	}
	key, tmpl, err := caTemplate(cn, o.keyType, o.notBefore, o.notAfter)
	if err != nil {
		return nil, err
	}
	return sign(tmpl, tmpl, key, key)
}

// caTemplate makes a CA's key and certificate template.
func caTemplate(cn string, kt KeyType, notBefore, notAfter time.Time) (crypto.Signer, *x509.Certificate, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	return key, &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"ssld"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(key.Public()),
	}, nil
}

// Intermediate mints an intermediate CA signed by ca, valid as long as ca
// unless WithValidity says otherwise (WithKeyType is not used: the key is
// ECDSA P-256).
func (ca *CA) Intermediate(cn string, opts ...Option) (*CA, error) {
	o := caOptions{notBefore: ca.Cert.NotBefore, notAfter: ca.Cert.NotAfter}
	for _, opt := range opts {
		opt(&o)
	}
	key, tmpl, err := caTemplate(cn, ECDSAP256, o.notBefore, o.notAfter)
	if err != nil {
		return nil, err
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

// Issue mints a leaf certificate signed by ca. See LeafOptions for defaults.
func (ca *CA) Issue(o LeafOptions) (*Leaf, error) {
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	if o.ExtKeyUsage == nil {
		o.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	serial := o.Serial
	if serial == nil {
		var err error
		if serial, err = randomSerial(); err != nil {
			return nil, err
		}
	}
	key, err := newKey(o.KeyType)
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if o.KeyType == RSA2048 {
		usage |= x509.KeyUsageKeyEncipherment
	}
	if o.IsCA {
		usage |= x509.KeyUsageCertSign
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CN, Organization: []string{"ssld"}},
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           o.ExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
	}
	c, err := sign(tmpl, ca.Cert, key, ca.Key)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: c.Cert, Key: c.Key, CertPEM: c.CertPEM, KeyPEM: c.KeyPEM}, nil
}

// ChainPEM returns the leaf followed by the certificates of cas (the
// intermediates, leaf-most first), as one PEM bundle.
func (l *Leaf) ChainPEM(cas ...*CA) []byte {
	out := append([]byte(nil), l.CertPEM...)
	for _, ca := range cas {
		out = append(out, ca.CertPEM...)
	}
	return out
}

// DevServerOptions returns LeafOptions for a development server certificate:
// ECDSA P-256, valid for a year, SANs localhost, 127.0.0.1 and ::1.
func DevServerOptions() LeafOptions {
	return LeafOptions{
		CN:        "localhost",
		DNSNames:  []string{"localhost"},
		IPs:       []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour),
		NotAfter:  time.Now().AddDate(1, 0, 0),
	}
}

// WriteFile writes data to path atomically: it writes a temporary file in the
// same folder, syncs it, sets mode and renames it over path, so a concurrent
// reader sees either the old or the new content, never a partial file.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	cleanup := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := f.Chmod(mode); err != nil {
		return cleanup(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func newKey(k KeyType) (crypto.Signer, error) {
	switch k {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	default:
		return nil, fmt.Errorf("pki: unknown key type %d", int(k))
	}
}

func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	// Never zero: a serial must be positive.
	return n.Add(n, big.NewInt(1)), nil
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

func sign(tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) (*CA, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	if len(keyDER) == 0 {
		return nil, errors.New("pki: empty key")
	}
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
