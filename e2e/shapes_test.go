package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// The configuration shapes production runs, each as a real `ssld serve`:
// started, checked with `ssld check`, reloaded with renewed files over SQL
// (the mysql CLI), by SIGHUP and by watch: true, and proved after each
// reload with `openssl s_client -starttls mysql` (the serial served on a
// new handshake is the renewed one). Where the shape has a client CA, a
// require_x509 account logs in with a client certificate from it; where it
// has a cluster port, a peer with a cluster certificate gets in (mutual
// TLS) and the renewed cluster certificate is proved there too.

// shape is one configuration shape: who issues what, and the TLS lines of
// its config file (paths relative to the node's folder).
type shape struct {
	name    string
	keyType pki.KeyType
	// setup mints the shape's CAs into s and writes its CA files; it
	// returns the config lines naming them (ssl_ca, ssl_capath, cluster_*).
	setup func(t *testing.T, s *shapeNode) string
}

// shapeNode is a node of one shape: its folder, its CAs and its process.
type shapeNode struct {
	dir, config, socket, addr, cluster string
	keyType                            pki.KeyType
	// issuer signs the server certificate; chain is served after it (the
	// intermediates); serverRoot is what a client verifies the server with.
	issuer     *pki.CA
	chain      []*pki.CA
	serverRoot *pki.CA
	clientCA   *pki.CA // issues require_x509 client certificates; nil: none
	clusterCA  *pki.CA // issues cluster certificates; nil: no cluster_listen
	// pairLines name the server pair in the config ("" = certs/server.*)
	// and renewPair, when set, renews it in place of issuer (an ACME
	// client); serverRoot is then nil: the client does not verify the
	// server (its name is not 127.0.0.1).
	pairLines string
	renewPair func(t *testing.T) string
	log       *lockedBuffer
	cmd       *exec.Cmd
}

func (s *shapeNode) path(name string) string { return filepath.Join(s.dir, name) }

func (s *shapeNode) writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(s.path(name)), 0o700))
	require.NoError(t, pki.WriteFile(s.path(name), data, 0o600))
}

// renew writes a new server pair (and cluster pair, where there is a
// cluster port) and returns the serials a reload must then serve.
func (s *shapeNode) renew(t *testing.T) (server, cluster string) {
	t.Helper()
	if s.renewPair != nil {
		return s.renewPair(t), ""
	}
	o := pki.DevServerOptions()
	o.KeyType = s.keyType
	l := pkitest.MustIssue(t, s.issuer, o)
	s.writeFile(t, "certs/server.crt", l.ChainPEM(s.chain...))
	s.writeFile(t, "certs/server.key", l.KeyPEM)
	server = serialOf(l.Cert)
	if s.clusterCA != nil {
		c := pkitest.MustIssue(t, s.clusterCA, o)
		s.writeFile(t, "certs/cluster.crt", c.CertPEM)
		s.writeFile(t, "certs/cluster.key", c.KeyPEM)
		cluster = serialOf(c.Cert)
	}
	return server, cluster
}

// writeConfig writes the node's config: the server pair, tls, the shape's
// lines, watch, and the test accounts plus a require_x509 one.
func (s *shapeNode) writeConfig(t *testing.T, tlsLines string, watch bool) {
	t.Helper()
	users := strings.SplitN(configYAML(nodetest.X509User), "users:\n", 2)[1]
	pair := s.pairLines
	if pair == "" {
		pair = "ssl_cert: certs/server.crt\nssl_key: certs/server.key\n"
	}
	cfg := "socket: " + devSocket + "\n" + pair + tlsLines
	if s.clusterCA != nil {
		cfg += "cluster_listen: " + s.cluster + "\n"
	}
	if watch {
		cfg += "watch: true\n"
	}
	require.NoError(t, os.WriteFile(s.config, []byte(cfg+"users:\n"+users), 0o600))
}

// start runs `ssld serve` on the node's config and waits for its socket.
func (s *shapeNode) start(t *testing.T) {
	t.Helper()
	s.log = &lockedBuffer{}
	s.cmd = serveCmd(t, s.config, s.addr, s.log)
	startChild(t, s.cmd)
	waitAnswers(t, "unix", s.socket, s.log)
	waitAnswers(t, "tcp", s.addr, s.log)
}

// stop ends the process (SIGTERM) and waits for it.
func (s *shapeNode) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("ssld did not stop on SIGTERM:\n%s", s.log)
	}
}

// prove checks with openssl s_client that new handshakes get server (and
// cluster, on the cluster port, as a peer with a cluster certificate).
func (s *shapeNode) prove(t *testing.T, server, cluster string) {
	t.Helper()
	assert.Equal(t, server, opensslSerial(t, s.addr), "client channel\n%s", s.log)
	if s.clusterCA != nil {
		assert.Equal(t, cluster, opensslSerial(t, s.cluster, s.peerArgs(t, s.clusterCA)...), "cluster channel\n%s", s.log)
	}
}

// eventually waits (bounded) until new handshakes get server and cluster.
func (s *shapeNode) eventually(t *testing.T, how string, server, cluster string) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() bool {
		got, err := opensslServedSerial(s.addr)
		if err != nil || got != server {
			return false
		}
		if s.clusterCA != nil {
			got, err = opensslServedSerial(s.cluster, s.peerArgs(t, s.clusterCA)...)
			return err == nil && got == cluster
		}
		return true
	}, "%s: the renewed certificate is not served:\n%s", how, s.log)
}

// peerArgs are openssl s_client's options to present a certificate from
// ca (a cluster peer), written once per CA.
func (s *shapeNode) peerArgs(t *testing.T, ca *pki.CA) []string {
	t.Helper()
	crt, key := s.path("peer-"+ca.Cert.SerialNumber.String()+".crt"), s.path("peer-"+ca.Cert.SerialNumber.String()+".key")
	if _, err := os.Stat(crt); err != nil {
		p := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "peer", DNSNames: []string{"localhost"}})
		s.writeFile(t, filepath.Base(crt), p.CertPEM)
		s.writeFile(t, filepath.Base(key), p.KeyPEM)
	}
	return []string{"-cert", crt, "-key", key}
}

// x509Login logs the require_x509 account in over verified TLS with a
// client certificate from the shape's client CA.
func (s *shapeNode) x509Login(t *testing.T, mysqlBin string) {
	t.Helper()
	c := pkitest.MustIssue(t, s.clientCA, pki.LeafOptions{CN: "certuser"})
	s.writeFile(t, "client.crt", c.CertPEM)
	s.writeFile(t, "client.key", c.KeyPEM)
	host, port := splitAddr(t, s.addr)
	args := []string{"--protocol=TCP", "-h", host, "-P", port, "-u", "certuser", "-pcert-secret",
		"--batch", "--skip-column-names", "--connect-timeout=5", "--ssl",
		"--ssl-cert=" + s.path("client.crt"), "--ssl-key=" + s.path("client.key"), "-e", "SELECT CURRENT_USER()"}
	if s.serverRoot != nil {
		s.writeFile(t, "server-root.crt", s.serverRoot.CertPEM)
		args = append(args, "--ssl-ca="+s.path("server-root.crt"), "--ssl-verify-server-cert")
	}
	out, err := exec.Command(mysqlBin, args...).CombinedOutput()
	require.NoError(t, err, "%s\n%s", out, s.log)
	assert.Contains(t, string(out), "certuser@")
}

// clusterLogin runs SELECT 1 as admin on the cluster port with the mysql
// CLI, verifying the node's cluster certificate and presenting a peer
// certificate from ca.
func (s *shapeNode) clusterLogin(t *testing.T, mysqlBin string, ca *pki.CA) (string, error) {
	t.Helper()
	s.writeFile(t, "cluster-root.crt", s.clusterCA.CertPEM)
	peer := s.peerArgs(t, ca)
	host, port := splitAddr(t, s.cluster)
	out, err := exec.Command(mysqlBin, "--protocol=TCP", "-h", host, "-P", port, "-u", "admin", "-p"+adminPW,
		"--batch", "--skip-column-names", "--connect-timeout=5", "--ssl", "--ssl-ca="+s.path("cluster-root.crt"), "--ssl-verify-server-cert",
		"--ssl-cert="+peer[1], "--ssl-key="+peer[3], "-e", "SELECT 1").CombinedOutput()
	return string(out), err
}

// newShapeNode makes the folder and addresses of one node.
func newShapeNode(t *testing.T, sh shape) *shapeNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssld") // short: socket paths are limited to 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &shapeNode{dir: dir, config: filepath.Join(dir, "ssld.yaml"), socket: filepath.Join(dir, devSocket),
		addr: freeAddr(t), cluster: freeAddr(t), keyType: sh.keyType}
}

// crossSigned is a certificate for ca's subject and key signed by by: the
// cross-signature a CA uses to be trusted through an older root.
func crossSigned(t *testing.T, ca, by *pki.CA) []byte {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: ca.Cert.Subject, NotBefore: ca.Cert.NotBefore, NotAfter: ca.Cert.NotAfter,
		KeyUsage: ca.Cert.KeyUsage, BasicConstraintsValid: true, IsCA: true, SubjectKeyId: ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, by.Cert, ca.Key.Public(), by.Key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// configShapes are the shapes that must start, check and reload.
func configShapes() []shape {
	onePrivateCA := func(t *testing.T, s *shapeNode) string {
		ca := pkitest.MustCA(t, "private CA", pki.WithKeyType(s.keyType))
		s.issuer, s.serverRoot, s.clientCA = ca, ca, ca
		s.writeFile(t, "certs/ca.crt", ca.CertPEM)
		return "ssl_ca: certs/ca.crt\n"
	}
	return []shape{
		{name: "one private CA for all (ECDSA)", keyType: pki.ECDSAP256, setup: onePrivateCA},
		{name: "one private CA for all (RSA)", keyType: pki.RSA2048, setup: onePrivateCA},
		{name: "server CA and a different client CA in ssl_ca", setup: func(t *testing.T, s *shapeNode) string {
			s.issuer = pkitest.MustCA(t, "public CA")
			s.serverRoot, s.clientCA = s.issuer, pkitest.MustCA(t, "client CA")
			s.writeFile(t, "certs/clients.crt", s.clientCA.CertPEM)
			return "ssl_ca: certs/clients.crt\n"
		}},
		{name: "separate cluster CA and certificate on cluster_listen", setup: func(t *testing.T, s *shapeNode) string {
			s.issuer = pkitest.MustCA(t, "public CA")
			s.serverRoot, s.clientCA, s.clusterCA = s.issuer, pkitest.MustCA(t, "client CA"), pkitest.MustCA(t, "cluster CA")
			s.writeFile(t, "certs/clients.crt", s.clientCA.CertPEM)
			s.writeFile(t, "certs/cluster-ca.crt", s.clusterCA.CertPEM)
			return "ssl_ca: certs/clients.crt\ncluster_ssl_cert: certs/cluster.crt\ncluster_ssl_key: certs/cluster.key\ncluster_ssl_ca: certs/cluster-ca.crt\n"
		}},
		{name: "served intermediate chain", setup: func(t *testing.T, s *shapeNode) string {
			root := pkitest.MustCA(t, "root CA")
			inter, err := root.Intermediate("issuing CA")
			require.NoError(t, err)
			s.issuer, s.chain, s.serverRoot, s.clientCA = inter, []*pki.CA{inter}, root, root
			s.writeFile(t, "certs/ca.crt", root.CertPEM)
			return "ssl_ca: certs/ca.crt\n"
		}},
		{name: "cross-signed root in ssl_ca", setup: func(t *testing.T, s *shapeNode) string {
			old, next := pkitest.MustCA(t, "old root"), pkitest.MustCA(t, "new root")
			s.issuer, s.serverRoot, s.clientCA = old, old, next
			s.writeFile(t, "certs/ca.crt", append(append([]byte{}, old.CertPEM...), crossSigned(t, next, old)...))
			return "ssl_ca: certs/ca.crt\n"
		}},
		{name: "ssl_capath only", setup: func(t *testing.T, s *shapeNode) string {
			s.issuer = pkitest.MustCA(t, "public CA")
			s.serverRoot, s.clientCA = s.issuer, pkitest.MustCA(t, "client CA")
			s.writeFile(t, "clientcas/client-ca.pem", s.clientCA.CertPEM)
			return "ssl_capath: clientcas\n"
		}},
	}
}

// TestConfigShapes: every shape starts (not degraded), passes `ssld
// check`, and serves renewed files after SSL_RELOAD over the mysql CLI,
// after SIGHUP and, restarted with watch: true, after the files change.
func TestConfigShapes(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	for _, sh := range configShapes() {
		t.Run(sh.name, func(t *testing.T) {
			s := newShapeNode(t, sh)
			lines := sh.setup(t, s)
			runShape(t, mysqlBin, s, lines)
		})
	}
}

// runShape writes the node's files and config (the TLS lines given),
// checks them, starts it and reloads renewed files by SQL, SIGHUP and
// watch, proving each with openssl s_client.
func runShape(t *testing.T, mysqlBin string, s *shapeNode, lines string) {
	t.Helper()
	server, cluster := s.renew(t)
	s.writeConfig(t, lines, false)

	code, out, errOut := runBin(t, "check", "--config", s.config)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, s.config+": ok")
	if s.clusterCA == nil {
		assert.NotContains(t, out+errOut, "cluster", "no cluster_listen: nothing about a cluster channel")
	} else {
		assert.Contains(t, out, "channel cluster: serial="+cluster)
	}

	s.start(t)
	s.prove(t, server, cluster)
	if s.clientCA != nil {
		s.x509Login(t, mysqlBin)
	}

	server, cluster = s.renew(t)
	res, err := mysqlSocket(mysqlBin, s.socket, "admin", adminPW, "-e", "SSL_RELOAD")
	require.NoError(t, err, "SSL_RELOAD: %s\n%s", res, s.log)
	s.prove(t, server, cluster)

	server, cluster = s.renew(t)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGHUP))
	s.eventually(t, "SIGHUP", server, cluster)
	assert.NotContains(t, s.log.String(), "degraded")
	assert.NotContains(t, s.log.String(), "result=failed")
	s.stop(t)

	s.writeConfig(t, lines, true)
	s.start(t)
	s.prove(t, server, cluster)
	server, cluster = s.renew(t)
	s.eventually(t, "watch", server, cluster)
	if s.clientCA != nil {
		s.x509Login(t, mysqlBin)
	}
	if s.clusterCA != nil {
		// Mutual TLS on the cluster port: a peer from the cluster CA
		// logs in, one from another CA is refused.
		out, err := s.clusterLogin(t, mysqlBin, s.clusterCA)
		require.NoError(t, err, out)
		out, err = s.clusterLogin(t, mysqlBin, pkitest.MustCA(t, "stranger CA"))
		require.Error(t, err, "a peer certificate from another CA must be refused: %s", out)
	}
	assert.NotContains(t, s.log.String(), "degraded")
	assert.NotContains(t, s.log.String(), "result=failed")
}

// TestConfigShapePublicCA: the public-CA shape with a real ACME CA:
// certbot gets the server certificate from pebble, ssl_ca holds a private
// client CA. It checks, starts, and serves each certbot renewal after
// SSL_RELOAD, SIGHUP and watch; a require_x509 account logs in with a
// certificate from the private CA.
func TestConfigShapePublicCA(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	a := startPebble(t)
	a.issue()
	s := newShapeNode(t, shape{})
	s.clientCA = pkitest.MustCA(t, "client CA")
	s.writeFile(t, "certs/clients.crt", s.clientCA.CertPEM)
	s.pairLines = "ssl_cert: " + a.live("fullchain.pem") + "\nssl_key: " + a.live("privkey.pem") + "\n"
	first := true
	s.renewPair = func(t *testing.T) string {
		if !first {
			a.renew()
		}
		first = false
		return fileSerial(t, a.live("cert.pem"))
	}
	runShape(t, mysqlBin, s, "ssl_ca: certs/clients.crt\n")
}

// TestConfigShapeRefused: cluster_listen with no cluster_ssl_* serves the
// cluster port with the ssl_* files, so the server certificate must chain
// to ssl_ca; with a public server certificate and a private client CA it
// does not. `ssld check` refuses it with the same words as the reload, and
// the node starts degraded on the cluster port alone: the log says so,
// and the client port serves.
func TestConfigShapeRefused(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	s := newShapeNode(t, shape{})
	s.issuer = pkitest.MustCA(t, "public CA")
	s.serverRoot, s.clientCA = s.issuer, pkitest.MustCA(t, "client CA")
	s.writeFile(t, "certs/clients.crt", s.clientCA.CertPEM)
	server, _ := s.renew(t)
	lines := "ssl_ca: certs/clients.crt\ncluster_listen: " + s.cluster + "\n"
	s.writeConfig(t, lines, false)
	words := `channel cluster: ssl_cert "` + s.path("certs/server.crt") + `": certificate does not verify against the cluster CA set (ssl_ca): x509: certificate signed by unknown authority`

	code, out, errOut := runBin(t, "check", "--config", s.config)
	require.Equal(t, 1, code, out+errOut)
	assert.Contains(t, errOut, "error: "+words+"\n")

	s.start(t)
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(s.log.String(), "ssld started degraded") }, "no degraded start:\n%s", s.log)
	assert.Contains(t, s.log.String(), "ssld started degraded: TLS is off on channel cluster: the cluster_listen port refuses every connection (channel client is up: the listen port serves) until a reload succeeds")
	assert.Equal(t, server, opensslSerial(t, s.addr), "the client port serves")
	num, msg, isErr := firstPacket(t, s.cluster)
	require.True(t, isErr, "the cluster port refuses")
	assert.Equal(t, uint16(3888), num)
	assert.Contains(t, msg, "Problem: "+words)

	res, err := mysqlSocket(mysqlBin, s.socket, "admin", adminPW, "-e", "SSL_RELOAD")
	require.Error(t, err, res)
	assert.Contains(t, res, "ERROR 3888 (HY000)")
	assert.Contains(t, res, words)

	// The dry run says the same, once, and nothing about contexts in use.
	res, err = mysqlSocket(mysqlBin, s.socket, "admin", adminPW, "--batch", "--skip-column-names", "-e", "CHECK TLS")
	require.NoError(t, err, res)
	assert.Contains(t, res, "cluster\twould_fail\tNULL\tNULL\tNULL\tNULL\tNULL\ta reload would fail: "+strings.TrimPrefix(words, "channel cluster: ")+"\tNULL\n")
	assert.Contains(t, res, "client\twould_fail\t")
	assert.NotContains(t, res, "remain in use")

	// The node serves no cluster port without cluster_listen: the same
	// files then check and reload.
	s.writeConfig(t, "ssl_ca: certs/clients.crt\n", false)
	code, out, errOut = runBin(t, "check", "--config", s.config)
	assert.Equal(t, 0, code, out+errOut)
}

// TestConfigurationShapeExample runs `ssld check` on the shape example of
// docs/configuration.md (a public server certificate, a private client CA,
// a cluster port with its own CA) as written, its paths moved under a
// temporary folder that holds generated files: both channels check. The
// same block without its cluster_ssl_* lines is the refused shape.
func TestConfigurationShapeExample(t *testing.T) {
	var block string
	for _, b := range docBlocks(t, "docs/configuration.md", "yaml") {
		if strings.Contains(b, "cluster_ssl_ca:") {
			block = b
		}
	}
	require.NotEmpty(t, block, "the shape example")
	root := t.TempDir()
	body := strings.NewReplacer("/etc/", root+"/etc/", "/run/", root+"/run/").Replace(block)
	public, clients, clusterCA := pkitest.MustCA(t, "public CA"), pkitest.MustCA(t, "client CA"), pkitest.MustCA(t, "cluster CA")
	server := pkitest.MustIssue(t, public, pki.DevServerOptions())
	member := pkitest.MustIssue(t, clusterCA, pki.DevServerOptions())
	for name, data := range map[string][]byte{
		"etc/letsencrypt/live/db1.example.com/fullchain.pem": server.CertPEM,
		"etc/letsencrypt/live/db1.example.com/privkey.pem":   server.KeyPEM,
		"etc/ssld/client-ca.crt":                             clients.CertPEM,
		"etc/ssld/cluster/db1.crt":                           member.CertPEM,
		"etc/ssld/cluster/db1.key":                           member.KeyPEM,
		"etc/ssld/cluster/ca.crt":                            clusterCA.CertPEM,
	} {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, data, 0o600))
	}
	cfg := filepath.Join(root, "ssld.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
	code, out, errOut := runBin(t, "check", "--config", cfg)
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "channel client: serial="+serialOf(server.Cert))
	assert.Contains(t, out, "channel cluster: serial="+serialOf(member.Cert))

	var kept []string
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "cluster_ssl_") {
			kept = append(kept, l)
		}
	}
	require.NoError(t, os.WriteFile(cfg, []byte(strings.Join(kept, "\n")), 0o600))
	code, out, errOut = runBin(t, "check", "--config", cfg)
	require.Equal(t, 1, code, out+errOut)
	assert.Contains(t, errOut, `error: channel cluster: ssl_cert "`+filepath.Join(root, "etc/letsencrypt/live/db1.example.com/fullchain.pem")+
		`": certificate does not verify against the cluster CA set (ssl_ca): x509: certificate signed by unknown authority`)
}

// TestClusterListenWithoutCARefused: cluster_listen with no CA at all (no
// cluster_ssl_ca/capath, no ssl_ca/capath to fall back to) would check the
// peers' certificates against the system roots. `ssld check` refuses it,
// and `ssld serve` does not start (a reload could not add the CA), both
// naming the settings that fix it.
func TestClusterListenWithoutCARefused(t *testing.T) {
	s := newShapeNode(t, shape{})
	s.issuer = pkitest.MustCA(t, "public CA")
	s.renew(t)
	require.NoError(t, os.WriteFile(s.config, []byte("socket: "+devSocket+"\nssl_cert: certs/server.crt\nssl_key: certs/server.key\ncluster_listen: "+
		s.cluster+"\nusers:\n"+strings.SplitN(configYAML(""), "users:\n", 2)[1]), 0o600))
	const words = "channel cluster: cluster_ssl_ca: no CA to verify the peers' certificates on the cluster port: set cluster_ssl_ca or cluster_ssl_capath " +
		"(or ssl_ca / ssl_capath, which the cluster channel falls back to); the system roots are never trusted for peer certificates"

	code, out, errOut := runBin(t, "check", "--config", s.config)
	assert.Equal(t, 1, code, out+errOut)
	assert.Contains(t, errOut, "error: "+words+"\n")

	// Bounded: a serve that starts would run until killed.
	ctx, cancel := context.WithTimeout(context.Background(), childStartTimeout)
	defer cancel()
	var so, se strings.Builder
	serve := exec.CommandContext(ctx, ssldBinary(t), "serve", "--config", s.config, "--listen", s.addr)
	serve.Stdout, serve.Stderr = &so, &se
	err := serve.Run()
	require.NoError(t, ctx.Err(), "ssld serve started:\n%s%s", so.String(), se.String())
	assert.Equal(t, 1, exitStatus(t, err, se.String()), so.String()+se.String())
	assert.Contains(t, se.String(), words)
	assert.NotContains(t, so.String()+se.String(), "ssld ready")
}
