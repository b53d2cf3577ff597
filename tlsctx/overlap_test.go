package tlsctx

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// overlapFixture serves the client channel trusting the fixture CA ("old")
// and a new CA, and returns a client certificate of each.
func overlapFixture(t *testing.T, window time.Duration) (*fixture, *Manager, string, *pki.Leaf, *pki.Leaf) {
	f := newFixture(t)
	newCA := pkitest.MustCA(t, "new CA")
	f.write("both.crt", append(append([]byte{}, f.ca.CertPEM...), newCA.CertPEM...), 0o644)
	f.write("new.crt", newCA.CertPEM, 0o644)
	f.set(func(s *Settings) { s.SSLCA, s.CAOverlap, s.Cluster = f.path("both.crt"), window, ClusterOff })
	m := f.manager()
	t.Cleanup(m.Stop)
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	return f, m, addr, f.issue(pki.LeafOptions{CN: "old-ca client"}), pkitest.MustIssue(t, newCA, pki.LeafOptions{CN: "new-ca client"})
}

// tryClient connects presenting l whatever CAs the server names (with
// Certificates, crypto/tls would send no certificate to a server that
// does not name its CA, and VerifyClientCertIfGiven would let it in).
func tryClient(f *fixture, addr string, l *pki.Leaf) error {
	cert := clientCert(l)
	c, err := roundTrip(addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	if err == nil {
		c.Close()
	}
	return err
}

// TestCAOverlapWindow: a reload that drops the old CA from ssl_ca keeps it
// trusted for the window (a warning says until when, Overlap lists it),
// then a reload of its own (trigger ca-overlap-expiry) drops it: old-CA
// clients are refused from then on, new-CA clients are not.
func TestCAOverlapWindow(t *testing.T) {
	const window = 1500 * time.Millisecond
	f, m, addr, oldClient, newClient := overlapFixture(t, window)
	require.NoError(t, tryClient(f, addr, oldClient))

	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	start := time.Now()
	res, err := m.Reload(context.Background(), WithTrigger("sql"))
	require.NoError(t, err)
	ov := m.Current(ChannelClient).Overlap()
	require.Len(t, ov, 1)
	assert.Equal(t, "CN=test root,O=ssld", ov[0].Subject)
	assert.Equal(t, "ssl_ca", ov[0].Setting)
	assert.Equal(t, f.path("both.crt"), ov[0].File)
	assert.WithinDuration(t, start.Add(window), ov[0].Until, time.Second)
	assert.Equal(t, 1, m.Current(ChannelClient).CACount, "CA_count counts the configured CAs")
	require.NotEmpty(t, res.Warnings)
	assert.Contains(t, strings.Join(res.Warnings, "\n"), `CA "CN=test root,O=ssld", no longer in ssl_ca "`+f.path("both.crt")+`", stays trusted for peer certificates until`)
	require.NoError(t, tryClient(f, addr, oldClient), "inside the window the old CA still admits its clients")
	require.NoError(t, tryClient(f, addr, newClient))
	gen := m.Status().Generation

	// A reload inside the window keeps the same end.
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	require.Len(t, m.Current(ChannelClient).Overlap(), 1)
	assert.Equal(t, ov[0].Until, m.Current(ChannelClient).Overlap()[0].Until)

	testenv.Eventually(t, 10*time.Second, func() bool { return m.Status().LastTrigger == TriggerCAOverlapExpiry },
		"the expiry reload runs when the window ends")
	assert.Empty(t, m.Current(ChannelClient).Overlap())
	assert.Equal(t, gen+1, m.Status().Generation, "the expiry reload is a reload like any other")
	h := m.History()
	assert.Equal(t, TriggerCAOverlapExpiry, h[0].Trigger)
	require.Error(t, tryClient(f, addr, oldClient), "after the window the old CA is gone")
	require.NoError(t, tryClient(f, addr, newClient))
}

// TestCAOverlapEndsAtHandshake: when the expiry reload has not run (here
// it is stopped), handshakes refuse the old CA from the end of the window
// anyway.
func TestCAOverlapEndsAtHandshake(t *testing.T) {
	const window = 500 * time.Millisecond
	f, m, addr, oldClient, newClient := overlapFixture(t, window)
	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	m.Stop()
	require.NoError(t, tryClient(f, addr, oldClient))
	time.Sleep(window + 100*time.Millisecond)
	require.Len(t, m.Current(ChannelClient).Overlap(), 1, "no expiry reload ran")
	require.Error(t, tryClient(f, addr, oldClient), "the window's end is enforced by the handshake")
	require.NoError(t, tryClient(f, addr, newClient))
}

// TestCAOverlapOff: without ssl_ca_overlap a removed CA is dropped by the
// reload that removes it, as before.
func TestCAOverlapOff(t *testing.T) {
	f, m, addr, oldClient, _ := overlapFixture(t, 0)
	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Empty(t, m.Current(ChannelClient).Overlap())
	require.Error(t, tryClient(f, addr, oldClient))
}

// TestCAOverlapReAdded: a CA configured again leaves the overlap set.
func TestCAOverlapReAdded(t *testing.T) {
	f, m, _, _, _ := overlapFixture(t, time.Hour)
	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	require.Len(t, m.Current(ChannelClient).Overlap(), 1)
	f.set(func(s *Settings) { s.SSLCA = f.path("both.crt") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.Empty(t, m.Current(ChannelClient).Overlap())
}

// TestCAOverlapClusterRotation is the CA rotation with ssl_ca_overlap and
// no hand-made bundle: ssl_ca goes from the old CA to the new CA alone
// while the node still serves its old-CA leaf (refused without the
// overlap, as the leaf must verify against the cluster CA set), then the
// new leaf is deployed, and the window's end drops the old CA: old-CA
// peers are refused on the cluster port, new-CA peers get in.
func TestCAOverlapClusterRotation(t *testing.T) {
	f := newFixture(t)
	newCA := pkitest.MustCA(t, "new CA")
	f.write("new.crt", newCA.CertPEM, 0o644)
	m := f.manager()
	t.Cleanup(m.Stop)
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelCluster))
	oldPeer := f.issue(pki.LeafOptions{CN: "old peer"})
	newPeer := pkitest.MustIssue(t, newCA, pki.LeafOptions{CN: "new peer"})
	peer := func(l *pki.Leaf) error {
		cert := clientCert(l)
		pool := f.pool()
		pool.AddCert(newCA.Cert)
		c, err := roundTrip(addr, &tls.Config{RootCAs: pool, ServerName: "localhost",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		if err == nil {
			c.Close()
		}
		return err
	}
	require.NoError(t, peer(oldPeer))
	require.Error(t, peer(newPeer))

	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	_, err := m.Reload(context.Background())
	require.Error(t, err, "without the overlap the old-CA leaf no longer verifies")
	assert.Contains(t, err.Error(), "does not verify against the cluster CA set")

	f.set(func(s *Settings) { s.CAOverlap = 1500 * time.Millisecond })
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "phase 1: the new CA alone, the old one overlapping")
	require.NoError(t, peer(oldPeer))
	require.NoError(t, peer(newPeer))

	leaf := pkitest.MustIssue(t, newCA, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: f.issue(pki.LeafOptions{}).Cert.IPAddresses})
	f.writeLeaf("server", leaf)
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "phase 2: the new leaf")
	require.Len(t, m.Current(ChannelCluster).Overlap(), 1)

	testenv.Eventually(t, 10*time.Second, func() bool { return m.Status().LastTrigger == TriggerCAOverlapExpiry },
		"phase 3 runs by itself")
	assert.Empty(t, m.Status().LastError)
	require.Error(t, peer(oldPeer), "old-CA peers are refused after the window")
	require.NoError(t, peer(newPeer))
}
