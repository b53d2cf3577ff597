package metrics

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// TestCRLGauges: a CRL file with a current and a stale CRL (the default
// policy applies both, with a warning) shows as one of each, and the
// earliest nextUpdate is the stale one's.
func TestCRLGauges(t *testing.T) {
	n := &node{dir: t.TempDir(), ca: pkitest.MustCA(t, "metrics root")}
	require.NoError(t, pki.WriteFile(n.path("ca.crt"), n.ca.CertPEM, 0o644))
	n.rotate(t)
	now := time.Now().Truncate(time.Second)
	var bundle []byte
	for i, next := range []time.Time{now.Add(-time.Hour), now.Add(48 * time.Hour)} {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(int64(i + 1)),
			ThisUpdate: now.Add(-72 * time.Hour), NextUpdate: next}, n.ca.Cert, n.ca.Key)
		require.NoError(t, err)
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})...)
	}
	require.NoError(t, pki.WriteFile(n.path("ca.crl"), bundle, 0o644))
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{SSLCert: n.path("server.crt"),
		SSLKey: n.path("server.key"), SSLCA: n.path("ca.crt"), SSLCRL: n.path("ca.crl"), Cluster: tlsctx.ClusterOff}))
	require.NoError(t, err)
	met := New(mgr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: met.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s := testenv.ScrapeMetrics(t, "http://"+ln.Addr().String()+"/metrics")
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_crls", "channel", "client", "state", "stale"))
	assert.Equal(t, 1.0, s.Value(t, "ssld_tls_crls", "channel", "client", "state", "current"))
	assert.Equal(t, unix(now.Add(-time.Hour)), s.Value(t, "ssld_tls_crl_next_update_seconds", "channel", "client"))
	_, ok := s.Lookup("ssld_tls_file_modified_timestamp_seconds", "channel", "client", "file", "crl")
	assert.True(t, ok)
}
