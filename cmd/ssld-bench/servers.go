package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ssld/ssld/internal/freeport"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/protocol"
)

const (
	keyECDSA = "ecdsa-p256"
	keyRSA   = "rsa-2048"

	benchUser     = "bench"
	benchPassword = "bench-secret"
)

func pkiKeyType(k string) (pki.KeyType, error) {
	switch k {
	case keyECDSA:
		return pki.ECDSAP256, nil
	case keyRSA:
		return pki.RSA2048, nil
	}
	return 0, fmt.Errorf("unknown key type %q (want %s or %s)", k, keyECDSA, keyRSA)
}

// material is the PKI of one run, in one folder that every server reads:
// server.crt, server.key, ca.crt. There is one CA per key type, both in
// ca.crt, so switching key types is an ordinary reload rather than a CA
// change; each key type has two leaves that reloads alternate between, so
// every reload really builds and installs new contexts.
type material struct {
	dir    string
	pool   *x509.CertPool
	leaves map[string][2]*pki.Leaf
	cas    map[string]*pki.CA // the CA of each key type (--crl issues client certificates and the CRL with it)
	cur    int                // index of the installed leaf
}

func newMaterial(dir string, keyTypes []string) (*material, error) {
	m := &material{dir: dir, pool: x509.NewCertPool(), leaves: map[string][2]*pki.Leaf{}, cas: map[string]*pki.CA{}}
	var caPEM []byte
	for _, k := range keyTypes {
		kt, err := pkiKeyType(k)
		if err != nil {
			return nil, err
		}
		ca, err := pki.NewCA("ssld-bench "+k+" CA", pki.WithKeyType(kt))
		if err != nil {
			return nil, err
		}
		m.pool.AddCert(ca.Cert)
		m.cas[k] = ca
		caPEM = append(caPEM, ca.CertPEM...)
		var pair [2]*pki.Leaf
		for i := range pair {
			o := pki.DevServerOptions()
			o.KeyType = kt
			if pair[i], err = ca.Issue(o); err != nil {
				return nil, err
			}
		}
		m.leaves[k] = pair
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := pki.WriteFile(m.caFile(), caPEM, 0o644); err != nil {
		return nil, err
	}
	return m, m.install(keyTypes[0], 0)
}

func (m *material) certFile() string { return filepath.Join(m.dir, "server.crt") }
func (m *material) keyFile() string  { return filepath.Join(m.dir, "server.key") }
func (m *material) caFile() string   { return filepath.Join(m.dir, "ca.crt") }

// install writes leaf i of key type k as server.crt and server.key (each
// atomically). Not safe for concurrent use: one reloader at a time.
func (m *material) install(k string, i int) error {
	l := m.leaves[k][i]
	if err := replaceFile(m.certFile(), l.CertPEM, 0o644); err != nil {
		return err
	}
	if err := replaceFile(m.keyFile(), l.KeyPEM, 0o600); err != nil {
		return err
	}
	m.cur = i
	return nil
}

// replaceFile writes data to a temporary file and renames it over path, so
// a server reading path sees the old or the new content. Unlike
// pki.WriteFile it does not fsync: the files are throw-away, and an fsync
// every 50 ms would make the load generator, which shares the cores with
// the servers, slower in the with-reload phases only.
func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// proc is one server child process.
type proc struct {
	name    string
	addr    string
	metrics string // ssld: base URL of its metrics listener
	backend string // bare-tls: the crypto backend that signs
	cmd     *exec.Cmd
	exited  chan struct{}
	log     string // where its stderr goes, for error messages
	once    sync.Once
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop kills the process and waits for it. Idempotent.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
}

func (p *proc) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	return nil
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitGreeting polls addr until it sends a MySQL protocol greeting, the
// process exits, or 30 s pass.
func (p *proc) waitGreeting(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			var hdr [5]byte
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err := io.ReadFull(c, hdr[:])
			c.Close()
			if err == nil && hdr[4] == 10 {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before accepting connections:\n%s", p.name, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections on %s within 30s:\n%s", p.name, p.addr, p.logTail())
		}
	}
}

// buildSSLD builds ./cmd/ssld into dir. It must run inside the module
// (go run ./cmd/ssld-bench from the repository, or go test).
func buildSSLD(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "ssld")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ssld/ssld/cmd/ssld")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ssld: %v\n%s(use --ssld-bin to measure a prebuilt binary)", err, out)
	}
	return bin, nil
}

// ssldConfig is the config of the measured node: the documented defaults
// plus a user for the load and room for the idle-connection measurement.
func ssldConfig(m *material, maxConns int, metricsAddr, backend string) string {
	return fmt.Sprintf(`# Generated by ssld-bench.
role: aggregator
crypto_backend: %s
ssl_cert: %s
ssl_key: %s
ssl_ca: %s
max_connections: %d
metrics_listen: %s
users:
  - name: %s
    password_hash: %q
    privileges: [SUPER]
    require_ssl: true
`, backend, m.certFile(), m.keyFile(), m.caFile(), maxConns, metricsAddr, benchUser, protocol.NativePasswordHash(benchPassword))
}

// startSSLD starts `ssld serve` with a generated config in dir.
func startSSLD(ctx context.Context, bin, dir string, m *material, maxConns int, env []string, backend string) (*proc, error) {
	return startSSLDConfig(ctx, bin, dir, env, func(metricsAddr string) string { return ssldConfig(m, maxConns, metricsAddr, backend) })
}

// startSSLDConfig starts `ssld serve` in dir with the config config
// returns for its metrics address.
func startSSLDConfig(ctx context.Context, bin, dir string, env []string, config func(metricsAddr string) string) (*proc, error) {
	addr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "ssld.yaml")
	if err := os.WriteFile(cfg, []byte(config(metricsAddr)), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "ssld.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	p := &proc{name: "ssld", addr: addr, metrics: "http://" + metricsAddr + "/metrics", log: logPath,
		cmd: exec.Command(bin, "serve", "--config", cfg, "--listen", addr)}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := p.waitGreeting(ctx); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// startBare re-executes this binary as the bare TLS server (mysql false)
// or the bare vitess server (mysql true) with the certificate currently
// installed in m, signing through backend. The backend it resolved is in
// p.backend.
func startBare(ctx context.Context, dir string, m *material, backend string, mysql bool) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	name, what := "bare-tls", "bare TLS server"
	args := []string{bareFlag, "--cert", m.certFile(), "--key", m.keyFile(), "--backend", backend}
	if mysql {
		name, what = "bare-vitess", "bare vitess server"
		args = append(args, "--mysql")
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p := &proc{name: name, log: logPath, cmd: exec.Command(self, args...)}
	p.cmd.Stderr = logf
	// stdin is a pipe the child watches: if the bench dies, the server
	// sees EOF and exits instead of lingering.
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	_ = stdin // closed by the child's exit or ours
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		f := strings.Fields(s)
		if len(f) != 3 || f[0] != "listening" {
			p.stop()
			return nil, fmt.Errorf("%s: unexpected first line %q:\n%s", what, s, p.logTail())
		}
		p.addr, p.backend = f[1], f[2]
		return p, nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	p.stop()
	return nil, fmt.Errorf("%s did not start:\n%s", what, p.logTail())
}

// handshakeInfo is what the client saw in a handshake.
type handshakeInfo struct {
	Version string `json:"tls_version"`
	Group   string `json:"key_exchange"`
	KeyAlg  string `json:"server_key"`
}

// clientTLS is the client side of every load: verify the server against
// the run's CAs, no session cache (every connection is a full handshake),
// and record what was negotiated.
func clientTLS(pool *x509.CertPool, x25519 bool, seen *atomic.Pointer[handshakeInfo]) *tls.Config {
	var curves []tls.CurveID // nil: Go's default preferences
	if x25519 {
		curves = []tls.CurveID{tls.X25519}
	}
	return &tls.Config{
		CurvePreferences: curves,
		RootCAs:          pool,
		ServerName:       "localhost",
		VerifyConnection: func(cs tls.ConnectionState) error {
			hi := &handshakeInfo{Version: tls.VersionName(cs.Version), Group: cs.CurveID.String()}
			if len(cs.PeerCertificates) > 0 {
				hi.KeyAlg = cs.PeerCertificates[0].PublicKeyAlgorithm.String()
			}
			seen.Store(hi)
			return nil
		},
	}
}

// withResumption returns a copy of tc whose clients keep a session cache
// (as a pooled application's driver does) and count the connections that
// resumed a session instead of doing a full handshake.
func withResumption(tc *tls.Config, resumed *atomic.Int64) *tls.Config {
	c := tc.Clone()
	c.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	verify := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error { // also called on resumption
		if cs.DidResume {
			resumed.Add(1)
		}
		return verify(cs)
	}
	return c
}

func mysqlConnector(addr string, tc *tls.Config) (driver.Connector, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = benchUser, benchPassword, "tcp", addr
	cfg.TLS = tc
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	cfg.Logger = &mysql.NopLogger{} // failures are counted, not logged
	return mysql.NewConnector(cfg)
}

// mysqlConnect opens a new connection (TLS handshake + login), pings and
// closes it.
func mysqlConnect(c driver.Connector) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := c.Connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.(driver.Pinger).Ping(ctx)
	}
}

// tlsConnect dials addr, completes a TLS handshake and waits for the
// server to close (the bare server closes right after its handshake), so a
// connection counts only once the server has done all its work.
func tlsConnect(addr string, tc *tls.Config) func(context.Context) error {
	d := &tls.Dialer{Config: tc}
	return func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		var b [1]byte
		if _, err := c.Read(b[:]); !errors.Is(err, io.EOF) {
			return fmt.Errorf("bare TLS server: want EOF after handshake, got %v", err)
		}
		return nil
	}
}

// adminDB is one long-lived connection for reload statements.
func adminDB(ctx context.Context, addr string, tc *tls.Config) (*sql.DB, error) {
	c, err := mysqlConnector(addr, tc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	var last error
	for i := 0; i < 50; i++ { // MariaDB may still be running its init file
		if last = db.PingContext(ctx); last == nil {
			return db, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	db.Close()
	return nil, last
}
