package protocol_test

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/tlsctx"
)

// TestClusterListenRequiresClientCert: the cluster port accepts only TLS
// with a client certificate that verifies against the cluster CA set, and
// the node's own ClientTLSConfig (what it dials other nodes with) passes.
func TestClusterListenRequiresClientCert(t *testing.T) {
	tn := nodetest.New(t, "cluster_listen: 127.0.0.1:0\n")
	addr := tn.N.ClusterAddr()
	require.NotNil(t, addr)
	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	open := func(name string, tc *tls.Config) *sql.DB {
		if tc != nil {
			require.NoError(t, mysql.RegisterTLSConfig(name, tc))
			t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
		}
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "admin", nodetest.AdminPW, "tcp", addr.String()
		cfg.TLSConfig = name
		cfg.Timeout = 5 * time.Second
		c, err := mysql.NewConnector(cfg)
		require.NoError(t, err)
		db := sql.OpenDB(c)
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx := nodetest.Ctx(t)

	// No TLS at all: refused.
	err := open("false", nil).PingContext(ctx)
	require.Error(t, err)

	// TLS without a client certificate: the handshake is refused.
	err = open(fmt.Sprintf("nocert-%d", nodetest.TLSSeq.Add(1)), &tls.Config{RootCAs: pool, ServerName: "localhost"}).PingContext(ctx)
	require.Error(t, err)

	// A client certificate from another CA: refused.
	other := pkitest.MustCA(t, "other CA")
	stranger := pkitest.MustIssue(t, other, pki.LeafOptions{CN: "stranger"})
	sc, err := tls.X509KeyPair(stranger.CertPEM, stranger.KeyPEM)
	require.NoError(t, err)
	err = open(fmt.Sprintf("stranger-%d", nodetest.TLSSeq.Add(1)), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{sc}}).PingContext(ctx)
	require.Error(t, err)

	// A certificate from the cluster CA: accepted, and SSL_RELOAD works there.
	member := pkitest.MustIssue(t, tn.CA, pki.LeafOptions{CN: "member"})
	mc, err := tls.X509KeyPair(member.CertPEM, member.KeyPEM)
	require.NoError(t, err)
	db := open(fmt.Sprintf("member-%d", nodetest.TLSSeq.Add(1)), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{mc}})
	require.NoError(t, db.PingContext(ctx))
	newSerial := tn.Rotate()
	_, err = db.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	assert.Equal(t, newSerial, tn.N.TLS().Current(tlsctx.ChannelCluster).Serial())

	// The node's own dialling config (cluster material) is accepted too.
	db2 := open(fmt.Sprintf("self-%d", nodetest.TLSSeq.Add(1)), tn.N.TLS().ClientTLSConfig("localhost"))
	require.NoError(t, db2.PingContext(ctx))
}
