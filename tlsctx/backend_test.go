package tlsctx

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

func TestParseCryptoBackend(t *testing.T) {
	tests := []struct {
		in          string
		want        CryptoBackend
		expectedErr string
	}{
		{"", BackendAuto, ""},
		{"auto", BackendAuto, ""},
		{" OpenSSL ", BackendOpenSSL, ""},
		{"go", BackendGo, ""},
		{"boring", "", `unknown crypto backend "boring" (want auto, openssl or go)`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCryptoBackend(tc.in)
			if tc.expectedErr != "" {
				require.EqualError(t, err, tc.expectedErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// withoutLibcrypto makes the process look like a machine on which
// libcrypto.so.3 does not load, for the duration of the test.
func withoutLibcrypto(t *testing.T) {
	old := loadOpenSSLFunc
	loadOpenSSLFunc = func() (string, error) { return "", errors.New("libcrypto.so.3: cannot open shared object file") }
	t.Cleanup(func() { loadOpenSSLFunc = old })
}

func TestCryptoBackendGo(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.RSA2048, pki.ECDSAP256} {
		t.Run(kt.String(), func(t *testing.T) {
			f := newFixture(t)
			f.writeLeaf("server", f.issue(pki.LeafOptions{KeyType: kt}))
			m := f.manager(WithCryptoBackend(BackendGo))
			assert.Equal(t, BackendGo, m.Status().CryptoBackend)
			assertSignsWith(t, m, f, BackendGo, "the parsed Go key", func(k crypto.PrivateKey) bool {
				switch k.(type) {
				case *rsa.PrivateKey, *ecdsa.PrivateKey:
					return true
				}
				return false
			})
		})
	}
}

func TestCryptoBackendAutoWithoutLibcrypto(t *testing.T) {
	withoutLibcrypto(t)
	f := newFixture(t)
	f.writeLeaf("server", f.issue(pki.LeafOptions{KeyType: pki.RSA2048}))
	m := f.manager() // auto is the default
	assert.Equal(t, BackendGo, m.CryptoBackend())
	assert.Contains(t, m.CryptoBackendInfo(), "libcrypto.so.3 not available")
	assert.Equal(t, BackendGo, m.Current(ChannelClient).KeyBackend)
	handshake(t, m, f)
}

func TestCryptoBackendOpenSSLWithoutLibcryptoFailsNew(t *testing.T) {
	withoutLibcrypto(t)
	f := newFixture(t)
	_, err := New(context.Background(), f, WithCryptoBackend(BackendOpenSSL))
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "crypto_backend", re.Setting)
	assert.Contains(t, err.Error(), "crypto_backend is openssl but libcrypto.so.3 cannot be loaded")
}

// assertSignsWith checks that m resolved want, that its client snapshot
// says want signs, that the snapshot's key is want's signer (isSigner, what
// names it), and that a handshake is served with it.
func assertSignsWith(t *testing.T, m *Manager, f *fixture, want CryptoBackend, what string, isSigner func(crypto.PrivateKey) bool) {
	t.Helper()
	assert.Equal(t, want, m.CryptoBackend())
	snap := m.Current(ChannelClient)
	assert.Equal(t, want, snap.KeyBackend)
	if !isSigner(snap.Certificate.PrivateKey) {
		t.Fatalf("crypto_backend %s signs with %T, want %s", want, snap.Certificate.PrivateKey, what)
	}
	handshake(t, m, f)
}

// handshake opens one TLS 1.3 and one TLS 1.2 connection to a server using
// m's client channel and checks the served certificate is the live one.
func handshake(t *testing.T, m *Manager, f *fixture) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.ServerTLSConfig(ChannelClient))
	require.NoError(t, err)
	testenv.Serve(t, ln, func(c net.Conn) { _ = c.(*tls.Conn).Handshake() })
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	want := m.Current(ChannelClient).Leaf.SerialNumber
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: v, MaxVersion: v})
		require.NoError(t, err, "TLS version %x", v)
		got := c.ConnectionState().PeerCertificates[0].SerialNumber
		require.NoError(t, c.Close())
		assert.Zero(t, want.Cmp(got), "TLS version %x: served serial %X, want %X", v, got, want)
	}
}
