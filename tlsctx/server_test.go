package tlsctx

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

func dial(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return conn
}

func echo(t *testing.T, conn *tls.Conn, msg string) {
	t.Helper()
	_, err := conn.Write([]byte(msg + "\n"))
	require.NoError(t, err)
	got, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, msg+"\n", got)
}

func servedSerial(conn *tls.Conn) string {
	return FormatSerial(conn.ConnectionState().PeerCertificates[0].SerialNumber)
}

func TestReloadSwapsServedCertificate(t *testing.T) {
	f := newFixture(t)
	f.rotate("server")
	m, err := New(context.Background(), StaticSource(f.settings))
	require.NoError(t, err)
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	clientCfg := &tls.Config{RootCAs: f.pool(), ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(8)}

	first := dial(t, addr, clientCfg)
	echo(t, first, "hello") // also delivers the TLS 1.3 session ticket
	oldSerial := m.Current(ChannelClient).Serial()
	assert.Equal(t, oldSerial, servedSerial(first))

	// Without a reload the ticket resumes.
	again := dial(t, addr, clientCfg)
	echo(t, again, "again")
	assert.True(t, again.ConnectionState().DidResume, "baseline: tickets work")

	newSerial := f.rotate("server")
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, newSerial, m.Current(ChannelClient).Serial())

	second := dial(t, addr, clientCfg)
	assert.False(t, second.ConnectionState().DidResume, "a ticket from before the reload must not resume")
	assert.Equal(t, newSerial, servedSerial(second), "new handshakes get the new certificate")

	echo(t, first, "still alive") // the established connection keeps its context
	assert.Equal(t, oldSerial, servedSerial(first))
	echo(t, second, "new")
}

func TestClusterMutualTLSFollowsCARotation(t *testing.T) {
	f := newFixture(t)
	f.rotate("server")
	m, err := New(context.Background(), f)
	require.NoError(t, err)
	srvCfg := m.ServerTLSConfig(ChannelCluster)
	require.NotNil(t, srvCfg)
	addr := testenv.TLSEchoServer(t, srvCfg)

	echo(t, dial(t, addr, m.ClientTLSConfig("localhost")), "one")

	// A client without a certificate is refused on the cluster channel.
	// With TLS 1.3 the server's verdict arrives on the first read.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost"})
	if err == nil {
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, _ = conn.Write([]byte("x\n"))
		_, err = conn.Read(make([]byte, 1))
	}
	require.Error(t, err)

	// Rotate to a new CA with an overlap bundle, then reload: the same
	// client config keeps working because it reads the live snapshot.
	newCA := pkitest.MustCA(t, "root 2")
	l := pkitest.MustIssue(t, newCA, pki.DevServerOptions())
	f.write("cluster.crt", l.CertPEM, 0o600)
	f.write("cluster.key", l.KeyPEM, 0o600)
	f.write("cluster-ca.crt", append(append([]byte{}, f.ca.CertPEM...), newCA.CertPEM...), 0o600)
	f.set(func(s *Settings) {
		s.ClusterSSLCert, s.ClusterSSLKey, s.ClusterSSLCA = f.path("cluster.crt"), f.path("cluster.key"), f.path("cluster-ca.crt")
	})
	clientCfg := m.ClientTLSConfig("localhost")
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	conn = dial(t, addr, clientCfg)
	echo(t, conn, "two")
	assert.Equal(t, FormatSerial(l.Cert.SerialNumber), servedSerial(conn))
	assert.Equal(t, 2, m.Current(ChannelCluster).CACount)

	// Wrong name is refused by the live verification.
	_, err = tls.Dial("tcp", addr, m.ClientTLSConfig("elsewhere.example"))
	require.Error(t, err)
}

func TestServerTLSConfigNilWhenOff(t *testing.T) {
	m, err := New(context.Background(), StaticSource(Settings{}))
	require.NoError(t, err)
	assert.Nil(t, m.ServerTLSConfig(ChannelClient))
	s := m.Current(ChannelClient)
	require.NotNil(t, s)
	assert.False(t, s.Enabled())
	assert.Empty(t, s.Serial())
	assert.Empty(t, s.Fingerprint())
	assert.True(t, s.NotAfter().IsZero())
}

func TestSnapshotAccessors(t *testing.T) {
	f := newFixture(t)
	f.rotate("server")
	m, err := New(context.Background(), StaticSource(f.settings))
	require.NoError(t, err)
	s := m.Current(ChannelClient)
	assert.True(t, s.Enabled())
	assert.Equal(t, []string{"localhost", "127.0.0.1", "::1"}, s.SANs())
	assert.Len(t, s.Fingerprint(), 64)
	assert.Contains(t, s.Subject(), "CN=localhost")
	assert.Equal(t, 1, s.CACount)
	assert.Equal(t, f.path("server.crt"), s.CertFile)
	assert.Equal(t, uint64(1), s.Generation)
	st := m.Status()
	assert.True(t, st.LastAttempt.IsZero())
	assert.Equal(t, f.settings, st.Settings)
}

// TestTicketKeysRotateWithinSnapshot: without a reload the session-ticket
// key of a snapshot is replaced every 24 h, the previous keys still resume
// for 7 days (crypto/tls's own schedule), and a ticket older than that falls
// back to a full handshake. A reload that changed the material still
// invalidates every ticket (TestReloadSwapsServedCertificate).
func TestTicketKeysRotateWithinSnapshot(t *testing.T) {
	f := newFixture(t)
	f.rotate("server")
	m, err := New(context.Background(), StaticSource(f.settings))
	require.NoError(t, err)
	now := time.Now()
	var mu sync.Mutex
	m.ticketClock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	addr := testenv.TLSEchoServer(t, m.ServerTLSConfig(ChannelClient))
	// TLS 1.2: one ticket per handshake, sent in the handshake, and a
	// resumption re-encrypts it only when the key changed.
	clientCfg := &tls.Config{RootCAs: f.pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	connect := func() bool {
		c := dial(t, addr, clientCfg)
		echo(t, c, "x")
		return c.ConnectionState().DidResume
	}
	snap := m.Current(ChannelClient)
	assert.False(t, connect(), "first handshake is full")
	assert.Equal(t, 1, snap.tickets.count())
	assert.True(t, connect(), "same key: resumes")

	advance(25 * time.Hour)
	assert.True(t, connect(), "rotated, and the previous key still resumes")
	assert.Equal(t, 2, snap.tickets.count(), "a new key was added")
	assert.Same(t, snap, m.Current(ChannelClient), "no reload happened")

	advance(8 * 24 * time.Hour)
	assert.False(t, connect(), "a ticket under a key older than 7 days does not resume")
	assert.Equal(t, 1, snap.tickets.count(), "expired keys are dropped")
	assert.True(t, connect())
}
