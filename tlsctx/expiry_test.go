package tlsctx

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pkitest"
)

// TestExpiringBefore (and EarliestExpiry): a leaf valid for 60 days, served with an intermediate
// whose root (in ssl_ca) expires in 20 days. The intermediate and the CA
// show up before the leaf does, each naming its setting and file, earliest
// first; nothing shows within 10 days.
func TestExpiringBefore(t *testing.T) {
	now := time.Now()
	c := pkitest.MustChain(t, now.Add(25*24*time.Hour), now.Add(20*24*time.Hour), now.Add(60*24*time.Hour))
	root, inter, leaf := c.Root, c.Intermediate, c.Leaf

	f := newFixture(t)
	f.write("chain.crt", leaf.ChainPEM(inter), 0o644)
	f.write("chain.key", leaf.KeyPEM, 0o600)
	f.write("root.crt", root.CertPEM, 0o644)
	f.set(func(s *Settings) {
		s.SSLCert, s.SSLKey, s.SSLCA = f.path("chain.crt"), f.path("chain.key"), f.path("root.crt")
	})
	snap := f.manager().Current(ChannelClient)

	assert.Empty(t, snap.ExpiringBefore(now.Add(10*24*time.Hour)))

	got := snap.ExpiringBefore(now.Add(30 * 24 * time.Hour))
	require.Len(t, got, 2, "%+v", got)
	assert.Equal(t, ExpiringCert{Role: "intermediate certificate", Setting: "ssl_cert", File: f.path("chain.crt"),
		Subject: "CN=short intermediate,O=ssld", NotAfter: inter.Cert.NotAfter}, got[0])
	assert.Equal(t, ExpiringCert{Role: "CA certificate", Setting: "ssl_ca", File: f.path("root.crt"),
		Subject: "CN=short root,O=ssld", NotAfter: root.Cert.NotAfter}, got[1])

	first, ok := snap.EarliestExpiry()
	require.True(t, ok)
	assert.Equal(t, got[0], first, "the first to expire is what the chain metric reports")

	all := snap.ExpiringBefore(now.Add(90 * 24 * time.Hour))
	require.Len(t, all, 3)
	assert.Equal(t, "certificate", all[2].Role, "the leaf expires last")
	assert.Equal(t, leaf.Cert.NotAfter, all[2].NotAfter)

	// A CA read from ssl_capath names the file it came from.
	require.NoError(t, os.Mkdir(f.path("capath"), 0o755))
	f.write("capath/root.pem", root.CertPEM, 0o644)
	f.set(func(s *Settings) { s.SSLCA, s.SSLCAPath = "", f.path("capath") })
	cas := f.manager().Current(ChannelClient).ExpiringBefore(now.Add(30 * 24 * time.Hour))
	require.Len(t, cas, 2)
	assert.Equal(t, "ssl_capath", cas[1].Setting)
	assert.Equal(t, f.path("capath/root.pem"), cas[1].File)

	// A root that expires before its intermediate comes first.
	early := pkitest.MustChain(t, now.Add(15*24*time.Hour), now.Add(20*24*time.Hour), now.Add(60*24*time.Hour))
	f.write("chain.crt", early.Leaf.ChainPEM(early.Intermediate), 0o644)
	f.write("chain.key", early.Leaf.KeyPEM, 0o600)
	f.write("capath/root.pem", early.Root.CertPEM, 0o644)
	first, ok = f.manager().Current(ChannelClient).EarliestExpiry()
	require.True(t, ok)
	assert.Equal(t, "CA certificate", first.Role)
	assert.Equal(t, early.Root.Cert.NotAfter, first.NotAfter)

	var none *Snapshot
	assert.Nil(t, none.ExpiringBefore(now))
	_, ok = none.EarliestExpiry()
	assert.False(t, ok)
}
