// Package nodetest starts in-process ssld nodes for tests, as Kubernetes'
// testserver starts an API server: New writes a CA, a server certificate
// and a config file in the dev state layout into a fresh folder, starts
// node.Start on 127.0.0.1:0 with a Unix socket, and shuts the node down
// when the test ends. Its helpers drive the node as operators do: go-sql-
// driver pools, the mysql family of CLIs, openssl s_client. Only tests
// import it.
package nodetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// Node is one in-process ssld node with its own PKI and config file.
type Node struct {
	t      testing.TB
	Dir    string    // the node's folder (the dev state layout)
	CA     *pki.CA   // the CA of ssl_ca, which issued Leaf
	Leaf   *pki.Leaf // the server pair last written
	Config string    // the config file
	N      *node.Node
	Addr   string // the client listener, host:port
	Socket string // the Unix socket
}

const (
	AdminPW   = "admin-secret"
	ShaPW     = "sha-secret"
	MonitorPW = "monitor-secret"
	PlainPW   = "plain-secret"
)

// ConfigYAML is the config every test node starts from (the dev state
// folder's layout on 127.0.0.1:0); extra is appended.
func ConfigYAML(extra string) string {
	return config.DevLayoutConfig("127.0.0.1:0") + `users:
  - name: admin
    password: ` + AdminPW + `
    privileges: [SUPER]
    require_ssl: true
  - name: sha
    password: ` + ShaPW + `
    plugin: caching_sha2_password
    privileges: [SUPER]
    require_ssl: true
  - name: monitor
    password: ` + MonitorPW + `
    privileges: []
  - name: plain
    password: ` + PlainPW + `
    privileges: [SUPER]
` + extra
}

// WriteDevFolder writes ca's certificate and the server pair l into dir in
// the dev state layout (config.DevCACert, config.DevServerCert, config.DevServerKey).
func WriteDevFolder(t testing.TB, dir string, ca *pki.CA, l *pki.Leaf) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(config.DevCACert)), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, config.DevCACert), ca.CertPEM, 0o644))
	WriteDevPair(t, dir, l)
}

// WriteDevPair replaces the server pair in dir (dev state layout) with
// l's, certificate first; each file is replaced atomically, the pair is not.
func WriteDevPair(t testing.TB, dir string, l *pki.Leaf) {
	t.Helper()
	require.NoError(t, pki.WriteFile(filepath.Join(dir, config.DevServerCert), l.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(filepath.Join(dir, config.DevServerKey), l.KeyPEM, 0o600))
}

// Peer is a Node for another server that serves the pair written in dir
// (the dev state layout, CA ca) on addr, a MariaDB started on New's files
// say, so that the same helpers drive it; N is nil.
func Peer(t testing.TB, dir string, ca *pki.CA, addr string) *Node {
	return &Node{t: t, Dir: dir, CA: ca, Addr: addr}
}

// New starts a node on 127.0.0.1:0 in a new folder with a fresh CA and
// server certificate and ConfigYAML(extraConfig) as its config; it is shut
// down when t ends.
func New(t testing.TB, extraConfig string) *Node {
	t.Helper()
	// A short folder: Unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ssld")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	tn := &Node{t: t, Dir: dir, CA: pkitest.MustCA(t, "test CA"), Config: filepath.Join(dir, "ssld.yaml")}
	tn.Leaf = tn.IssueLeaf(pki.LeafOptions{NotAfter: time.Now().Add(RotateValidity)})
	WriteDevFolder(t, dir, tn.CA, tn.Leaf)
	require.NoError(t, os.WriteFile(tn.Config, []byte(ConfigYAML(extraConfig)), 0o600))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := node.Start(context.Background(), node.Options{Config: tn.Config}, log)
	require.NoError(t, err)
	t.Cleanup(func() { n.Shutdown(2 * time.Second) })
	tn.N = n
	tn.Addr = n.Addr().String()
	tn.Socket = filepath.Join(dir, config.DevSocket)
	return tn
}

// RotateValidity is how long rotate's certificates are valid: outside
// ssl_expiry_warning, so reloads carry no warning.
const RotateValidity = 90 * 24 * time.Hour

// rotate writes a new server certificate and key (atomically each) and
// returns the new serial.
func (tn *Node) Rotate() string {
	tn.t.Helper()
	return tn.RotateFor(RotateValidity)
}

// rotateFor is rotate with a certificate valid for d.
func (tn *Node) RotateFor(d time.Duration) string {
	tn.t.Helper()
	return tn.RotateTo(tn.IssueLeaf(pki.LeafOptions{NotAfter: time.Now().Add(d)}))
}

// issueLeaf mints a server certificate for localhost (127.0.0.1) from the
// node's CA with the rest of o (validity, serial, key type; pki's defaults
// where unset), without writing it.
func (tn *Node) IssueLeaf(o pki.LeafOptions) *pki.Leaf {
	tn.t.Helper()
	o.CN, o.DNSNames, o.IPs = "localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	return pkitest.MustIssue(tn.t, tn.CA, o)
}

// rotateTo writes l as the node's pair (writePair) and returns its serial.
func (tn *Node) RotateTo(l *pki.Leaf) string {
	tn.t.Helper()
	tn.WritePair(l)
	tn.Leaf = l
	return SerialOf(l.Cert)
}

func SerialOf(c *x509.Certificate) string { return tlsctx.FormatSerial(c.SerialNumber) }

func (tn *Node) ServedSerial() string {
	return tn.N.TLS().Current(tlsctx.ChannelClient).Serial()
}

var TLSSeq atomic.Int64

// tlsName registers a go-sql-driver TLS config that trusts the node's CA and
// records the serial of every certificate it is served.
func (tn *Node) TLSName(seen *Serials) string {
	return TLSConfigName(tn.t, tn.CA.Cert, seen)
}

// TLSConfigName registers a go-sql-driver TLS config that trusts ca for
// the name localhost, records in seen (if not nil) the serial of every
// certificate it is served, and is deregistered when t ends.
func TLSConfigName(t testing.TB, ca *x509.Certificate, seen *Serials) string {
	name := fmt.Sprintf("ssld-test-%d", TLSSeq.Add(1))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		// A fresh session cache per config: every connection is a full
		// handshake that presents the certificate.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if seen != nil && len(cs.PeerCertificates) > 0 {
				seen.Add(SerialOf(cs.PeerCertificates[0]))
			}
			return nil
		},
	}))
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return name
}

// Serials records the serials a client was served, in order.
type Serials struct {
	mu   sync.Mutex
	list []string
}

func (s *Serials) Add(x string) { s.mu.Lock(); s.list = append(s.list, x); s.mu.Unlock() }

// List is a copy of the serials recorded so far.
func (s *Serials) List() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.list...)
}

// Reset forgets the serials recorded so far.
func (s *Serials) Reset() {
	s.mu.Lock()
	s.list = nil
	s.mu.Unlock()
}

// Last is the serial recorded last, or "".
func (s *Serials) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) == 0 {
		return ""
	}
	return s.list[len(s.list)-1]
}

// db opens a go-sql-driver pool with one connection to the node, closed
// when the test ends.
func (tn *Node) DB(user, pw, tlsParam string) *sql.DB {
	tn.t.Helper()
	db := tn.OpenDB(user, pw, tlsParam)
	tn.t.Cleanup(func() { db.Close() })
	return db
}

// openDB opens a go-sql-driver pool with one connection; the caller closes it.
func (tn *Node) OpenDB(user, pw, tlsParam string) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "tcp", tn.Addr
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
func (tn *Node) SocketDB(user, pw string) *sql.DB {
	tn.t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "unix", tn.Socket
	cfg.Timeout = 5 * time.Second
	c, err := mysql.NewConnector(cfg)
	require.NoError(tn.t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	tn.t.Cleanup(func() { db.Close() })
	return db
}

// Variable reads one Variable with SHOW VARIABLES LIKE.
func Variable(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var k, v string
	require.NoError(t, db.QueryRow("SHOW VARIABLES LIKE '"+name+"'").Scan(&k, &v), name)
	require.Equal(t, name, k)
	return v
}

func SQLErr(t testing.TB, err error) *mysql.MySQLError {
	t.Helper()
	require.Error(t, err)
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me, "want a MySQL error packet, got %v", err)
	return me
}

func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func Contains(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		require.Contains(t, s, sub)
	}
}

// The external client tools the tests run against a node, as an operator
// runs them: the mysql family over verified TLS, and openssl s_client as an
// independent witness of the certificate served.

// Bounds on one run of an external client tool.
const (
	MySQLToolTimeout = 30 * time.Second
	OpenSSLTimeout   = 10 * time.Second
)

// MySQLTLSArgs are the options of mysql, mariadb-admin and mariadb-dump that
// reach the node at addr over TCP as user, verifying its certificate with
// the CA of the node's folder dir (the dev state layout).
func MySQLTLSArgs(t testing.TB, addr, dir, user, pw string) []string {
	t.Helper()
	host, port := SplitAddr(t, addr)
	return []string{"--protocol=TCP", "-h", host, "-P", port, "-u", user, "-p" + pw,
		"--ssl", "--ssl-ca=" + filepath.Join(dir, config.DevCACert), "--ssl-verify-server-cert"}
}

// mysqlTLS runs bin (mysql, mariadb-admin, mariadb-dump) with MySQLTLSArgs
// for the test node and then args, and returns its combined output.
func (tn *Node) MySQLTLS(t *testing.T, bin, user, pw string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), MySQLToolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(MySQLTLSArgs(t, tn.Addr, tn.Dir, user, pw), args...)...).CombinedOutput()
	return string(out), err
}

// MySQLSocket runs bin (mysql, mariadb-admin) on the node's Unix socket as
// user with password pw, then args, and returns its combined output.
func MySQLSocket(bin, socket, user, pw string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), MySQLToolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-S", socket, "-u", user, "-p" + pw}, args...)...).CombinedOutput()
	return string(out), err
}

// OpenSSLSerial reads the certificate served on a new handshake with
// `openssl s_client -starttls mysql` (plus args: a TLS version, signature
// algorithms) and returns its serial exactly as openssl prints it: ssld's
// Serials keep the leading zero too.
func OpenSSLSerial(t testing.TB, addr string, args ...string) string {
	t.Helper()
	testenv.LookPath(t, "openssl")
	serial, err := OpenSSLServedSerial(addr, args...)
	require.NoError(t, err)
	return serial
}

// OpenSSLServedSerial is OpenSSLSerial without testing.T, for goroutines.
func OpenSSLServedSerial(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), OpenSSLTimeout)
	defer cancel()
	sc := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-starttls", "mysql", "-connect", addr, "-servername", "localhost"}, args...)...)
	sc.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	sc.Stderr = &stderr
	out, err := sc.Output()
	if err != nil {
		return "", fmt.Errorf("openssl s_client %v: %v: %s", args, err, stderr.String())
	}
	x := exec.CommandContext(ctx, "openssl", "x509", "-noout", "-serial")
	x.Stdin = bytes.NewReader(out)
	ser, err := x.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("openssl x509 (after s_client %v): %v: %s", args, err, ser)
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(ser)), "serial=")), nil
}

// writePair replaces the server certificate and key with l's, certificate
// first; each file is replaced atomically, the pair is not.
func (tn *Node) WritePair(l *pki.Leaf) {
	tn.t.Helper()
	WriteDevPair(tn.t, tn.Dir, l)
}

// adminConn opens one pinned admin connection over TLS; SSL_RELOAD and SHOW
// WARNINGS on it run on the same session.
func (tn *Node) AdminConn(t *testing.T, ctx context.Context) *sql.Conn {
	t.Helper()
	db := tn.DB("admin", AdminPW, tn.TLSName(nil))
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// restart shuts the node down and starts a new one on the same config file
// (a process restart, in-process), logging to log (nil: discard).
func (tn *Node) Restart(log *slog.Logger) {
	tn.t.Helper()
	tn.N.Shutdown(2 * time.Second)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, err := node.Start(context.Background(), node.Options{Config: tn.Config}, log)
	require.NoError(tn.t, err)
	tn.t.Cleanup(func() { n.Shutdown(2 * time.Second) })
	tn.N = n
	tn.Addr = n.Addr().String()
}

// openDBClosed logs in with a fresh pool, pings, and closes it.
func (tn *Node) OpenDBClosed(t *testing.T, user, pw, tlsParam string) error {
	db := tn.OpenDB(user, pw, tlsParam)
	defer db.Close()
	return db.PingContext(Ctx(t))
}

// SplitAddr splits host:port, failing t on an address without a port.
func SplitAddr(t testing.TB, addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	require.Positive(t, i)
	return addr[:i], addr[i+1:]
}

// QueryText runs q and returns every cell as text, row after row.
func QueryText(t testing.TB, c Querier, q string) []string {
	t.Helper()
	_, rows := QueryTable(t, c, q)
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// QueryTable runs q and returns its column names and every row as text
// (NULL as "").
func QueryTable(t testing.TB, c Querier, q string) (cols []string, rows [][]string) {
	t.Helper()
	rs, err := c.QueryContext(context.Background(), q)
	require.NoError(t, err, q)
	defer rs.Close()
	cols, err = rs.Columns()
	require.NoError(t, err)
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		rows = append(rows, row)
	}
	require.NoError(t, rs.Err())
	return cols, rows
}

// Querier is a *sql.DB or one *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// WarningMessages returns the Message column of SHOW WARNINGS on c.
func WarningMessages(t testing.TB, c *sql.Conn) []string {
	t.Helper()
	cells := QueryText(t, c, "SHOW WARNINGS")
	require.Zero(t, len(cells)%3, "%q", cells)
	var out []string
	for i := 2; i < len(cells); i += 3 {
		out = append(out, cells[i])
	}
	return out
}

// X509User is a users: entry (append it to New's extra config) for
// certuser, a SUPER account with require_x509 and the password
// cert-secret.
const X509User = "  - name: certuser\n    password: cert-secret\n    privileges: [SUPER]\n    require_x509: true\n"
