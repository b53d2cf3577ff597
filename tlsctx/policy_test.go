package tlsctx

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

// TestChannelPolicy: every policy setting is parsed into what crypto/tls
// applies, in OpenSSL's names, and an unknown or unenforceable value is an
// error naming the key (the cluster_ form where that is what was set) and
// the value.
func TestChannelPolicy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		s           Settings
		ch          Channel
		want        Policy // string fields only
		setting     string
		expectedErr string
	}{
		{name: "defaults", want: Policy{Versions: "TLSv1.2,TLSv1.3"}},
		{name: "TLS 1.3 only", s: Settings{TLSVersion: "TLSv1.3"}, want: Policy{Versions: "TLSv1.3"}},
		{name: "OpenSSL and IANA cipher names", s: Settings{SSLCipher: "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ecdhe-ecdsa-chacha20-poly1305"},
			want: Policy{Versions: "TLSv1.2,TLSv1.3", Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"}},
		{name: "all TLS 1.3 suites", s: Settings{TLSCipherSuites: "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256"},
			want: Policy{Versions: "TLSv1.2,TLSv1.3", CipherSuites: "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256"}},
		{name: "narrow TLS 1.3 list without TLS 1.3", s: Settings{TLSVersion: "TLSv1.2", TLSCipherSuites: "TLS_AES_256_GCM_SHA384"},
			want: Policy{Versions: "TLSv1.2", CipherSuites: "TLS_AES_256_GCM_SHA384"}},
		{name: "groups", s: Settings{SSLGroups: "X25519MLKEM768:x25519:prime256v1"},
			want: Policy{Versions: "TLSv1.2,TLSv1.3", Groups: "X25519MLKEM768:X25519:P-256"}},
		{name: "hybrid only with TLS 1.3 only", s: Settings{TLSVersion: "TLSv1.3", SSLGroups: "X25519MLKEM768"},
			want: Policy{Versions: "TLSv1.3", Groups: "X25519MLKEM768"}},
		{name: "cluster falls back to the client's", s: Settings{TLSVersion: "TLSv1.3", SSLGroups: "X25519"}, ch: ChannelCluster,
			want: Policy{Versions: "TLSv1.3", Groups: "X25519"}},
		{name: "cluster's own", s: Settings{TLSVersion: "TLSv1.3", ClusterTLSVersion: "TLSv1.2", ClusterSSLCipher: "ECDHE-ECDSA-AES256-GCM-SHA384"}, ch: ChannelCluster,
			want: Policy{Versions: "TLSv1.2", Ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"}},

		{name: "unknown version", s: Settings{TLSVersion: "TLSv1.4"}, setting: "tls_version", expectedErr: `"TLSv1.4": unknown TLS version "TLSv1.4"`},
		{name: "unknown cipher", s: Settings{SSLCipher: "ECDHE-ECDSA-AES128-GCM-SHA256:HIGH"}, setting: "ssl_cipher", expectedErr: `unknown cipher "HIGH"`},
		{name: "TLS 1.3 suite in ssl_cipher", s: Settings{SSLCipher: "TLS_AES_128_GCM_SHA256"}, setting: "ssl_cipher", expectedErr: "is a TLS 1.3 suite: list it in tls_ciphersuites"},
		{name: "insecure cipher", s: Settings{SSLCipher: "DES-CBC3-SHA"}, setting: "ssl_cipher", expectedErr: "insecure"},
		{name: "unenforceable TLS 1.3 list", s: Settings{TLSCipherSuites: "TLS_AES_256_GCM_SHA384"}, setting: "tls_ciphersuites",
			expectedErr: "leaves out TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256, which crypto/tls always offers in TLS 1.3 and cannot be restricted: ssld cannot enforce this list (list all three, or leave TLSv1.3 out of tls_version)"},
		{name: "TLS 1.2 suite in tls_ciphersuites", s: Settings{TLSCipherSuites: "ECDHE-RSA-AES128-GCM-SHA256"}, setting: "tls_ciphersuites", expectedErr: "is not a TLS 1.3 suite"},
		{name: "unknown group", s: Settings{SSLGroups: "X448"}, setting: "ssl_groups", expectedErr: `unknown group "X448"`},
		{name: "hybrid only with TLS 1.2 allowed", s: Settings{SSLGroups: "X25519MLKEM768"}, setting: "ssl_groups", expectedErr: "allows TLS 1.2"},
		{name: "cluster key named", s: Settings{ClusterSSLGroups: "bogus"}, ch: ChannelCluster, setting: "cluster_ssl_groups", expectedErr: `"bogus": unknown group`},
		{name: "client key named for the cluster's fallback", s: Settings{SSLCipher: "bogus"}, ch: ChannelCluster, setting: "ssl_cipher", expectedErr: `unknown cipher "bogus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.ch
			if ch == "" {
				ch = ChannelClient
			}
			p, err := ChannelPolicy(tc.s, ch)
			if tc.expectedErr != "" {
				var re *ReloadError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.setting, re.Setting)
				assert.Equal(t, ch, re.Channel)
				assert.Contains(t, err.Error(), tc.setting)
				assert.Contains(t, err.Error(), tc.expectedErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Versions, p.Versions)
			assert.Equal(t, tc.want.Ciphers, p.Ciphers)
			assert.Equal(t, tc.want.CipherSuites, p.CipherSuites)
			assert.Equal(t, tc.want.Groups, p.Groups)
		})
	}
}

// policyClient dials addr with cfg over TLS and returns the connection
// after a round trip through the echo server, or the error.
func policyClient(t *testing.T, addr string, f *fixture, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.RootCAs, cfg.ServerName = f.pool(), "localhost"
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c, echoes(c)
}

// echoes sends a line on c and reads it back.
func echoes(c *tls.Conn) error {
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

// TestPolicyReload: a reload applies a changed tls_version, ssl_cipher and
// ssl_groups to new handshakes, while a connection accepted before keeps
// the policy it got (and keeps working); the generation moves although no
// file changed. A policy the reload refuses leaves the old one served.
func TestPolicyReload(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	gen := m.Status().Generation

	tls12 := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}
	old, err := policyClient(t, addr, f, tls12)
	require.NoError(t, err, "TLS 1.2 is allowed at first")
	assert.Equal(t, uint16(tls.VersionTLS12), old.ConnectionState().Version)

	f.set(func(s *Settings) { s.TLSVersion = "TLSv1.3" })
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Greater(t, m.Status().Generation, gen)
	assert.Equal(t, "TLSv1.3", m.Current(ChannelClient).Policy.Versions)
	_, err = policyClient(t, addr, f, tls12)
	require.Error(t, err, "a new TLS 1.2 handshake is refused after the reload")
	require.NoError(t, echoes(old), "the session accepted before keeps its TLS 1.2")
	c13, err := policyClient(t, addr, f, &tls.Config{})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), c13.ConnectionState().Version)

	// Back to TLS 1.2 with one suite only: a client offering another is
	// refused, one offering it gets it.
	f.set(func(s *Settings) { s.TLSVersion, s.SSLCipher = "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256" })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	_, err = policyClient(t, addr, f, tls12)
	require.Error(t, err, "a suite ssl_cipher leaves out")
	c, err := policyClient(t, addr, f, &tls.Config{MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	assert.Equal(t, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, c.ConnectionState().CipherSuite)
	require.NoError(t, echoes(c13), "the TLS 1.3 session of the previous policy still works")

	// Post-quantum key exchange only.
	f.set(func(s *Settings) { s.TLSVersion, s.SSLCipher, s.SSLGroups = "TLSv1.3", "", "X25519MLKEM768" })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	_, err = policyClient(t, addr, f, &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}})
	require.Error(t, err, "a client without X25519MLKEM768")
	c, err = policyClient(t, addr, f, &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}})
	require.NoError(t, err)
	assert.Equal(t, tls.X25519MLKEM768, c.ConnectionState().CurveID)

	// Refused: the policy in use stays.
	before := m.Current(ChannelClient)
	f.set(func(s *Settings) { s.SSLGroups = "X448" })
	_, err = m.Reload(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ssl_groups", re.Setting)
	assert.Contains(t, err.Error(), `"X448"`)
	assert.Same(t, before, m.Current(ChannelClient))
	_, err = policyClient(t, addr, f, &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}})
	require.NoError(t, err, "the last good policy is served")
}

// TestPolicyKeyMismatch: an ssl_cipher list no suite of which fits the
// certificate's key is refused when only TLS 1.2 is allowed (every
// handshake would fail), and a warning when TLS 1.3 still gets through.
func TestPolicyKeyMismatch(t *testing.T) {
	f := newFixture(t) // ECDSA leaf
	m := f.manager()
	f.set(func(s *Settings) { s.TLSVersion, s.SSLCipher = "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256" })
	_, err := m.Reload(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ssl_cipher", re.Setting)
	assert.Contains(t, err.Error(), "no suite can be used with the ECDSA key")

	f.set(func(s *Settings) { s.TLSVersion = "TLSv1.2,TLSv1.3" })
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Contains(t, res.Warnings, `channels client, cluster: ssl_cipher "ECDHE-RSA-AES128-GCM-SHA256": no suite can be used with the ECDSA key of the certificate, so TLS 1.2 handshakes fail (TLS 1.3 clients are not affected)`)
}

// TestClientTLSConfigFollowsPolicy: the config for dialling other nodes
// takes the cluster channel's policy in use when it is made.
func TestClientTLSConfigFollowsPolicy(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	f.set(func(s *Settings) { s.ClusterTLSVersion, s.ClusterSSLGroups = "TLSv1.3", "X25519MLKEM768" })
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	cfg := m.ClientTLSConfig("localhost")
	assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
	assert.Equal(t, []tls.CurveID{tls.X25519MLKEM768}, cfg.CurvePreferences)
	assert.Equal(t, "TLSv1.2,TLSv1.3", m.Current(ChannelClient).Policy.Versions, "the client channel keeps its own")
}
