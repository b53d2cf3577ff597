package watch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// servedSerial opens a fresh, non-resumed TLS connection and returns the
// serial of the certificate the server presents.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	require.NoError(t, err)
	defer conn.Close()
	return tlsctx.FormatSerial(conn.ConnectionState().PeerCertificates[0].SerialNumber)
}

// settingsPaths is what the daemon's Options.Paths returns: every file
// behind the live settings (plus, in the daemon, the config file).
func settingsPaths(s tlsctx.Settings) []string {
	return []string{s.SSLCert, s.SSLKey, s.SSLCA, s.SSLCAPath,
		s.ClusterSSLCert, s.ClusterSSLKey, s.ClusterSSLCA, s.ClusterSSLCAPath}
}

func TestEndToEndWithManager(t *testing.T) {
	for _, l := range layouts(t) {
		t.Run(l.name(), func(t *testing.T) {
			ca := pkitest.MustCA(t, "e2e root")
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			require.NoError(t, pki.WriteFile(caFile, ca.CertPEM, 0o644))
			issue := func() (*pki.Leaf, string) {
				leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
				return leaf, tlsctx.FormatSerial(leaf.Cert.SerialNumber)
			}
			leaf, serial1 := issue()
			l.write(t, leaf.CertPEM, leaf.KeyPEM)

			var mu sync.Mutex
			var events []tlsctx.ReloadEvent
			m, err := tlsctx.New(context.Background(),
				tlsctx.StaticSource(tlsctx.Settings{SSLCert: l.cert(), SSLKey: l.key(), SSLCA: caFile}),
				tlsctx.WithObserver(func(ev tlsctx.ReloadEvent) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, ev)
				}))
			require.NoError(t, err)
			addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(tlsctx.ChannelClient))
			start(t, Options{
				Paths: func() []string { return settingsPaths(m.Status().Settings) },
				Reload: func(ctx context.Context) error {
					_, err := m.Reload(ctx, tlsctx.WithTrigger("watch"))
					return err
				},
				Debounce: testDebounce, Recheck: -1,
				BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			})
			require.Equal(t, serial1, servedSerial(t, addr, roots))

			// New files: new handshakes get the new certificate, with no
			// Reload call from the test.
			leaf, serial2 := issue()
			l.write(t, leaf.CertPEM, leaf.KeyPEM)
			testenv.Eventually(t, bound, func() bool { return servedSerial(t, addr, roots) == serial2 },
				"still serving %s, want %s", servedSerial(t, addr, roots), serial2)
			assert.Empty(t, m.Status().LastError)

			// A bad certificate: the old one stays and the error is recorded.
			l.write(t, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), leaf.KeyPEM)
			testenv.Eventually(t, bound, func() bool { return m.Status().LastError != "" }, "no reload error recorded")
			assert.Contains(t, m.Status().LastError, l.cert())
			assert.Equal(t, serial2, servedSerial(t, addr, roots), "the previous certificate stays in use")

			// Fixing the files recovers without any command.
			leaf, serial3 := issue()
			l.write(t, leaf.CertPEM, leaf.KeyPEM)
			testenv.Eventually(t, bound, func() bool {
				return m.Status().LastError == "" && servedSerial(t, addr, roots) == serial3
			}, "not recovered: serving %s, last error %q", servedSerial(t, addr, roots), m.Status().LastError)

			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, events)
			for _, ev := range events {
				assert.Equal(t, "watch", ev.Trigger)
			}
		})
	}
}
