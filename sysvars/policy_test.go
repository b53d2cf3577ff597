package sysvars

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/tlsctx"
)

// TestPolicyVariables: the policy variables follow the live snapshots
// without a Configured (normalised names, the cluster_ forms after their
// fall-back) and show what is configured with one, also after a refused
// reload, while the snapshot keeps what is in use.
func TestPolicyVariables(t *testing.T) {
	f := tlstest.New(t, "policy CA", true, func(s *tlsctx.Settings) {
		s.TLSVersion, s.SSLCipher, s.SSLGroups = "TLSv1.3", "ecdhe-ecdsa-aes128-gcm-sha256", "x25519:prime256v1"
		s.ClusterTLSVersion = "TLSv1.2"
	})
	live := NewRegistry()
	require.NoError(t, AddTLS(live, f.M))
	for name, want := range map[string]string{
		"tls_version": "TLSv1.3", "ssl_cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "tls_ciphersuites": "", "ssl_groups": "X25519:P-256",
		"cluster_tls_version": "TLSv1.2", "cluster_ssl_cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "cluster_ssl_groups": "X25519:P-256",
	} {
		assert.Equal(t, want, value(t, live, name), name)
	}

	conf := NewConfigured(f.Source())
	m, err := tlsctx.New(context.Background(), conf)
	require.NoError(t, err)
	r := NewRegistry()
	require.NoError(t, AddTLS(r, m, WithConfigured(conf)))
	assert.Equal(t, "x25519:prime256v1", value(t, r, "ssl_groups"), "configured, as written")
	f.Update(func(s *tlsctx.Settings) { s.SSLGroups = "X448" })
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, "X448", value(t, r, "ssl_groups"), "configured")
	assert.Equal(t, "X448", value(t, r, "cluster_ssl_groups"), "configured, after the fall-back")
	assert.Equal(t, "X25519:P-256", m.Current(tlsctx.ChannelClient).Policy.Groups, "in use")
}
