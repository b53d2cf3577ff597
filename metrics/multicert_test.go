package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/tlsctx"
)

// TestScrapeEachCertificate: a channel serving an ECDSA and an RSA
// certificate has one not_after and not_before sample per certificate,
// labelled with its position and key type, and the chain metric is the
// earliest of both.
func TestScrapeEachCertificate(t *testing.T) {
	n := newNode(t)
	o := pki.DevServerOptions()
	o.KeyType, o.NotAfter = pki.RSA2048, time.Now().Add(30*24*time.Hour)
	rsa := pkitest.MustIssue(t, n.ca, o)
	require.NoError(t, pki.WriteFile(n.path("rsa.crt"), rsa.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(n.path("rsa.key"), rsa.KeyPEM, 0o600))
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: tlsctx.JoinList([]string{n.path("server.crt"), n.path("rsa.crt")}),
		SSLKey:  tlsctx.JoinList([]string{n.path("server.key"), n.path("rsa.key")}),
		SSLCA:   n.path("ca.crt"), Cluster: tlsctx.ClusterOff}))
	require.NoError(t, err)
	n.met.src = mgr
	ec := mgr.Current(tlsctx.ChannelClient).Leaf

	s := n.scrape(t)
	assert.Equal(t, unix(ec.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "client", "certificate", "1", "key_type", "ECDSA P-256"))
	assert.Equal(t, unix(rsa.Cert.NotAfter), s.Value(t, "ssld_tls_certificate_not_after_seconds", "channel", "client", "certificate", "2", "key_type", "RSA 2048"))
	assert.Equal(t, unix(rsa.Cert.NotBefore), s.Value(t, "ssld_tls_certificate_not_before_seconds", "channel", "client", "certificate", "2"))
	assert.Equal(t, unix(rsa.Cert.NotAfter), s.Value(t, "ssld_tls_chain_not_after_seconds", "channel", "client"), "the RSA one expires first")
	assert.ElementsMatch(t, []string{"1", "2"}, s.LabelValues("ssld_tls_certificate_not_after_seconds", "certificate"))
}

// TestHealthEachCertificate: /healthz fails when the second certificate
// of the client channel has expired, naming its serial.
func TestHealthEachCertificate(t *testing.T) {
	n := newNode(t)
	o := pki.DevServerOptions()
	o.KeyType, o.NotAfter = pki.RSA2048, time.Now().Add(time.Hour)
	rsa := pkitest.MustIssue(t, n.ca, o)
	require.NoError(t, pki.WriteFile(n.path("rsa.crt"), rsa.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(n.path("rsa.key"), rsa.KeyPEM, 0o600))
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: tlsctx.JoinList([]string{n.path("server.crt"), n.path("rsa.crt")}),
		SSLKey:  tlsctx.JoinList([]string{n.path("server.key"), n.path("rsa.key")}),
		Cluster: tlsctx.ClusterOff}))
	require.NoError(t, err)
	m := New(mgr)
	assert.Empty(t, m.health())
	m.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	assert.Equal(t, "client certificate (serial "+tlsctx.FormatSerial(rsa.Cert.SerialNumber)+") expired at "+
		rsa.Cert.NotAfter.UTC().Format(time.RFC3339), m.health())
}
