package protocol_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/tlsctx"
)

// TestRequireX509RevokedOnEveryPort: after a reload adds a CRL of the
// client CA revoking the operator's certificate, the require_x509 account
// is refused on the client port (the handshake) and on the cluster port,
// where the cluster channel has CRLs of its own that do not list it (an
// empty cluster_ssl_crlpath), so only the login's check against the client
// channel's CRLs stands in the way. A certificate that is not revoked
// still logs in on both.
func TestRequireX509RevokedOnEveryPort(t *testing.T) {
	clientCA := pkitest.MustCA(t, "client CA")
	clusterCA := pkitest.MustCA(t, "cluster CA")
	operator := pkitest.MustIssue(t, clientCA, pki.LeafOptions{CN: "operator"})
	second := pkitest.MustIssue(t, clientCA, pki.LeafOptions{CN: "second operator"})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	opts := pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	leaf := pkitest.MustIssue(t, clientCA, opts)
	cleaf := pkitest.MustIssue(t, clusterCA, opts)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "cluster-crls"), 0o700))
	s := tlsctx.Settings{
		SSLCert: write("server.crt", leaf.CertPEM), SSLKey: write("server.key", leaf.KeyPEM), SSLCA: write("ca.crt", clientCA.CertPEM),
		ClusterSSLCert: write("cluster.crt", cleaf.CertPEM), ClusterSSLKey: write("cluster.key", cleaf.KeyPEM),
		ClusterSSLCA:      write("cluster-ca.crt", append(append([]byte{}, clusterCA.CertPEM...), clientCA.CertPEM...)),
		ClusterSSLCRLPath: filepath.Join(dir, "cluster-crls"),
		Cluster:           tlsctx.ClusterOn,
	}
	var live atomic.Pointer[tlsctx.Settings]
	live.Store(&s)
	mgr, err := tlsctx.New(context.Background(), tlsctx.SourceFunc(func(context.Context) (tlsctx.Settings, error) { return *live.Load(), nil }))
	require.NoError(t, err)
	srv := serveManager(t, mgr, protocol.Config{ClusterListen: "127.0.0.1:0",
		Users:          []protocol.User{{Name: "x509op", Password: "pw", Privileges: []string{"SUPER"}, RequireX509: true}},
		ConnectTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	pool.AddCert(clusterCA.Cert)
	login := func(addr net.Addr, l *pki.Leaf) error {
		kp, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		require.NoError(t, err)
		name := fmt.Sprintf("crl-%d", tlsNames.Add(1))
		require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{kp}}))
		defer mysql.DeregisterTLSConfig(name)
		cfg := driverConfig(addr.String(), "tcp")
		cfg.User, cfg.Passwd, cfg.TLSConfig = "x509op", "pw", name
		db, err := mysql.NewConnector(cfg)
		require.NoError(t, err)
		c, err := db.Connect(context.Background())
		if err == nil {
			c.Close()
		}
		return err
	}
	require.NoError(t, login(srv.Addr(), operator), "client port, before the CRL")
	require.NoError(t, login(srv.ClusterAddr(), operator), "cluster port, before the CRL")

	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: operator.Cert.SerialNumber, RevocationTime: now.Add(-time.Minute)}}},
		clientCA.Cert, clientCA.Key)
	require.NoError(t, err)
	next := s
	next.SSLCRL = write("client.crl", der)
	live.Store(&next)
	_, err = mgr.Reload(context.Background())
	require.NoError(t, err)

	assert.Error(t, login(srv.Addr(), operator), "client port: the handshake refuses the revoked certificate")
	err = login(srv.ClusterAddr(), operator)
	assert.Equal(t, uint16(1045), mysqlErrNum(err), "cluster port: the revoked certificate logs no require_x509 account in: %v", err)
	assert.NoError(t, login(srv.Addr(), second), "client port, a certificate the CRL does not list")
	assert.NoError(t, login(srv.ClusterAddr(), second), "cluster port, a certificate the CRL does not list")
}
