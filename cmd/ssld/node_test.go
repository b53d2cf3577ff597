package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/tlsctx"
)

// testNode is one in-process ssld node with its own PKI and config file.
type testNode struct {
	t      testing.TB
	dir    string
	ca     *pki.CA
	leaf   *pki.Leaf
	config string
	n      *node
	addr   string
	socket string
}

const (
	adminPW   = "admin-secret"
	shaPW     = "sha-secret"
	monitorPW = "monitor-secret"
	plainPW   = "plain-secret"
)

// configYAML is the config every test node starts from (the dev state
// folder's layout on 127.0.0.1:0); extra is appended.
func configYAML(extra string) string {
	return devLayoutConfig("127.0.0.1:0") + `users:
  - name: admin
    password: ` + adminPW + `
    privileges: [SUPER]
    require_ssl: true
  - name: sha
    password: ` + shaPW + `
    plugin: caching_sha2_password
    privileges: [SUPER]
    require_ssl: true
  - name: monitor
    password: ` + monitorPW + `
    privileges: []
  - name: plain
    password: ` + plainPW + `
    privileges: [SUPER]
` + extra
}

// writeDevFolder writes ca's certificate and the server pair l into dir in
// the dev state layout (devCACert, devServerCert, devServerKey).
func writeDevFolder(t testing.TB, dir string, ca *pki.CA, l *pki.Leaf) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(devCACert)), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, devCACert), ca.CertPEM, 0o644))
	writeDevPair(t, dir, l)
}

// writeDevPair replaces the server pair in dir (dev state layout) with
// l's, certificate first; each file is replaced atomically, the pair is not.
func writeDevPair(t testing.TB, dir string, l *pki.Leaf) {
	t.Helper()
	require.NoError(t, pki.WriteFile(filepath.Join(dir, devServerCert), l.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(dir, devServerKey), l.KeyPEM, 0o600))
}

func newTestNode(t testing.TB, extraConfig string) *testNode {
	t.Helper()
	// A short folder: Unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ssld")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	tn := &testNode{t: t, dir: dir, ca: pkitest.MustCA(t, "test CA"), config: filepath.Join(dir, "ssld.yaml")}
	tn.leaf = tn.issueLeaf(pki.LeafOptions{NotAfter: time.Now().Add(rotateValidity)})
	writeDevFolder(t, dir, tn.ca, tn.leaf)
	require.NoError(t, os.WriteFile(tn.config, []byte(configYAML(extraConfig)), 0o600))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := startNode(context.Background(), serveOptions{config: tn.config}, log)
	require.NoError(t, err)
	t.Cleanup(func() { n.shutdown(2 * time.Second) })
	tn.n = n
	tn.addr = n.server.Addr().String()
	tn.socket = filepath.Join(dir, devSocket)
	return tn
}

// rotateValidity is how long rotate's certificates are valid: outside
// ssl_expiry_warning, so reloads carry no warning.
const rotateValidity = 90 * 24 * time.Hour

// rotate writes a new server certificate and key (atomically each) and
// returns the new serial.
func (tn *testNode) rotate() string {
	tn.t.Helper()
	return tn.rotateFor(rotateValidity)
}

// rotateFor is rotate with a certificate valid for d.
func (tn *testNode) rotateFor(d time.Duration) string {
	tn.t.Helper()
	return tn.rotateTo(tn.issueLeaf(pki.LeafOptions{NotAfter: time.Now().Add(d)}))
}

// issueLeaf mints a server certificate for localhost (127.0.0.1) from the
// node's CA with the rest of o (validity, serial, key type; pki's defaults
// where unset), without writing it.
func (tn *testNode) issueLeaf(o pki.LeafOptions) *pki.Leaf {
	tn.t.Helper()
	o.CN, o.DNSNames, o.IPs = "localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	return pkitest.MustIssue(tn.t, tn.ca, o)
}

// rotateTo writes l as the node's pair (writePair) and returns its serial.
func (tn *testNode) rotateTo(l *pki.Leaf) string {
	tn.t.Helper()
	tn.writePair(l)
	tn.leaf = l
	return serialOf(l.Cert)
}

func serialOf(c *x509.Certificate) string { return tlsctx.FormatSerial(c.SerialNumber) }

func (tn *testNode) servedSerial() string {
	return tn.n.tls.Current(tlsctx.ChannelClient).Serial()
}

var tlsSeq atomic.Int64

// tlsName registers a go-sql-driver TLS config that trusts the node's CA and
// records the serial of every certificate it is served.
func (tn *testNode) tlsName(seen *serials) string {
	name := fmt.Sprintf("ssld-test-%d", tlsSeq.Add(1))
	pool := x509.NewCertPool()
	pool.AddCert(tn.ca.Cert)
	require.NoError(tn.t, mysql.RegisterTLSConfig(name, &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		// A fresh session cache per config: every connection is a full
		// handshake that presents the certificate.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if seen != nil && len(cs.PeerCertificates) > 0 {
				seen.add(serialOf(cs.PeerCertificates[0]))
			}
			return nil
		},
	}))
	tn.t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return name
}

type serials struct {
	mu   sync.Mutex
	list []string
}

func (s *serials) add(x string) { s.mu.Lock(); s.list = append(s.list, x); s.mu.Unlock() }
func (s *serials) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) == 0 {
		return ""
	}
	return s.list[len(s.list)-1]
}

// db opens a go-sql-driver pool with one connection to the node, closed
// when the test ends.
func (tn *testNode) db(user, pw, tlsParam string) *sql.DB {
	tn.t.Helper()
	db := tn.openDB(user, pw, tlsParam)
	tn.t.Cleanup(func() { db.Close() })
	return db
}

// openDB opens a go-sql-driver pool with one connection; the caller closes it.
func (tn *testNode) openDB(user, pw, tlsParam string) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "tcp", tn.addr
	cfg.TLSConfig = tlsParam
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	cfg.AllowNativePasswords = true
	c, err := mysql.NewConnector(cfg)
	require.NoError(tn.t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db
}

// socketDB opens a pool over the Unix socket (no TLS).
func (tn *testNode) socketDB(user, pw string) *sql.DB {
	tn.t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "unix", tn.socket
	cfg.Timeout = 5 * time.Second
	c, err := mysql.NewConnector(cfg)
	require.NoError(tn.t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	tn.t.Cleanup(func() { db.Close() })
	return db
}

// variable reads one variable with SHOW VARIABLES LIKE.
func variable(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var k, v string
	require.NoError(t, db.QueryRow("SHOW VARIABLES LIKE '"+name+"'").Scan(&k, &v), name)
	require.Equal(t, name, k)
	return v
}

func sqlErr(t *testing.T, err error) *mysql.MySQLError {
	t.Helper()
	require.Error(t, err)
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me, "want a MySQL error packet, got %v", err)
	return me
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		require.Contains(t, s, sub)
	}
}
