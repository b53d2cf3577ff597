package protocol_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/tlsctx"
)

// TestShowSSLSessionsFollowsRevocation: two sessions log in with client
// certificates of the client CA (a SUPER account and one without
// privileges) and one on the cluster port with a node certificate. SHOW
// SSL SESSIONS lists them (a user without SUPER only their own). A reload
// that revokes one certificate lists its session as revoked and leaves it
// open; with ssl_close_untrusted_sessions the next reload closes it and
// only it.
func TestShowSSLSessionsFollowsRevocation(t *testing.T) {
	ca := pkitest.MustCA(t, "session CA")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	leaf := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	s := tlsctx.Settings{SSLCert: write("server.crt", leaf.CertPEM), SSLKey: write("server.key", leaf.KeyPEM), SSLCA: write("ca.crt", ca.CertPEM), Cluster: tlsctx.ClusterOn}
	var live atomic.Pointer[tlsctx.Settings]
	live.Store(&s)
	mgr, err := tlsctx.New(context.Background(), tlsctx.SourceFunc(func(context.Context) (tlsctx.Settings, error) { return *live.Load(), nil }))
	require.NoError(t, err)
	srv := serveManager(t, mgr, protocol.Config{ClusterListen: "127.0.0.1:0",
		Users: []protocol.User{{Name: "admin", Password: "pw", Privileges: []string{"SUPER"}, RequireX509: true},
			{Name: "viewer", Password: "pw"}},
		ConnectTimeout: 2 * time.Second})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conn := func(addr net.Addr, user string, l *pki.Leaf) *sql.Conn {
		t.Helper()
		kp, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		require.NoError(t, err)
		name := fmt.Sprintf("sessions-%d", tlsNames.Add(1))
		require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{kp}}))
		t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
		cfg := driverConfig(addr.String(), "tcp")
		cfg.User, cfg.Passwd, cfg.TLSConfig = user, "pw", name
		cfg.ReadTimeout = 5 * time.Second
		c, err := mysql.NewConnector(cfg)
		require.NoError(t, err)
		db := sql.OpenDB(c)
		t.Cleanup(func() { db.Close() })
		sc, err := db.Conn(context.Background())
		require.NoError(t, err)
		t.Cleanup(func() { sc.Close() })
		return sc
	}
	alice := conn(srv.Addr(), "admin", pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "alice"}))
	bobCert := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "bob"})
	bob := conn(srv.Addr(), "viewer", bobCert)
	node := conn(srv.ClusterAddr(), "viewer", pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "node2"}))

	// One id space for every listener: the first connection of each port
	// used to be id 1 on both, and the process list kept only one of them.
	var aliceID, nodeID int64
	require.NoError(t, alice.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&aliceID))
	require.NoError(t, node.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&nodeID))
	assert.NotEqual(t, aliceID, nodeID, "connection ids are unique across the client and cluster ports")

	type row struct{ user, channel, subject, trusted string }
	sessions := func(c *sql.Conn) []row {
		t.Helper()
		rows, err := c.QueryContext(context.Background(), "SHOW SSL SESSIONS")
		require.NoError(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		require.Equal(t, []string{"Id", "User", "Host", "Channel", "Peer_subject", "Peer_serial", "Trusted_now"}, cols)
		var out []row
		for rows.Next() {
			var id int64
			var r row
			var host, serial string
			require.NoError(t, rows.Scan(&id, &r.user, &host, &r.channel, &r.subject, &serial, &r.trusted))
			require.NotEmpty(t, serial)
			out = append(out, r)
		}
		require.NoError(t, rows.Err())
		return out
	}
	assert.Equal(t, []row{
		{"admin", "client", "CN=alice,O=ssld", "YES"},
		{"viewer", "client", "CN=bob,O=ssld", "YES"},
		{"viewer", "cluster", "CN=node2,O=ssld", "YES"},
	}, sessions(alice))
	assert.Equal(t, []row{
		{"viewer", "client", "CN=bob,O=ssld", "YES"},
		{"viewer", "cluster", "CN=node2,O=ssld", "YES"},
	}, sessions(bob), "without SUPER, one's own sessions only")

	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: bobCert.Cert.SerialNumber, RevocationTime: now.Add(-time.Minute)}}},
		ca.Cert, ca.Key)
	require.NoError(t, err)
	next := s
	next.SSLCRL = write("ca.crl", der)
	live.Store(&next)
	_, err = alice.ExecContext(context.Background(), "SSL_RELOAD")
	require.NoError(t, err)
	assert.Equal(t, []row{
		{"admin", "client", "CN=alice,O=ssld", "YES"},
		{"viewer", "client", "CN=bob,O=ssld", "revoked"},
		{"viewer", "cluster", "CN=node2,O=ssld", "YES"},
	}, sessions(alice))
	require.NoError(t, bob.PingContext(context.Background()), "not closed without ssl_close_untrusted_sessions")

	closing := next
	closing.CloseUntrustedSessions = true
	live.Store(&closing)
	_, err = alice.ExecContext(context.Background(), "SSL_RELOAD")
	require.NoError(t, err)
	var one int
	require.Error(t, bob.QueryRowContext(context.Background(), "SELECT 1").Scan(&one), "the revoked session is closed")
	require.NoError(t, node.PingContext(context.Background()), "the others stay")
	// The closed session leaves the list when its connection's goroutine
	// has ended, as a KILLed one does: shortly after the reload returns.
	want := []row{
		{"admin", "client", "CN=alice,O=ssld", "YES"},
		{"viewer", "cluster", "CN=node2,O=ssld", "YES"},
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return reflect.DeepEqual(want, sessions(alice)) },
		"the closed session leaves SHOW SSL SESSIONS")
}
