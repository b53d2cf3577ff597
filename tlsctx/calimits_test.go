package tlsctx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestCAPathSkipsAggregated: however many files in ssl_capath are skipped,
// each kind is one warning with the count and the first file (with its
// reason), not one line per file.
func TestCAPathSkipsAggregated(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, os.Mkdir(f.path("cas"), 0o755))
	f.write("cas/root.pem", f.ca.CertPEM, 0o644)
	for i := range 500 {
		f.write(fmt.Sprintf("cas/junk%03d.pem", i), []byte("junk"), 0o644)
		f.write(fmt.Sprintf("cas/notes%03d.txt", i), []byte("notes"), 0o644)
	}
	f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
	m := f.manager()
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{
		`channels client, cluster: ssl_capath "` + f.path("cas") + `": skipped 500 files (not *.pem, *.crt, *.cer or a c_rehash hash name), the first "notes000.txt"`,
		`channels client, cluster: ssl_capath "` + f.path("cas") + `": skipped 500 files (not certificates), the first "junk000.pem": not a certificate (no PEM data found)`,
	}, res.Warnings)
}

// longNameCAs mints n CAs whose subjects are about 290 bytes each and
// returns the PEM of the first k of them and of all n.
func longNameCAs(t *testing.T, k, n int) (first, all []byte) {
	t.Helper()
	for i := range n {
		if i == k {
			first = append([]byte{}, all...)
		}
		ca := pkitest.MustCA(t, fmt.Sprintf("%03d %s", i, strings.Repeat("x", 250)))
		all = append(all, ca.CertPEM...)
	}
	return first, all
}

// TestCASetFitsCertificateRequest: crypto/tls lists every CA name in the
// CertificateRequest, whose list has a 2-byte length. A CA set past it
// makes every handshake that asks for a client certificate fail, so a
// reload refuses it with that reason; one just under it loads and serves.
func TestCASetFitsCertificateRequest(t *testing.T) {
	f := newFixture(t)
	f.set(func(s *Settings) { s.Cluster = ClusterAuto })
	fits, big := longNameCAs(t, 200, 240) // ~58 and ~69 KB of names
	f.write("big.crt", append(append([]byte{}, f.ca.CertPEM...), big...), 0o644)

	// The failure this guards against, with a plain crypto/tls server.
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(big))
	leaf := f.issue(pki.LeafOptions{})
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	require.NoError(t, err)
	plain := testenv.TLSEchoServer(t, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven})
	_, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", plain, &tls.Config{RootCAs: f.pool(), ServerName: "localhost"})
	require.Error(t, err, "a CertificateRequest past 65,535 bytes of names cannot be sent")

	m := f.manager()
	f.set(func(s *Settings) { s.SSLCA = f.path("big.crt") })
	_, err = m.Reload(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "ssl_ca", re.Setting)
	assert.Equal(t, f.path("big.crt"), re.File)
	assert.Regexp(t, `^241 CA certificates \(ssl_ca\) whose names take \d+ bytes: more than the 65533 bytes a TLS CertificateRequest can list, `+
		`so every handshake that asks for a client certificate would fail; keep only the CAs that issue client certificates$`, re.Reason)
	rep, err := Check(context.Background(), f)
	require.NoError(t, err)
	require.Error(t, rep.Err(), "ssld check says the same")
	assert.Equal(t, re.Error(), rep.Err().Error())

	// 200 of them fit: the reload succeeds and a client completes a
	// handshake that asks for its certificate.
	f.write("fits.crt", append(append([]byte{}, f.ca.CertPEM...), fits...), 0o644)
	_ = f.rotate("server")
	f.set(func(s *Settings) { s.SSLCA = f.path("fits.crt") })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 201, m.Current(ChannelClient).CACount)
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	client := f.issue(pki.LeafOptions{CN: "client"})
	cc, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	require.NoError(t, err)
	conn := dial(t, addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{cc}})
	echo(t, conn, "hello")
	assert.Len(t, conn.ConnectionState().PeerCertificates, 1)
}
