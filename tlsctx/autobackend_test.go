//go:build cgo && unix

package tlsctx

import (
	"context"
	"crypto"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// fakeMeasure makes measureSigns report fast for the backend faster says
// per key kind ("RSA 2048" -> BackendOpenSSL, ...), and counts the
// measurements per kind.
func fakeMeasure(t *testing.T, faster map[string]CryptoBackend) map[string]int {
	t.Helper()
	var mu sync.Mutex
	calls := map[string]int{}
	old := measureSigns
	measureSigns = func(s crypto.Signer, n int) time.Duration {
		kind := publicKeyKind(s.Public())
		isOSSL := isOpenSSLSigner(s)
		mu.Lock()
		calls[kind]++
		mu.Unlock()
		if isOSSL == (faster[kind] == BackendOpenSSL) {
			return time.Millisecond
		}
		return 2 * time.Millisecond
	}
	t.Cleanup(func() { measureSigns = old })
	return calls
}

// TestAutoBackendPerKey: under crypto_backend auto with libcrypto, each
// key is signed by the backend measured faster for its kind, reported per
// certificate; the measurement is made once per kind for the Manager's
// life, and handshakes with either certificate work.
func TestAutoBackendPerKey(t *testing.T) {
	requireOpenSSL(t)
	for _, tc := range []struct {
		name    string
		faster  map[string]CryptoBackend
		ec, rsa CryptoBackend
	}{
		{"OpenSSL for RSA and Go for ECDSA", map[string]CryptoBackend{"RSA 2048": BackendOpenSSL, "ECDSA P-256": BackendGo}, BackendGo, BackendOpenSSL},
		{"Go for RSA and OpenSSL for ECDSA", map[string]CryptoBackend{"RSA 2048": BackendGo, "ECDSA P-256": BackendOpenSSL}, BackendOpenSSL, BackendGo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := fakeMeasure(t, tc.faster)
			f := newFixture(t)
			serials := f.twoPairs("ec", "rsa")
			f.set(func(s *Settings) { s.Cluster = ClusterOff })
			m := f.manager()
			assert.Equal(t, BackendOpenSSL, m.CryptoBackend(), "the Manager's backend: libcrypto is loaded")
			snap := m.Current(ChannelClient)
			require.Len(t, snap.Certs, 2)
			assert.Equal(t, tc.ec, snap.Certs[0].KeyBackend)
			assert.Equal(t, tc.rsa, snap.Certs[1].KeyBackend)
			assert.Equal(t, tc.ec, snap.KeyBackend, "the first certificate's")
			assert.Equal(t, tc.rsa == BackendOpenSSL, isOpenSSLSigner(snap.Certs[1].Certificate.PrivateKey))
			assert.Equal(t, tc.ec == BackendOpenSSL, isOpenSSLSigner(snap.Certs[0].Certificate.PrivateKey))
			assert.Equal(t, map[string]int{"RSA 2048": 2 * autoRounds, "ECDSA P-256": 2 * autoRounds}, calls)

			// New keys of the same kinds: no new measurement.
			f.twoPairs("ec", "rsa")
			_, err := m.Reload(context.Background())
			require.NoError(t, err)
			assert.Equal(t, map[string]int{"RSA 2048": 2 * autoRounds, "ECDSA P-256": 2 * autoRounds}, calls)
			assert.Equal(t, tc.rsa, m.Current(ChannelClient).Certs[1].KeyBackend)

			addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
			next := m.Current(ChannelClient)
			for _, c := range []struct {
				suites []uint16
				want   string
			}{{rsaSuites, next.Certs[1].Serial()}, {ecdsaSuites, next.Certs[0].Serial()}} {
				assert.Equal(t, c.want, handshakeSerial(t, addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost",
					MaxVersion: tls.VersionTLS12, CipherSuites: c.suites}))
			}
			assert.Equal(t, next.Certs[0].Serial(), handshakeSerial(t, addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost"}))
			assert.NotEqual(t, serials["ec"], next.Serial())
		})
	}
}

// TestAutoBackendExplicit: crypto_backend openssl and go are kept for
// every key, without a measurement.
func TestAutoBackendExplicit(t *testing.T) {
	requireOpenSSL(t)
	calls := fakeMeasure(t, nil)
	for _, b := range []CryptoBackend{BackendOpenSSL, BackendGo} {
		f := newFixture(t)
		f.twoPairs("ec", "rsa")
		m := f.manager(WithCryptoBackend(b))
		for _, c := range m.Current(ChannelClient).Certs {
			assert.Equal(t, b, c.KeyBackend, "%s %s", b, c.KeyType())
		}
	}
	assert.Empty(t, calls)
}

// TestAutoBackendMeasures: the real measurement picks one of the two for
// each kind and the choice signs handshakes.
func TestAutoBackendMeasures(t *testing.T) {
	requireOpenSSL(t)
	f := newFixture(t)
	f.twoPairs("ec", "rsa")
	m := f.manager()
	for _, c := range m.Current(ChannelClient).Certs {
		assert.Contains(t, []CryptoBackend{BackendOpenSSL, BackendGo}, c.KeyBackend, c.KeyType())
		ch := m.auto.byKind[c.KeyType()]
		assert.Equal(t, ch.backend, c.KeyBackend)
		assert.Positive(t, ch.goCost)
		assert.Positive(t, ch.osCost)
		t.Logf("%s: Go %v, OpenSSL %v per signature: %s", c.KeyType(), ch.goCost, ch.osCost, ch.backend)
	}
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	assert.Equal(t, m.Current(ChannelClient).Certs[1].Serial(), handshakeSerial(t, addr, &tls.Config{RootCAs: f.pool(),
		ServerName: "localhost", MaxVersion: tls.VersionTLS12, CipherSuites: rsaSuites}))
}
