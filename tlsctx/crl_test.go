package tlsctx

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// makeCRL returns a DER CRL signed by ca revoking serials, valid from
// thisUpdate to nextUpdate.
func makeCRL(t testing.TB, ca *pki.CA, thisUpdate, nextUpdate time.Time, serials ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	require.NoError(t, err)
	return der
}

func crlPEM(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }

// clientCert is l as a client certificate for tls.Config.
func clientCert(l *pki.Leaf, chain ...*pki.CA) tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Certificate: [][]byte{l.Cert.Raw}, Leaf: l.Cert}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Cert.Raw)
	}
	return c
}

// roundTrip dials addr, writes a line and reads it back; the error of a
// refused client certificate surfaces on the read (TLS 1.3 verifies it
// after the client's Finished).
func roundTrip(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// captureHandshakeErrors records the server-side handshake errors of cfg
// (the reason crypto/tls only sends as an alert).
func captureHandshakeErrors(cfg *tls.Config) (*tls.Config, chan error) {
	errs := make(chan error, 16)
	wrapped := cfg.Clone()
	get := cfg.GetConfigForClient
	wrapped.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := get(h)
		if err != nil || c == nil || c.VerifyConnection == nil {
			return c, err
		}
		c = c.Clone()
		inner := c.VerifyConnection
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			err := inner(cs)
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
			return err
		}
		return c, nil
	}
	return wrapped, errs
}

func TestCRLRevokesClientCertificateAfterReload(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	victim := f.issue(pki.LeafOptions{CN: "victim"})
	other := f.issue(pki.LeafOptions{CN: "other"})
	cfgFor := func(l *pki.Leaf) *tls.Config {
		return &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(l)}}
	}
	c, err := roundTrip(addr, cfgFor(victim))
	require.NoError(t, err, "before the CRL the certificate is accepted")
	c.Close()

	now := time.Now()
	f.write("ca.crl", crlPEM(makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(24*time.Hour), victim.Cert.SerialNumber)), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Changed, "adding a CRL is a change")
	snap := m.Current(ChannelClient)
	require.Len(t, snap.CRLs(), 1)
	assert.Equal(t, 1, snap.CRLs()[0].Revoked)
	assert.Equal(t, f.path("ca.crl"), snap.CRLFile)
	next, ok := snap.CRLNextUpdate()
	require.True(t, ok)
	assert.WithinDuration(t, now.Add(24*time.Hour), next, time.Second)

	_, err = roundTrip(addr, cfgFor(victim))
	require.Error(t, err, "a revoked client certificate must be refused")
	err = snap.CheckRevoked([]*x509.Certificate{victim.Cert})
	require.ErrorIs(t, err, ErrRevoked)
	assert.Contains(t, err.Error(), FormatSerial(victim.Cert.SerialNumber))
	assert.Contains(t, err.Error(), f.path("ca.crl"))

	c, err = roundTrip(addr, cfgFor(other))
	require.NoError(t, err, "a certificate the CRL does not list still gets in")
	c.Close()
	c, err = roundTrip(addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost"})
	require.NoError(t, err, "no client certificate: as before")
	c.Close()

	// Removing the CRL is a reload too.
	f.set(func(s *Settings) { s.SSLCRL = "" })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	c, err = roundTrip(addr, cfgFor(victim))
	require.NoError(t, err)
	c.Close()
}

// TestCRLRefusesResumedSession: a session ticket issued before a
// revocation must not let the revoked certificate back in. The new
// snapshot's fresh ticket keys already make such a ticket fail to
// decrypt; this test hands the new snapshot the old keys as well, so the
// resumption really happens, and shows the check on the resumed handshake
// refuses it.
func TestCRLRefusesResumedSession(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			f := newFixture(t)
			m := f.manager()
			srv, errs := captureHandshakeErrors(m.ServerTLSConfig(ChannelClient))
			addr := testenv.TLSEchoServer(t, srv)
			victim := f.issue(pki.LeafOptions{CN: "victim"})
			cfg := &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(victim)},
				ClientSessionCache: tls.NewLRUClientSessionCache(4), MinVersion: v, MaxVersion: v}
			c, err := roundTrip(addr, cfg) // delivers the ticket
			require.NoError(t, err)
			c.Close()
			c, err = roundTrip(addr, cfg)
			require.NoError(t, err)
			require.True(t, c.ConnectionState().DidResume, "baseline: the ticket resumes")
			c.Close()

			old := m.Current(ChannelClient)
			now := time.Now()
			f.write("ca.crl", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), victim.Cert.SerialNumber), 0o644)
			f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
			_, err = m.Reload(context.Background())
			require.NoError(t, err)
			cur := m.Current(ChannelClient)
			require.NotSame(t, old, cur)
			// The old snapshot's ticket keys, as if it had carried them over.
			old.tickets.mu.Lock()
			keys := make([][32]byte, len(old.tickets.keys))
			for i, k := range old.tickets.keys {
				keys[i] = k.key
			}
			old.tickets.mu.Unlock()
			cur.serverConfig.SetSessionTicketKeys(keys)

			_, err = roundTrip(addr, cfg)
			require.Error(t, err, "the resumed session of a revoked certificate must be refused")
			select {
			case got := <-errs:
				require.ErrorIs(t, got, ErrRevoked)
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not refuse through its revocation check")
			}
		})
	}
}

func TestCRLRevokesIntermediate(t *testing.T) {
	f := newFixture(t)
	inter, err := f.ca.Intermediate("client issuing CA")
	require.NoError(t, err)
	leaf := pkitest.MustIssue(t, inter, pki.LeafOptions{CN: "via-intermediate"})
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	cfg := &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(leaf, inter)}}
	c, err := roundTrip(addr, cfg)
	require.NoError(t, err)
	c.Close()

	now := time.Now()
	f.write("ca.crl", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), inter.Cert.SerialNumber), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	_, err = roundTrip(addr, cfg)
	require.Error(t, err, "a certificate under a revoked intermediate must be refused")
	err = m.Current(ChannelClient).CheckRevoked([]*x509.Certificate{leaf.Cert, inter.Cert, f.ca.Cert})
	require.ErrorIs(t, err, ErrRevoked)
	assert.Contains(t, err.Error(), "intermediate certificate")
}

func TestCRLRefusedLoads(t *testing.T) {
	now := time.Now()
	stranger := pkitest.MustCA(t, "stranger CA")
	cases := []struct {
		name      string
		data      func(f *fixture) []byte
		stale     string
		expectErr string
	}{
		{"garbage", func(*fixture) []byte { return []byte("this is not a CRL\n") }, "", "no PEM data found"},
		{"empty", func(*fixture) []byte { return nil }, "", "file is empty"},
		{"bad DER", func(*fixture) []byte { return []byte{0x30, 0x03, 0x01, 0x02} }, "", "not a CRL"},
		{"a certificate not a CRL", func(f *fixture) []byte { return f.ca.CertPEM }, "", "no X509 CRL PEM block found"},
		{"another CA's CRL", func(*fixture) []byte {
			return crlPEM(makeCRL(t, stranger, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(7)))
		}, "", `CRL issuer "CN=stranger CA,O=ssld" is not in the channel's CA set (ssl_ca)`},
		{"same name another key", func(f *fixture) []byte {
			imposter := pkitest.MustCA(t, f.ca.Cert.Subject.CommonName)
			return crlPEM(makeCRL(t, imposter, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(7)))
		}, "", "CRL signature does not verify against CA"},
		{"stale under reject", func(f *fixture) []byte {
			return crlPEM(makeCRL(t, f.ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour), big.NewInt(7)))
		}, CRLStaleReject, "is past its nextUpdate"},
		{"bad policy", func(f *fixture) []byte {
			return crlPEM(makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(7)))
		}, "sometimes", `ssl_crl_stale: "sometimes": must be warn or reject`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager()
			before := m.Current(ChannelClient)
			f.write("ca.crl", tc.data(f), 0o644)
			f.set(func(s *Settings) { s.SSLCRL, s.CRLStale = f.path("ca.crl"), tc.stale })
			_, err := m.Reload(context.Background())
			require.Error(t, err)
			var re *ReloadError
			require.True(t, errors.As(err, &re))
			assert.Contains(t, err.Error(), tc.expectErr)
			if tc.stale != "sometimes" {
				assert.Equal(t, "ssl_crl", re.Setting)
				assert.Equal(t, f.path("ca.crl"), re.File)
			}
			assert.Same(t, before, m.Current(ChannelClient), "the old snapshot keeps serving")
		})
	}
}

func TestCRLStaleWarns(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	now := time.Now()
	f.write("ca.crl", crlPEM(makeCRL(t, f.ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour), big.NewInt(7))), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, res.Warnings)
	assert.Contains(t, res.Warnings[0], "is past its nextUpdate")
	assert.Contains(t, res.Warnings[0], "it is still applied")
	assert.True(t, m.Current(ChannelClient).CRLs()[0].Stale(time.Now()))
	// Every reload says it again, unchanged files included.
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.False(t, res.Changed)
	require.NotEmpty(t, res.Warnings)
	assert.Contains(t, res.Warnings[0], "is past its nextUpdate")
}

func TestCRLPathFolder(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	a, b := f.issue(pki.LeafOptions{CN: "a"}), f.issue(pki.LeafOptions{CN: "b"})
	require.NoError(t, os.Mkdir(f.path("crls"), 0o755))
	// A c_rehash layout: the CA certificate and its link, the CRL (DER)
	// and its .r0 link, and a second CRL as PEM.
	crl1 := makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), a.Cert.SerialNumber)
	f.write("crls/ca.pem", f.ca.CertPEM, 0o644)
	f.write("crls/abcdef01.0", f.ca.CertPEM, 0o644)
	f.write("crls/ca.crl", crl1, 0o644)
	f.write("crls/abcdef01.r0", crl1, 0o644)
	f.write("crls/later.pem", crlPEM(makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(2*time.Hour), b.Cert.SerialNumber)), 0o644)
	f.write("crls/README", []byte("notes\n"), 0o644)
	f.set(func(s *Settings) { s.SSLCRLPath = f.path("crls") })
	m := f.manager()
	snap := m.Current(ChannelClient)
	require.Len(t, snap.CRLs(), 2, "the link and the file it points to are one CRL")
	require.ErrorIs(t, snap.CheckRevoked([]*x509.Certificate{a.Cert}), ErrRevoked)
	require.ErrorIs(t, snap.CheckRevoked([]*x509.Certificate{b.Cert}), ErrRevoked)
	require.NoError(t, snap.CheckRevoked([]*x509.Certificate{f.issue(pki.LeafOptions{CN: "c"}).Cert}))
	next, _ := snap.CRLNextUpdate()
	assert.WithinDuration(t, now.Add(time.Hour), next, time.Second, "the earliest nextUpdate")

	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Contains(t, rep.Channels[0].Warnings, `ssl_crlpath "`+f.path("crls")+`": skipped "README" (not *.crl, *.pem or a c_rehash CRL link *.rN)`)

	// A file named as a CRL that is not one refuses the reload, naming it.
	f.write("crls/abcdef02.r0", []byte("garbage"), 0o644)
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `ssl_crlpath "`+f.path("crls/abcdef02.r0")+`": no PEM data found`)
}

func TestCAPathNamesCRLLinks(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	require.NoError(t, os.Mkdir(f.path("cas"), 0o755))
	f.write("cas/abcdef01.0", f.ca.CertPEM, 0o644)
	f.write("cas/abcdef01.r0", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(9)), 0o644)
	f.set(func(s *Settings) { s.SSLCA, s.SSLCAPath = "", f.path("cas") })
	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Contains(t, rep.Channels[0].Warnings, `ssl_capath "`+f.path("cas")+`": 1 c_rehash CRL links (*.rN) are not applied: CRLs are read from ssl_crlpath, set it to this folder to apply them`)

	f.set(func(s *Settings) { s.SSLCRLPath = f.path("cas") })
	rep, err = Check(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Empty(t, rep.Channels[0].Warnings)
	assert.Len(t, rep.Channels[0].Snapshot.CRLs(), 1)
}

// TestCRLClusterFallback: the cluster channel uses ssl_crl when
// cluster_ssl_crl* are unset; with a CA set of its own, CRLs of other CAs
// are left out rather than refusing the channel.
func TestCRLClusterFallback(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	revoked := f.issue(pki.LeafOptions{CN: "peer"})
	f.write("ca.crl", crlPEM(makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), revoked.Cert.SerialNumber)), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	m := f.manager()
	require.ErrorIs(t, m.Current(ChannelCluster).CheckRevoked([]*x509.Certificate{revoked.Cert}), ErrRevoked, "the cluster channel falls back to ssl_crl")
	assert.Equal(t, f.path("ca.crl"), m.Current(ChannelCluster).CRLFile)
	assert.Same(t, m.Current(ChannelClient).crls, m.Current(ChannelCluster).crls, "the same CRLs and CA set: one lookup table")

	clusterCA := pkitest.MustCA(t, "cluster CA")
	f.write("cluster-ca.crt", append(append([]byte{}, clusterCA.CertPEM...), f.ca.CertPEM...), 0o644)
	f.set(func(s *Settings) { s.ClusterSSLCA = f.path("cluster-ca.crt") })
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	require.ErrorIs(t, m.Current(ChannelCluster).CheckRevoked([]*x509.Certificate{revoked.Cert}), ErrRevoked, "its CA is in the cluster set too")

	f.write("cluster-ca.crt", clusterCA.CertPEM, 0o644)
	srv := pkitest.MustIssue(t, clusterCA, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	f.writeLeaf("cluster", srv)
	f.set(func(s *Settings) { s.ClusterSSLCert, s.ClusterSSLKey = f.path("cluster.crt"), f.path("cluster.key") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "an inherited CRL of a CA the cluster set does not hold is left out")
	assert.Empty(t, m.Current(ChannelCluster).CRLs())

	// Named for the cluster channel, the same CRL is refused.
	f.set(func(s *Settings) { s.ClusterSSLCRL = f.path("ca.crl") })
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `channel cluster: cluster_ssl_crl "`+f.path("ca.crl")+`": CRL issuer "CN=test root,O=ssld" is not in the channel's CA set (cluster_ssl_ca)`)
}

func TestCRLWithoutCA(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.write("ca.crl", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour)), 0o644)
	f.set(func(s *Settings) { s.SSLCA, s.SSLCRL, s.Cluster = "", f.path("ca.crl"), ClusterOff })
	_, err := New(context.Background(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `channel client: ssl_crl "`+f.path("ca.crl")+`": a CRL is set but the channel has no CA set`)
}

// TestCRLRevokesClusterPeer: the cluster port (mutual TLS required)
// refuses a revoked peer after the reload; another peer still gets in.
func TestCRLRevokesClusterPeer(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelCluster))
	revoked, other := f.issue(pki.LeafOptions{CN: "node-2"}), f.issue(pki.LeafOptions{CN: "node-3"})
	cfgFor := func(l *pki.Leaf) *tls.Config {
		return &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(l)}}
	}
	c, err := roundTrip(addr, cfgFor(revoked))
	require.NoError(t, err)
	c.Close()
	now := time.Now()
	f.write("ca.crl", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), revoked.Cert.SerialNumber), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	_, err = roundTrip(addr, cfgFor(revoked))
	require.Error(t, err, "the cluster port refuses the revoked peer")
	c, err = roundTrip(addr, cfgFor(other))
	require.NoError(t, err)
	c.Close()
}
