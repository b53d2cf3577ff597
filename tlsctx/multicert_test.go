package tlsctx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

// twoPairs writes an RSA pair (rsa.crt/.key) and an ECDSA pair
// (ec.crt/.key), both for localhost, and sets ssl_cert/ssl_key to list
// first, then second ("rsa" or "ec"). It returns the serials by name.
func (f *fixture) twoPairs(first, second string) map[string]string {
	f.t.Helper()
	serials := map[string]string{}
	for name, kt := range map[string]pki.KeyType{"rsa": pki.RSA2048, "ec": pki.ECDSAP256} {
		o := pki.DevServerOptions()
		o.KeyType = kt
		l := f.issue(o)
		f.writeLeaf(name, l)
		serials[name] = FormatSerial(l.Cert.SerialNumber)
	}
	f.set(func(s *Settings) {
		s.SSLCert = f.path(first+".crt") + ", " + f.path(second+".crt")
		s.SSLKey = f.path(first+".key") + "," + f.path(second+".key")
	})
	return serials
}

// handshakeSerial completes a handshake with cfg's server side and returns the
// serial of the certificate served.
func handshakeSerial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	require.NoError(t, err)
	defer c.Close()
	return FormatSerial(c.ConnectionState().PeerCertificates[0].SerialNumber)
}

var (
	rsaSuites   = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	ecdsaSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
)

func TestSeveralCertificatesPerChannel(t *testing.T) {
	f := newFixture(t)
	serials := f.twoPairs("ec", "rsa")
	m := f.manager()
	snap := m.Current(ChannelClient)
	require.Len(t, snap.Certs, 2)
	assert.Equal(t, 1, snap.Certs[0].Position)
	assert.Equal(t, "ECDSA P-256", snap.Certs[0].KeyType())
	assert.Equal(t, f.path("ec.crt"), snap.Certs[0].CertFile)
	assert.Equal(t, f.path("ec.key"), snap.Certs[0].KeyFile)
	assert.Equal(t, 2, snap.Certs[1].Position)
	assert.Equal(t, "RSA 2048", snap.Certs[1].KeyType())
	assert.Equal(t, f.path("rsa.crt"), snap.Certs[1].CertFile)
	// The snapshot-wide accessors describe the first.
	assert.Equal(t, serials["ec"], snap.Serial())
	assert.Equal(t, serials["rsa"], snap.Certs[1].Serial())
	assert.Equal(t, snap.Certs[0].Leaf, snap.Leaf)
	// The cluster channel falls back to the same list.
	require.Len(t, m.Current(ChannelCluster).Certs, 2)

	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	client := func(suites []uint16) *tls.Config {
		return &tls.Config{RootCAs: f.pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
	assert.Equal(t, serials["rsa"], handshakeSerial(t, addr, client(rsaSuites)), "an RSA-only client gets the RSA certificate")
	assert.Equal(t, serials["ec"], handshakeSerial(t, addr, client(ecdsaSuites)), "an ECDSA-capable client gets the first, ECDSA")
	assert.Equal(t, serials["ec"], handshakeSerial(t, addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost"}), "TLS 1.3 gets the first")

	// A reload swapping both pairs serves both new ones, chosen the same way.
	next := f.twoPairs("ec", "rsa")
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, next["rsa"], handshakeSerial(t, addr, client(rsaSuites)))
	assert.Equal(t, next["ec"], handshakeSerial(t, addr, client(ecdsaSuites)))
}

func TestSeveralCertificatesChosenByServerName(t *testing.T) {
	f := newFixture(t)
	a := f.issue(pki.LeafOptions{CN: "a.example", DNSNames: []string{"a.example"}})
	b := f.issue(pki.LeafOptions{CN: "b.example", DNSNames: []string{"b.example"}})
	f.writeLeaf("a", a)
	f.writeLeaf("b", b)
	f.set(func(s *Settings) {
		s.SSLCert, s.SSLKey = f.path("a.crt")+","+f.path("b.crt"), f.path("a.key")+","+f.path("b.key")
		s.Cluster = ClusterOff
	})
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	for _, tc := range []struct{ name, want string }{
		{"a.example", FormatSerial(a.Cert.SerialNumber)},
		{"b.example", FormatSerial(b.Cert.SerialNumber)},
	} {
		assert.Equal(t, tc.want, handshakeSerial(t, addr, &tls.Config{RootCAs: f.pool(), ServerName: tc.name}), tc.name)
	}
	// No name that matches: the first one.
	got := handshakeSerial(t, addr, &tls.Config{InsecureSkipVerify: true, ServerName: "c.example"})
	assert.Equal(t, FormatSerial(a.Cert.SerialNumber), got)
}

func TestSeveralCertificatesOneBadPairRefusesTheReload(t *testing.T) {
	f := newFixture(t)
	serials := f.twoPairs("ec", "rsa")
	m := f.manager()
	gen := m.Status().Generation
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))

	// The second pair's key belongs to another certificate.
	f.twoPairs("ec", "rsa")
	other := f.issue(pki.LeafOptions{KeyType: pki.RSA2048})
	f.write("rsa.key", other.KeyPEM, 0o600)
	_, err := m.Reload(context.Background())
	require.Error(t, err)
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ssl_key", re.Setting)
	assert.Equal(t, f.path("rsa.key"), re.File)
	assert.Contains(t, err.Error(), "does not match")
	assert.Contains(t, err.Error(), `pair 2 of 2: ssl_cert "`+f.path("rsa.crt")+`" with ssl_key "`+f.path("rsa.key")+`"`)
	// Nothing was swapped: the first pair, valid on its own, is not served
	// either; both old certificates are.
	assert.Equal(t, gen, m.Status().Generation)
	assert.Equal(t, serials["ec"], m.Current(ChannelClient).Serial())
	assert.Equal(t, serials["rsa"], m.Current(ChannelClient).Certs[1].Serial())
	client := func(suites []uint16) *tls.Config {
		return &tls.Config{RootCAs: f.pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
	assert.Equal(t, serials["rsa"], handshakeSerial(t, addr, client(rsaSuites)))
	assert.Equal(t, serials["ec"], handshakeSerial(t, addr, client(ecdsaSuites)))
}

func TestSeveralCertificatesBadLists(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	f.twoPairs("ec", "rsa")
	f.set(func(s *Settings) { s.SSLKey = f.path("ec.key") })
	_, err := m.Reload(context.Background())
	require.Error(t, err)
	assert.Equal(t, `channel client: ssl_key "`+f.path("ec.key")+`": lists 1 key but ssl_cert "`+
		f.path("ec.crt")+", "+f.path("rsa.crt")+`" lists 2 certificates; certificates and keys pair by position`, err.Error())

	// An expired second certificate names its own file.
	f.twoPairs("ec", "rsa")
	old := f.issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	f.writeLeaf("rsa", old)
	_, err = m.Reload(context.Background())
	require.ErrorIs(t, err, ErrOutsideValidity)
	assert.Contains(t, err.Error(), `ssl_cert "`+f.path("rsa.crt")+`": certificate expired`)
}

func TestSeveralCertificatesOneToTwoAndBack(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	require.Len(t, m.Current(ChannelClient).Certs, 1)
	serials := f.twoPairs("ec", "rsa")
	res, err := m.Reload(context.Background())
	require.NoError(t, err, "one certificate to two is a normal reload")
	assert.True(t, res.Changed)
	require.Len(t, m.Current(ChannelClient).Certs, 2)
	assert.Equal(t, serials["rsa"], m.Current(ChannelClient).Certs[1].Serial())

	// The same list again: unchanged.
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.False(t, res.Changed)

	f.set(func(s *Settings) { s.SSLCert, s.SSLKey = f.path("rsa.crt"), f.path("rsa.key") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "and back to one")
	require.Len(t, m.Current(ChannelClient).Certs, 1)
	assert.Equal(t, serials["rsa"], m.Current(ChannelClient).Serial())
}

func TestSeveralCertificatesExpiryCoversEach(t *testing.T) {
	f := newFixture(t)
	f.twoPairs("ec", "rsa")
	soon := f.issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, KeyType: pki.RSA2048,
		NotAfter: time.Now().Add(48 * time.Hour)})
	f.writeLeaf("rsa", soon)
	f.set(func(s *Settings) { s.ExpiryWarning = 7 * 24 * time.Hour; s.Cluster = ClusterOff })
	m := f.manager()
	f.write("touch", []byte("x"), 0o600) // an unrelated change: the reload is unchanged
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	var hits []string
	for _, w := range res.Warnings {
		if strings.Contains(w, "expires at") {
			hits = append(hits, w)
		}
	}
	require.Len(t, hits, 1, "%q", res.Warnings)
	assert.Contains(t, hits[0], `ssl_cert "`+f.path("rsa.crt")+`": certificate expires at`)

	exp := m.Current(ChannelClient).ExpiringBefore(time.Now().Add(400 * 24 * time.Hour))
	var files []string
	for _, e := range exp {
		if e.Role == "certificate" {
			files = append(files, e.File)
		}
	}
	assert.Equal(t, []string{f.path("rsa.crt"), f.path("ec.crt")}, files, "each certificate, earliest first")
}

func TestSeveralCertificatesClusterVerifiesEach(t *testing.T) {
	f := newFixture(t)
	f.twoPairs("ec", "rsa")
	m := f.manager()
	// A second cluster certificate from a CA the cluster does not trust.
	stranger := pkiCA(t, "stranger")
	o := pki.DevServerOptions() // this node's names: the identity guard has nothing to say
	o.KeyType = pki.RSA2048
	l, err := stranger.Issue(o)
	require.NoError(t, err)
	f.writeLeaf("rsa", l)
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `channel cluster: ssl_cert "`+f.path("rsa.crt")+`": certificate does not verify against the cluster CA set`)
	assert.Contains(t, err.Error(), "pair 2 of 2")
}

func pkiCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(cn)
	require.NoError(t, err)
	return ca
}

// TestSeveralCertificatesOpenSSLSigalgs drives openssl s_client with its
// signature algorithms restricted to RSA and to ECDSA, in TLS 1.3 and
// 1.2, against a listener serving an ECDSA-first list.
func TestSeveralCertificatesOpenSSLSigalgs(t *testing.T) {
	testenv.LookPath(t, "openssl")
	f := newFixture(t)
	serials := f.twoPairs("ec", "rsa")
	m := f.manager()
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	check := func(want map[string]string) {
		t.Helper()
		for _, tc := range []struct{ sigalgs, version, want string }{
			{"rsa_pss_rsae_sha256", "-tls1_3", "rsa"},
			{"ECDSA+SHA256", "-tls1_3", "ec"},
			{"RSA+SHA256:rsa_pss_rsae_sha256", "-tls1_2", "rsa"},
			{"ECDSA+SHA256", "-tls1_2", "ec"},
		} {
			assert.Equal(t, want[tc.want], opensslServed(t, addr, tc.version, "-sigalgs", tc.sigalgs), "%s %s", tc.version, tc.sigalgs)
		}
	}
	check(serials)
	next := f.twoPairs("ec", "rsa")
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	check(next)
}

// opensslServed runs openssl s_client against a plain TLS listener and
// returns the serial of the certificate it was served.
func opensslServed(t *testing.T, addr string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", addr, "-servername", "localhost"}, args...)...)
	sc.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	sc.Stderr = &stderr
	out, err := sc.Output()
	require.NoError(t, err, "openssl s_client %v: %s", args, stderr.String())
	x := exec.CommandContext(ctx, "openssl", "x509", "-noout", "-serial")
	x.Stdin = bytes.NewReader(out)
	ser, err := x.CombinedOutput()
	require.NoError(t, err, "openssl x509: %s", ser)
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(ser)), "serial="))
}

func TestSeveralCertificatesHistory(t *testing.T) {
	f := newFixture(t)
	old := f.twoPairs("ec", "rsa")
	f.set(func(s *Settings) { s.Cluster = ClusterOff })
	m := f.manager()
	oldFP := m.Current(ChannelClient).Certs[0].Fingerprint() + "," + m.Current(ChannelClient).Certs[1].Fingerprint()
	next := f.twoPairs("ec", "rsa")
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	cur := m.Current(ChannelClient)
	h := m.History()
	require.NotEmpty(t, h)
	require.Len(t, h[0].Channels, 1)
	c := h[0].Channels[0]
	assert.Equal(t, old["ec"]+","+old["rsa"], c.OldSerial)
	assert.Equal(t, next["ec"]+","+next["rsa"], c.NewSerial)
	assert.Equal(t, oldFP, c.OldFingerprint)
	assert.Equal(t, cur.Certs[0].Fingerprint()+","+cur.Certs[1].Fingerprint(), c.NewFingerprint)
}

func TestSeveralCertificatesEmptyList(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	for _, tc := range []struct{ cert, key, want string }{
		{" , ", f.path("server.key"), `channel client: ssl_cert " , ": names no file (only commas and spaces)`},
		{f.path("server.crt"), ",", `channel client: ssl_key ",": names no file (only commas and spaces)`},
	} {
		f.set(func(s *Settings) { s.SSLCert, s.SSLKey = tc.cert, tc.key })
		_, err := m.Reload(context.Background())
		require.Error(t, err)
		assert.Equal(t, tc.want, err.Error())
	}
}

// TestSeveralCertificatesClusterClient: dialling another node with a
// cluster channel of two certificates presents the first one the peer's
// certificate request accepts: with crypto/tls's request, which accepts
// every signature algorithm, the first of the list.
func TestSeveralCertificatesClusterClient(t *testing.T) {
	f := newFixture(t)
	serials := f.twoPairs("ec", "rsa")
	m := f.manager()
	got := make(chan string, 1)
	peer := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.Current(ChannelCluster).Certificate, nil
		},
		ClientAuth: tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			if err == nil {
				got <- FormatSerial(c.SerialNumber)
			}
			return err
		},
	}
	addr := testenv.TLSEchoServer(t, peer)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, m.ClientTLSConfig("localhost"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Handshake())
	select {
	case s := <-got:
		assert.Equal(t, serials["ec"], s)
	case <-time.After(5 * time.Second):
		t.Fatal("the peer saw no client certificate")
	}
}

// TestSeveralCertificatesIdentityGuard: the identity guard holds for each
// certificate of a channel. Another node's RSA certificate behind this
// node's ECDSA one is refused, naming what it drops; adding a second
// certificate with the same names, swapping the order, or going back to one
// is no change.
func TestSeveralCertificatesIdentityGuard(t *testing.T) {
	f := newFixture(t)
	serials := f.twoPairs("ec", "rsa")
	m := f.manager()
	require.Len(t, m.Current(ChannelClient).Certs, 2)

	// Position 2 becomes another node's RSA certificate.
	o := pki.LeafOptions{CN: "node-b", DNSNames: []string{"node-b.example"}, KeyType: pki.RSA2048}
	f.writeLeaf("rsa", f.issue(o))
	_, err := m.Reload(context.Background())
	require.ErrorIs(t, err, ErrIdentityChange)
	assert.Contains(t, err.Error(), "drops DNS name localhost; drops IP addresses 127.0.0.1, ::1")
	assert.Equal(t, serials["rsa"], m.Current(ChannelClient).Certs[1].Serial(), "the served RSA certificate stays")

	// This node's own RSA certificate again, then the order swapped and
	// back to one certificate: the names are kept, no refusal.
	serials = f.twoPairs("rsa", "ec")
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "the same names in the other order")
	assert.Equal(t, serials["rsa"], m.Current(ChannelClient).Serial())
	f.set(func(s *Settings) { s.SSLCert, s.SSLKey = f.path("ec.crt"), f.path("ec.key") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err, "down to one certificate with the same names")
}
