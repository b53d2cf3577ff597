package tlsctx

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// fixture is a folder of generated TLS material plus a Source whose
// settings and error tests can change between reloads.
type fixture struct {
	t   testing.TB
	dir string
	ca  *pki.CA

	mu       sync.Mutex
	settings Settings
	err      error
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), ca: pkitest.MustCA(t, "test root")}
	f.write("ca.crt", f.ca.CertPEM, 0o644)
	f.writeLeaf("server", f.issue(pki.LeafOptions{}))
	// The cluster channel is served, with the ssl_* fallback, so that
	// tests see both channels; channel_test.go covers the default rule.
	f.settings = Settings{
		SSLCert: f.path("server.crt"),
		SSLKey:  f.path("server.key"),
		SSLCA:   f.path("ca.crt"),
		Cluster: ClusterOn,
	}
	return f
}

func (f *fixture) Load(context.Context) (Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, f.err
}

func (f *fixture) set(fn func(*Settings)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.settings)
}

func (f *fixture) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

func (f *fixture) write(name string, data []byte, mode os.FileMode) {
	f.t.Helper()
	require.NoError(f.t, pki.WriteFile(f.path(name), data, mode))
}

// issue mints a localhost leaf from the fixture CA; o's zero fields get
// localhost defaults.
func (f *fixture) issue(o pki.LeafOptions) *pki.Leaf {
	f.t.Helper()
	if o.CN == "" {
		o.CN = "localhost"
		o.DNSNames = []string{"localhost"}
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	return pkitest.MustIssue(f.t, f.ca, o)
}

// writeLeaf writes <base>.crt and <base>.key (mode 0600).
func (f *fixture) writeLeaf(base string, l *pki.Leaf) {
	f.t.Helper()
	f.write(base+".crt", l.CertPEM, 0o644)
	f.write(base+".key", l.KeyPEM, 0o600)
}

func (f *fixture) manager(opts ...Option) *Manager {
	f.t.Helper()
	m, err := New(context.Background(), f, opts...)
	require.NoError(f.t, err)
	return m
}

// rotate writes a new localhost leaf (pki.DevServerOptions) as
// <base>.crt/.key and returns its serial as ssld prints it.
func (f *fixture) rotate(base string) string {
	f.t.Helper()
	l := f.issue(pki.DevServerOptions())
	f.writeLeaf(base, l)
	return FormatSerial(l.Cert.SerialNumber)
}

// pool holds the fixture CA, for clients.
func (f *fixture) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.ca.Cert)
	return p
}
