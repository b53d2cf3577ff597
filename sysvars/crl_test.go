package sysvars

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/tlsctx"
)

// TestConfiguredCRL: @@ssl_crl / @@ssl_crlpath show the configured CRL
// settings, the snapshot (Current_tls_crl*) what is applied: a refused
// reload (here a CRL file that is not one) leaves them apart.
func TestConfiguredCRL(t *testing.T) {
	f := tlstest.New(t, "crl CA", true)
	conf := NewConfigured(f.Source())
	m, err := tlsctx.New(context.Background(), conf)
	require.NoError(t, err)
	r := NewRegistry()
	require.NoError(t, AddTLS(r, m, WithConfigured(conf)))
	assert.Equal(t, "", value(t, r, "ssl_crl"))
	assert.Equal(t, "warn", value(t, r, "ssl_crl_stale"))

	bad := filepath.Join(f.Dir, "bad.crl")
	require.NoError(t, os.WriteFile(bad, []byte("not a CRL"), 0o600))
	dir := filepath.Join(f.Dir, "crls")
	require.NoError(t, os.Mkdir(dir, 0o700))
	f.Update(func(s *tlsctx.Settings) { s.SSLCRL, s.SSLCRLPath, s.CRLStale = bad, dir, tlsctx.CRLStaleReject })
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, bad, value(t, r, "ssl_crl"), "configured")
	assert.Equal(t, dir, value(t, r, "ssl_crlpath"), "configured")
	assert.Equal(t, bad, value(t, r, "cluster_ssl_crl"), "the cluster channel falls back to ssl_crl")
	assert.Equal(t, "reject", value(t, r, "ssl_crl_stale"))
	assert.Equal(t, "", m.Current(tlsctx.ChannelClient).CRLFile, "in use: none")

	// Without WithConfigured they describe what is applied.
	r2 := NewRegistry()
	require.NoError(t, AddTLS(r2, m))
	assert.Equal(t, "", value(t, r2, "ssl_crl"))
	f.Update(func(s *tlsctx.Settings) { s.SSLCRL = "" })
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "an empty ssl_crlpath folder applies nothing, with a warning")
	assert.Equal(t, dir, value(t, r2, "ssl_crlpath"))
	assert.Equal(t, "", value(t, r2, "ssl_crl"))
}

// TestTrustPolicyVariables: ssl_ca_overlap, ssl_close_untrusted_sessions
// and ssl_allow_identity_change follow the live settings.
func TestTrustPolicyVariables(t *testing.T) {
	f := tlstest.New(t, "policy CA", true)
	r := NewRegistry()
	require.NoError(t, AddTLS(r, f.M))
	assert.Equal(t, "0s", value(t, r, "ssl_ca_overlap"))
	assert.Equal(t, "OFF", value(t, r, "ssl_close_untrusted_sessions"))
	assert.Equal(t, "ON", value(t, r, "ssl_allow_identity_change"), "the tlstest kit allows it")
	f.Update(func(s *tlsctx.Settings) {
		s.CAOverlap, s.CloseUntrustedSessions, s.AllowIdentityChange = 72*time.Hour, true, false
	})
	_, err := f.M.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "72h0m0s", value(t, r, "ssl_ca_overlap"))
	assert.Equal(t, "ON", value(t, r, "ssl_close_untrusted_sessions"))
	assert.Equal(t, "OFF", value(t, r, "ssl_allow_identity_change"))
}
