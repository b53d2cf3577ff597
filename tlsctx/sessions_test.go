package tlsctx

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// trackingServer is an embedding server: it serves ch of m, tracks every
// connection with a client certificate and echoes lines until the
// connection closes.
type trackingServer struct {
	addr string
	mu   sync.Mutex
	told map[string]string // peer CN -> reason Untrusted was called with
}

func newTrackingServer(t *testing.T, m *Manager, ch Channel) *trackingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &trackingServer{addr: ln.Addr().String(), told: map[string]string{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	cfg := m.ServerTLSConfig(ch)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer raw.Close()
				conn := tls.Server(raw, cfg)
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				if conn.Handshake() != nil {
					return
				}
				peer := conn.ConnectionState().PeerCertificates
				var cn string
				if len(peer) > 0 {
					cn = peer[0].Subject.CommonName
				}
				p := m.Track(ch, peer, SessionHooks{
					Untrusted: func(reason string) { s.mu.Lock(); s.told[cn] = reason; s.mu.Unlock() },
					Close:     func() { raw.Close() },
					LogAttrs:  []any{"peer", cn},
				})
				defer p.Untrack()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := conn.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *trackingServer) reason(cn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.told[cn]
}

// sessionOf finds the tracked session of the peer named cn.
func sessionOf(t *testing.T, m *Manager, cn string) *PeerSession {
	t.Helper()
	for _, p := range m.TrackedSessions() {
		if p.Peer().Subject.CommonName == cn {
			return p
		}
	}
	t.Fatalf("no tracked session of %s", cn)
	return nil
}

func alive(conn *tls.Conn) error {
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(conn).ReadString('\n')
	return err
}

// TestSessionsFollowRevocation: after a reload that revokes one client's
// certificate, its open session is reported untrusted (and the embedder
// told once) while the others stay trusted and every connection stays
// open; with CloseUntrustedSessions the next reload closes that session
// alone.
func TestSessionsFollowRevocation(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	srv := newTrackingServer(t, m, ChannelClient)
	victim := f.issue(pki.LeafOptions{CN: "victim"})
	other := f.issue(pki.LeafOptions{CN: "other"})
	open := func(l *pki.Leaf) *tls.Conn {
		c, err := roundTrip(srv.addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(l)}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	vc, oc := open(victim), open(other)
	require.Len(t, m.TrackedSessions(), 2)

	now := time.Now()
	f.write("ca.crl", makeCRL(t, f.ca, now.Add(-time.Hour), now.Add(time.Hour), victim.Cert.SerialNumber), 0o644)
	f.set(func(s *Settings) { s.SSLCRL = f.path("ca.crl") })
	res, err := m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, res.UntrustedSessions)
	assert.Equal(t, 0, res.ClosedSessions, "closing is off by default, as in MySQL")
	assert.Equal(t, TrustRevoked, sessionOf(t, m, "victim").Trust())
	assert.Equal(t, TrustYes, sessionOf(t, m, "other").Trust())
	assert.Equal(t, TrustRevoked, srv.reason("victim"))
	assert.Empty(t, srv.reason("other"))
	require.NoError(t, alive(vc), "not closed without the setting")
	require.NoError(t, alive(oc))

	f.set(func(s *Settings) { s.CloseUntrustedSessions = true })
	res, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.False(t, res.Changed, "the setting alone is not new material")
	assert.Equal(t, 1, res.ClosedSessions)
	require.Error(t, alive(vc), "the revoked session is closed")
	require.NoError(t, alive(oc), "the others stay")
}

// TestSessionsFollowCARemoval: a reload that replaces the CA set reports
// the sessions of the removed CA as "CA no longer trusted".
func TestSessionsFollowCARemoval(t *testing.T) {
	f := newFixture(t)
	newCA := pkitest.MustCA(t, "new CA")
	f.write("both.crt", append(append([]byte{}, f.ca.CertPEM...), newCA.CertPEM...), 0o644)
	f.set(func(s *Settings) { s.SSLCA = f.path("both.crt") })
	m := f.manager()
	srv := newTrackingServer(t, m, ChannelClient)
	oldPeer := f.issue(pki.LeafOptions{CN: "old-ca peer"})
	newPeer := pkitest.MustIssue(t, newCA, pki.LeafOptions{CN: "new-ca peer"})
	for _, l := range []*pki.Leaf{oldPeer, newPeer} {
		c, err := roundTrip(srv.addr, &tls.Config{RootCAs: f.pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert(l)}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
	}
	f.write("new.crt", newCA.CertPEM, 0o644)
	f.set(func(s *Settings) { s.SSLCA = f.path("new.crt") })
	res, err := m.Reload(context.Background(), ForChannel(ChannelClient))
	require.NoError(t, err)
	assert.Equal(t, 1, res.UntrustedSessions)
	assert.Equal(t, TrustCAUntrusted, sessionOf(t, m, "old-ca peer").Trust())
	assert.Equal(t, TrustYes, sessionOf(t, m, "new-ca peer").Trust())
}

func TestPeerTrustExpired(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	l := f.issue(pki.LeafOptions{CN: "short", NotAfter: time.Now().Add(time.Hour)})
	snap := m.Current(ChannelClient)
	chain := []*x509.Certificate{l.Cert}
	assert.Equal(t, TrustYes, snap.PeerTrust(chain, time.Now()))
	assert.Equal(t, TrustExpired, snap.PeerTrust(chain, time.Now().Add(2*time.Hour)))
	stranger := pkitest.MustIssue(t, pkitest.MustCA(t, "stranger"), pki.LeafOptions{CN: "x"})
	assert.Equal(t, TrustCAUntrusted, snap.PeerTrust([]*x509.Certificate{stranger.Cert}, time.Now()))
}
