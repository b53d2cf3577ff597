package protocol_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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

var tlsNames atomic.Int64

// TestRequireX509PerPort: a require_x509 account needs a certificate of
// the client CA set (ssl_ca) on every listener. On cluster_listen, whose
// handshake checks the cluster CA set, a node's own cluster certificate
// passes the handshake (any account without require_x509 logs in with
// it) but does not log the require_x509 account in: 1045, as the client
// port refuses that certificate. An operator certificate of the client CA
// logs the account in on the client port, and on the cluster port when the
// cluster CA set trusts it too. Before, every cluster certificate logged
// the account in on the cluster port.
func TestRequireX509PerPort(t *testing.T) {
	clientCA := pkitest.MustCA(t, "client CA")
	clusterCA := pkitest.MustCA(t, "cluster CA")
	operator := pkitest.MustIssue(t, clientCA, pki.LeafOptions{CN: "operator"})
	node := pkitest.MustIssue(t, clusterCA, pki.LeafOptions{CN: "node2"})
	users := []protocol.User{
		{Name: "x509op", Password: "pw", Privileges: []string{"SUPER"}, RequireX509: true},
		{Name: "plain", Password: "pw"},
	}
	for _, tc := range []struct {
		name         string
		clusterCAs   []*pki.CA
		operatorOnCl bool // the operator certificate passes the cluster port's handshake
	}{
		{"separate cluster CA", []*pki.CA{clusterCA}, false},
		{"cluster CA set trusting both", []*pki.CA{clusterCA, clientCA}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startClusterServer(t, clientCA, clusterCA, tc.clusterCAs, users)
			pool := x509.NewCertPool()
			pool.AddCert(clientCA.Cert)
			pool.AddCert(clusterCA.Cert)
			login := func(addr net.Addr, user string, leaf *pki.Leaf) error {
				kp, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
				require.NoError(t, err)
				name := fmt.Sprintf("x509-%d", tlsNames.Add(1))
				require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{kp}}))
				defer mysql.DeregisterTLSConfig(name)
				cfg := driverConfig(addr.String(), "tcp")
				cfg.User, cfg.Passwd, cfg.TLSConfig = user, "pw", name
				db, err := mysql.NewConnector(cfg)
				require.NoError(t, err)
				c, err := db.Connect(context.Background())
				if err == nil {
					c.Close()
				}
				return err
			}
			cl := srv.ClusterAddr()
			assert.NoError(t, login(cl, "plain", node), "the cluster port admits a node certificate")
			err := login(cl, "x509op", node)
			assert.Equal(t, uint16(1045), mysqlErrNum(err), "a node certificate logs no require_x509 account in: %v", err)
			assert.NoError(t, login(srv.Addr(), "x509op", operator), "client port, operator certificate")
			assert.Error(t, login(srv.Addr(), "x509op", node), "client port, node certificate")
			err = login(cl, "x509op", operator)
			if tc.operatorOnCl {
				assert.NoError(t, err, "cluster port, operator certificate the cluster CA set trusts")
			} else {
				assert.Error(t, err, "the cluster port's handshake refuses a certificate its CA set does not trust")
			}
		})
	}
}

// startClusterServer starts a server whose client channel serves a leaf of
// clientCA and trusts clientCA, and whose cluster port serves a leaf of
// clusterCA and trusts clusterCAs.
func startClusterServer(t *testing.T, clientCA, clusterCA *pki.CA, clusterCAs []*pki.CA, users []protocol.User) *protocol.Server {
	dir := t.TempDir()
	opts := pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	leaf := pkitest.MustIssue(t, clientCA, opts)
	cleaf := pkitest.MustIssue(t, clusterCA, opts)
	var bundle []byte
	for _, ca := range clusterCAs {
		bundle = append(bundle, ca.CertPEM...)
	}
	for name, data := range map[string][]byte{"ca.crt": clientCA.CertPEM, "server.crt": leaf.CertPEM, "server.key": leaf.KeyPEM,
		"cluster-ca.crt": bundle, "cluster.crt": cleaf.CertPEM, "cluster.key": cleaf.KeyPEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	mgr, err := tlsctx.New(context.Background(), tlsctx.StaticSource(tlsctx.Settings{
		SSLCert: filepath.Join(dir, "server.crt"), SSLKey: filepath.Join(dir, "server.key"), SSLCA: filepath.Join(dir, "ca.crt"),
		ClusterSSLCert: filepath.Join(dir, "cluster.crt"), ClusterSSLKey: filepath.Join(dir, "cluster.key"),
		ClusterSSLCA: filepath.Join(dir, "cluster-ca.crt"),
		Cluster:      tlsctx.ClusterOn,
	}))
	require.NoError(t, err)
	return serveManager(t, mgr, protocol.Config{ClusterListen: "127.0.0.1:0", Users: users,
		ConnectTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
}
