package sysvars

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/tlsctx"
)

// TestConfiguredAfterRefusedReload: with WithConfigured the setting
// variables show what the config file held at the last reload attempt,
// while the snapshot (Current_tls_*, ssl_server_*) keeps what is served:
// after a refused reload the two differ; a good reload brings them together.
func TestConfiguredAfterRefusedReload(t *testing.T) {
	f := tlstest.New(t, "configured CA", true)
	conf := NewConfigured(f.Source())
	m, err := tlsctx.New(context.Background(), conf)
	require.NoError(t, err)
	r := NewRegistry()
	require.NoError(t, AddTLS(r, m, WithConfigured(conf)))
	assert.Equal(t, f.CertPath, value(t, r, "ssl_cert"), "start-up: configured = in use")
	assert.Equal(t, f.CertPath, value(t, r, "cluster_ssl_cert"), "cluster falls back to ssl_cert")
	assert.Equal(t, "TLSv1.2,TLSv1.3", value(t, r, "tls_version"))

	missing := filepath.Join(f.Dir, "renewed.crt")
	f.Update(func(s *tlsctx.Settings) { s.SSLCert, s.ClusterSSLCA = missing, filepath.Join(f.Dir, "cluster-ca.crt") })
	_, err = m.Reload(context.Background())
	require.Error(t, err, "the new certificate file does not exist")
	assert.Equal(t, missing, value(t, r, "ssl_cert"), "configured")
	assert.Equal(t, f.CertPath, m.Current(tlsctx.ChannelClient).CertFile, "in use")
	assert.Equal(t, filepath.Join(f.Dir, "cluster-ca.crt"), value(t, r, "cluster_ssl_ca"))
	assert.Equal(t, f.CAPath, value(t, r, "ssl_ca"))

	// A config file that cannot be read keeps the last settings.
	failing := false
	flaky := NewConfigured(tlsctx.SourceFunc(func(ctx context.Context) (tlsctx.Settings, error) {
		if failing {
			return tlsctx.Settings{}, errors.New("parse error")
		}
		return f.Source().Load(ctx)
	}))
	_, ok := flaky.Settings()
	assert.False(t, ok, "nothing loaded yet")
	_, err = flaky.Load(context.Background())
	require.NoError(t, err)
	failing = true
	_, err = flaky.Load(context.Background())
	require.Error(t, err)
	kept, ok := flaky.Settings()
	assert.True(t, ok)
	assert.Equal(t, missing, kept.SSLCert, "the settings of the last good read")
	f.Update(func(s *tlsctx.Settings) { s.SSLCert, s.ClusterSSLCA = f.CertPath, f.CAPath })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, f.CertPath, value(t, r, "ssl_cert"), "repaired: configured = in use again")

	// Without WithConfigured the variables keep describing what is served.
	r2 := NewRegistry()
	require.NoError(t, AddTLS(r2, m))
	f.Update(func(s *tlsctx.Settings) { s.SSLCert = missing })
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, f.CertPath, value(t, r2, "ssl_cert"))
	assert.Equal(t, missing, value(t, r, "ssl_cert"))
}
