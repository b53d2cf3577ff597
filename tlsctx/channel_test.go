package tlsctx

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// separateClientCA turns the fixture into the shape of a public server
// certificate with a private client CA: the server pair is issued by the
// fixture CA, ssl_ca holds another CA (the one client certificates come
// from), and nothing names the cluster channel.
func separateClientCA(t *testing.T, f *fixture) *pki.CA {
	t.Helper()
	clients := pkitest.MustCA(t, "client CA")
	f.write("clients.crt", clients.CertPEM, 0o644)
	f.set(func(s *Settings) { s.SSLCA, s.Cluster = f.path("clients.crt"), ClusterAuto })
	return clients
}

// TestClusterChannelOnlyWhereServed: with no cluster listener and no
// cluster_ssl_* setting the cluster channel does not exist: it is not
// built (so a server certificate that does not chain to the client CA in
// ssl_ca loads and reloads), not reported, and not reloadable by name.
// The same files with the channel served fail as before, naming it.
func TestClusterChannelOnlyWhereServed(t *testing.T) {
	f := newFixture(t)
	separateClientCA(t, f)

	m, err := New(context.Background(), f)
	require.NoError(t, err)
	assert.NotNil(t, m.Current(ChannelClient))
	assert.Nil(t, m.Current(ChannelCluster), "not served: no snapshot")
	assert.Nil(t, m.ServerTLSConfig(ChannelCluster))
	assert.Equal(t, []Channel{ChannelClient}, m.Status().Channels)

	serial := f.rotate("server")
	res, err := m.Reload(context.Background())
	require.NoError(t, err, "a renewed server certificate must reload")
	assert.Equal(t, []Channel{ChannelClient}, res.Channels)
	assert.Equal(t, serial, m.Current(ChannelClient).Serial())

	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Channels, 1)
	assert.Equal(t, ChannelClient, rep.Channels[0].Channel)
	rep, err = m.Validate(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Channels, 1)

	// Asking for the channel by name: a clear error, nothing recorded.
	before := m.Status()
	_, err = m.Reload(context.Background(), ForChannel(ChannelCluster))
	require.ErrorIs(t, err, ErrChannelNotServed)
	assert.Equal(t, "channel cluster: channel: this node does not serve the cluster channel (cluster_listen is not set); there is nothing to reload", err.Error())
	assert.Equal(t, before, m.Status(), "no attempt recorded")
	_, err = m.Validate(context.Background(), ForChannel(ChannelCluster))
	require.ErrorIs(t, err, ErrChannelNotServed)

	// The same files with the channel served: its leaf must chain to
	// the cluster CA set (here ssl_ca, the client CA), and does not.
	f.set(func(s *Settings) { s.Cluster = ClusterOn })
	_, err = New(context.Background(), f)
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, ChannelCluster, re.Channel)
	assert.Contains(t, re.Reason, "does not verify against the cluster CA set (ssl_ca)")
}

// TestClusterChannelServedRule: the library's rule (ClusterAuto) serves
// the cluster channel when a cluster listener or any cluster_ssl_* value
// is set; ClusterOn and ClusterOff decide alone, and cluster_ssl_* values
// under ClusterOff are named in a warning.
func TestClusterChannelServedRule(t *testing.T) {
	cases := []struct {
		name   string
		s      Settings
		served bool
	}{
		{"nothing", Settings{}, false},
		{"cluster_ssl_cert", Settings{ClusterSSLCert: "c.crt"}, true},
		{"cluster_ssl_capath", Settings{ClusterSSLCAPath: "cas"}, true},
		{"on", Settings{Cluster: ClusterOn}, true},
		{"off despite cluster_ssl_ca", Settings{Cluster: ClusterOff, ClusterSSLCA: "ca.crt"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.True(t, tc.s.Serves(ChannelClient))
			assert.Equal(t, tc.served, tc.s.Serves(ChannelCluster))
			want := []Channel{ChannelClient}
			if tc.served {
				want = append(want, ChannelCluster)
			}
			assert.Equal(t, want, tc.s.Channels())
		})
	}

	f := newFixture(t)
	f.set(func(s *Settings) {
		s.Cluster, s.ClusterSSLCert, s.ClusterSSLKey = ClusterOff, f.path("nope.crt"), f.path("nope.key")
	})
	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err(), "the files of a channel that is not served are not read")
	assert.Contains(t, rep.Warnings, "cluster_ssl_cert, cluster_ssl_key are set but the cluster channel is not served (cluster_listen is not set): not read")
	m := f.manager()
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Contains(t, res.Warnings, "cluster_ssl_cert, cluster_ssl_key are set but the cluster channel is not served (cluster_listen is not set): not read")
}

// TestClusterChannelAppearingNeedsRestart: under the library's rule, a
// cluster_ssl_* value appearing or going serves or stops serving the
// channel; like a listener, that needs a restart.
func TestClusterChannelAppearingNeedsRestart(t *testing.T) {
	f := newFixture(t)
	f.set(func(s *Settings) { s.Cluster = ClusterAuto })
	m := f.manager()
	require.Nil(t, m.Current(ChannelCluster))
	f.writeLeaf("cluster", f.issue(pki.LeafOptions{}))
	f.set(func(s *Settings) { s.ClusterSSLCert, s.ClusterSSLKey = f.path("cluster.crt"), f.path("cluster.key") })
	_, err := m.Reload(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.RestartRequired)
	assert.Equal(t, "channel cluster: cluster_ssl_cert: the cluster channel went from not served to served; this change requires a restart", re.Error())

	m2 := f.manager()
	require.NotNil(t, m2.Current(ChannelCluster))
	f.set(func(s *Settings) { s.ClusterSSLCert, s.ClusterSSLKey = "", "" })
	_, err = m2.Reload(context.Background())
	require.ErrorAs(t, err, &re)
	assert.True(t, re.RestartRequired)
	assert.Contains(t, re.Error(), "went from served to not served")
}

// TestClientTLSConfigWithoutClusterChannel: dialling with the cluster
// material of a Manager that does not serve the channel fails at the
// handshake, saying why, instead of dialling with material nobody
// configured for it.
func TestClientTLSConfigWithoutClusterChannel(t *testing.T) {
	f := newFixture(t)
	f.set(func(s *Settings) { s.Cluster = ClusterAuto })
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5e9}, "tcp", addr, m.ClientTLSConfig("localhost"))
	if conn != nil {
		conn.Close()
	}
	require.Error(t, err)
	assert.True(t, errors.Is(err, errClusterNotServed), "%v", err)
}

// TestClusterChannelWithoutCARefused: a served cluster channel with no CA
// at all (none of its own, none to fall back to) would check peer
// certificates against the system roots. New refuses it, even with a
// degraded start (a reload cannot add a CA), and Check reports it on the
// cluster channel, naming the settings that would fix it.
func TestClusterChannelWithoutCARefused(t *testing.T) {
	f := newFixture(t)
	f.set(func(s *Settings) { s.SSLCA, s.Cluster = "", ClusterOn })
	const want = "channel cluster: cluster_ssl_ca: no CA to verify the peers' certificates on the cluster port: set cluster_ssl_ca or cluster_ssl_capath " +
		"(or ssl_ca / ssl_capath, which the cluster channel falls back to); the system roots are never trusted for peer certificates"
	for _, opts := range [][]Option{nil, {WithDegradedStart()}} {
		_, err := New(context.Background(), f, opts...)
		require.Error(t, err)
		assert.Equal(t, want, err.Error())
	}
	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.Len(t, rep.Channels, 2)
	assert.NoError(t, rep.Channels[0].Err, "the client channel needs no CA")
	require.Error(t, rep.Channels[1].Err)
	assert.Equal(t, want, rep.Channels[1].Err.Error())

	// Its own CA, or ssl_ca to fall back to: accepted.
	f.set(func(s *Settings) { s.ClusterSSLCA = f.path("ca.crt") })
	_, err = New(context.Background(), f)
	require.NoError(t, err)
}
