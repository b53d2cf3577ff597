package e2e

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// TestIdentityGuardBothWays drives the identity guard with the mysql CLI:
// another node's certificate (other names, other subject) deployed to this
// node is refused by SSL_RELOAD with 3888 naming the names it drops, the
// old certificate keeps serving, and CHECK TLS says the same beforehand;
// with ssl_allow_identity_change: true the same files reload. A renewal
// with the same names passes the guard as before.
func TestIdentityGuardBothWays(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, "")
	admin := func(sql string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", sql)
	}
	renewed := tn.Rotate()
	out, err := admin("SSL_RELOAD")
	require.NoError(t, err, "a renewal keeps the names: %s", out)
	require.Equal(t, renewed, tn.ServedSerial())

	other := pkitest.MustIssue(t, tn.CA, pki.LeafOptions{CN: "node-b", DNSNames: []string{"node-b.example"}, IPs: []net.IP{net.IPv4(10, 0, 0, 2)}})
	tn.WritePair(other)
	out, err = admin("CHECK TLS FOR CHANNEL client")
	require.NoError(t, err, out)
	assert.Contains(t, out, "would_fail")
	assert.Contains(t, out, "drops DNS name localhost; drops IP address 127.0.0.1")

	out, err = admin("SSL_RELOAD")
	require.Error(t, err, out)
	assert.Contains(t, out, "ERROR 3888")
	assert.Contains(t, out, `the new certificate drops DNS name localhost; drops IP address 127.0.0.1; subject changes from "CN=localhost,O=ssld" to "CN=node-b,O=ssld"`)
	assert.Contains(t, out, "ssl_allow_identity_change: true")
	assert.Equal(t, renewed, tn.ServedSerial(), "the node keeps its own certificate")
	assert.Equal(t, renewed, opensslSerial(t, tn.Addr))

	raw, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tn.Config, append(raw, "ssl_allow_identity_change: true\n"...), 0o600))
	out, err = admin("SSL_RELOAD")
	require.NoError(t, err, "allowed: %s", out)
	assert.Equal(t, tlsctx.FormatSerial(other.Cert.SerialNumber), tn.ServedSerial())
}
