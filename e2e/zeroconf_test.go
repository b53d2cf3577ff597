package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

// selfSigned is a self-signed server certificate for localhost and
// 127.0.0.1, as a node set up without any CA would serve.
func selfSigned(t *testing.T) *pki.Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"ssld"}}, // the node's own name: a renewal, not another identity
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(rotateValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return &pki.Leaf{Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})}
}

// TestMariaDBZeroConfTLS: the Node.js mariadb connector with `ssl: true`
// and no CA verifies a node serving a self-signed certificate through the
// proof in the login's OK packet (MariaDB 11.4's zero-configuration TLS),
// runs SSL_RELOAD, and verifies the reloaded self-signed certificate on a
// new connection. With a wrong password there is no proof and the connector
// refuses; against a node whose greeting does not say MariaDB 11.4 (the
// default server_version) the connector does not look for a proof and
// refuses the self-signed certificate, as it refuses any MySQL server's.
func TestMariaDBZeroConfTLS(t *testing.T) {
	node := testenv.LookPath(t, "node")
	dir := filepath.Join(repoRoot(t), "testdata/clients/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules/mariadb")); err != nil {
		if testenv.CI() {
			t.Fatalf("mariadb (npm) missing under CI (npm ci in %s): %v", dir, err)
		}
		t.Skipf("mariadb (npm) not installed (run npm ci in %s)", dir)
	}
	run := func(t *testing.T, tn *testNode, pw string) (string, error) {
		host, port := splitAddr(t, tn.Addr)
		c := exec.Command(node, "zeroconf.js")
		c.Dir = dir
		c.Env = append(os.Environ(), "SSLD_HOST="+host, "SSLD_PORT="+port, "SSLD_USER=admin", "SSLD_PASSWORD="+pw)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	selfSignedNode := func(t *testing.T, extra string) *testNode {
		tn := newTestNode(t, extra)
		tn.RotateTo(selfSigned(t))
		require.NoError(t, tn.N.Reload(context.Background(), "test"))
		return tn
	}

	var asMariaDB string // the setting docs/configuration.md shows
	for _, b := range docBlocks(t, "docs/configuration.md", "yaml") {
		if strings.HasPrefix(b, "server_version:") {
			asMariaDB = b
		}
	}
	require.NotEmpty(t, asMariaDB, "the server_version example of docs/configuration.md")

	t.Run("verified by the proof", func(t *testing.T) {
		tn := selfSignedNode(t, asMariaDB)
		var v string
		require.NoError(t, tn.SocketDB("admin", adminPW).QueryRow("SELECT @@version").Scan(&v))
		assert.Equal(t, "11.4.5-MariaDB-ssld", v, "@@version is the greeting's")
		next := tn.RotateTo(selfSigned(t)) // what the script's SSL_RELOAD loads
		out, err := run(t, tn, adminPW)
		require.NoError(t, err, out)
		assert.Contains(t, out, "serial="+next+"\n", "the new connection verified the reloaded certificate")
		assert.Regexp(t, `cipher=\S+`, out)
		assert.Equal(t, next, tn.ServedSerial())

		out, err = run(t, tn, "not-"+adminPW)
		require.Error(t, err, "logged in with a wrong password:\n%s", out)
		assert.NotContains(t, out, "serial=")
	})

	t.Run("not MariaDB 11.4", func(t *testing.T) {
		tn := selfSignedNode(t, "")
		out, err := run(t, tn, adminPW)
		require.Error(t, err, "accepted a self-signed certificate without a proof:\n%s", out)
		assert.Contains(t, out, "self-signed certificate")
		assert.NotContains(t, out, "serial=")
	})
}
