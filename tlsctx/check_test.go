package tlsctx

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// TestCheckBuildsEveryChannelWithoutPublishing: Check reports every
// channel, the broken ones with their error; Validate is a dry run that
// leaves the Manager's snapshots and bookkeeping alone.
func TestCheckBuildsEveryChannelWithoutPublishing(t *testing.T) {
	f := newFixture(t)
	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Channels, 2)
	assert.True(t, rep.Channels[0].Snapshot.Enabled())
	assert.Equal(t, "CN=test root,O=ssld", rep.Channels[0].Snapshot.Issuer())

	m := f.manager()
	before, st := m.Current(ChannelClient), m.Status()

	f.write("server.key", f.issue(pki.LeafOptions{}).KeyPEM, 0o600) // mismatched
	rep, err = Check(context.Background(), f)
	require.NoError(t, err)
	for _, c := range rep.Channels {
		require.Error(t, c.Err, c.Channel)
		assert.Contains(t, c.Err.Error(), `ssl_key "`+f.path("server.key")+`": private key does not match`)
	}
	rep, err = m.Validate(context.Background())
	require.NoError(t, err)
	require.Error(t, rep.Err())

	f.writeLeaf("server", f.issue(pki.LeafOptions{}))
	rep, err = m.Validate(context.Background(), ForChannel(ChannelClient))
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Len(t, rep.Channels, 1)
	assert.NotEqual(t, before.Serial(), rep.Channels[0].Snapshot.Serial())

	assert.Same(t, before, m.Current(ChannelClient), "Validate publishes nothing")
	assert.Equal(t, st, m.Status(), "Validate touches no bookkeeping")

	f.set(func(s *Settings) { s.SSLCA = "" }) // the CA set going: a restart
	_, err = m.Validate(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.RestartRequired)
}

// TestExpiryWarning: a leaf inside ExpiryWarning loads with a warning
// naming the channel and the date; outside it, none; changing only the
// threshold does not bump the generation.
func TestExpiryWarning(t *testing.T) {
	f := newFixture(t)
	f.writeLeaf("server", f.issue(pki.LeafOptions{NotAfter: time.Now().Add(60 * 24 * time.Hour)}))
	f.set(func(s *Settings) { s.ExpiryWarning = 14 * 24 * time.Hour })
	m := f.manager()
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Empty(t, res.Warnings)

	soon := f.issue(pki.LeafOptions{NotAfter: time.Now().Add(3 * 24 * time.Hour)})
	f.writeLeaf("server", soon)
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	// One finding: the cluster channel falls back to the same ssl_* file,
	// so the warning is not channel-specific and names no channel.
	require.Len(t, res.Warnings, 1, "%q", res.Warnings)
	date := soon.Cert.NotAfter.UTC().Format(time.RFC3339)
	assert.Equal(t, `channels client, cluster: ssl_cert "`+f.path("server.crt")+`": certificate expires at `+date+
		` (in 3d, within ssl_expiry_warning 14d); renew it`, res.Warnings[0])
	gen := res.Generation

	f.set(func(s *Settings) { s.ExpiryWarning = 0 })
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.Empty(t, res.Warnings, "0 disables the warning")
	assert.Equal(t, gen, res.Generation, "the threshold is not material")
	assert.False(t, res.Changed)
}

// TestExpiryWarningChainAndCA: the reload warning covers what the channel
// depends on besides the leaf: a leaf with 60 days, served with an
// intermediate with 4 days under a root (ssl_ca) with 5, warns about the
// intermediate and the CA, earliest first, each naming its setting, file
// and subject, and not the leaf.
func TestExpiryWarningChainAndCA(t *testing.T) {
	now := time.Now()
	c := pkitest.MustChain(t, now.Add(5*24*time.Hour), now.Add(4*24*time.Hour), now.Add(60*24*time.Hour))
	f := newFixture(t)
	f.write("chain.crt", c.Leaf.ChainPEM(c.Intermediate), 0o644)
	f.write("chain.key", c.Leaf.KeyPEM, 0o600)
	f.write("root.crt", c.Root.CertPEM, 0o644)
	f.set(func(s *Settings) {
		s.SSLCert, s.SSLKey, s.SSLCA = f.path("chain.crt"), f.path("chain.key"), f.path("root.crt")
		s.ExpiryWarning = 14 * 24 * time.Hour
	})
	res, err := f.manager().Reload(context.Background())
	require.NoError(t, err)
	date := func(c *pki.CA) string { return c.Cert.NotAfter.UTC().Format(time.RFC3339) }
	assert.Equal(t, []string{
		`channels client, cluster: ssl_cert "` + f.path("chain.crt") + `": intermediate certificate "CN=short intermediate,O=ssld" expires at ` + date(c.Intermediate) + ` (in 4d, within ssl_expiry_warning 14d); renew it`,
		`channels client, cluster: ssl_ca "` + f.path("root.crt") + `": CA certificate "CN=short root,O=ssld" expires at ` + date(c.Root) + ` (in 5d, within ssl_expiry_warning 14d); renew it`,
	}, res.Warnings)
}

// TestDegradedStart: with WithDegradedStart an expired certificate does
// not fail New; the channel is unavailable with the reason, and the first
// good reload brings it up.
func TestDegradedStart(t *testing.T) {
	f := newFixture(t)
	f.writeLeaf("server", f.issue(pki.LeafOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
	_, err := New(context.Background(), f)
	require.Error(t, err, "without the option New refuses")

	m, err := New(context.Background(), f, WithDegradedStart())
	require.NoError(t, err)
	for _, ch := range []Channel{ChannelClient, ChannelCluster} {
		require.Error(t, m.Unavailable(ch))
		assert.Contains(t, m.Unavailable(ch).Error(), "certificate expired at")
		assert.False(t, m.Current(ch).Enabled())
		require.NotNil(t, m.ServerTLSConfig(ch), "the listener config exists so a reload can bring TLS up")
	}
	st := m.Status()
	assert.Contains(t, st.LastError, "channel client: ssl_cert")
	assert.Equal(t, "startup", st.LastTrigger)
	assert.Equal(t, []Channel{ChannelClient, ChannelCluster}, st.Unavailable)
	assert.False(t, st.LastAttempt.IsZero())

	_, err = m.Reload(context.Background(), WithTrigger("sql"), WithUser("admin@localhost"))
	require.Error(t, err, "still expired")

	good := f.issue(pki.LeafOptions{})
	f.writeLeaf("server", good)
	_, err = m.Reload(context.Background(), ForChannel(ChannelClient), WithTrigger("signal"))
	require.NoError(t, err)
	require.NoError(t, m.Unavailable(ChannelClient))
	assert.Error(t, m.Unavailable(ChannelCluster), "not reloaded yet")
	assert.Contains(t, m.Status().LastError, "channel cluster:", "the remaining reason stays visible")

	res, err := m.Reload(context.Background(), WithTrigger("sql"), WithUser("admin@localhost"))
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.NoError(t, m.Unavailable(ChannelCluster))
	st = m.Status()
	assert.Empty(t, st.LastError)
	assert.Empty(t, st.Unavailable)
	assert.Equal(t, "sql admin@localhost", st.LastTrigger)
	assert.Equal(t, serialHex(good), m.Current(ChannelClient).Serial())
}

func serialHex(l *pki.Leaf) string {
	return (&Snapshot{Certificate: &tls.Certificate{}, Leaf: l.Cert}).Serial()
}
