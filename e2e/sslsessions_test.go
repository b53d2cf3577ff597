package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// TestUntrustedSessionClosedAfterReload: a require_x509 session (go-sql-
// driver) is listed by SHOW SSL SESSIONS (mysql CLI); after SSL_RELOAD
// with a CRL that revokes its certificate and ssl_close_untrusted_sessions
// it is closed, the log names its account, host and serial, and the admin
// session that ran the reload stays.
func TestUntrustedSessionClosedAfterReload(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, nodetest.X509User)
	var logs testenv.LogBuffer
	tn.Restart(slog.New(slog.NewTextHandler(&logs, nil)))
	client := tn.IssueLeaf(pki.LeafOptions{})
	client2 := tn.IssueLeaf(pki.LeafOptions{})
	pool := x509.NewCertPool()
	pool.AddCert(tn.CA.Cert)
	open := func(l *pki.Leaf) *sql.Conn {
		kp, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		require.NoError(t, err)
		name := fmt.Sprintf("sessions-%d", tlsSeq.Add(1))
		require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{kp}}))
		t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
		db := tn.DB("certuser", "cert-secret", name)
		c, err := db.Conn(ctxT(t))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.PingContext(ctxT(t)))
		return c
	}
	victim, other := open(client), open(client2)
	admin := func(sql string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", sql)
	}
	serial := tlsctx.FormatSerial(client.Cert.SerialNumber)
	out, err := admin("SHOW SSL SESSIONS")
	require.NoError(t, err, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^\d+\tcertuser\t127\.0\.0\.1:\d+\tclient\tCN=localhost,O=ssld\t`+serial+`\tYES$`), out)

	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: client.Cert.SerialNumber, RevocationTime: now.Add(-time.Minute)}}},
		tn.CA.Cert, tn.CA.Key)
	require.NoError(t, err)
	crl := filepath.Join(tn.Dir, "ca.crl")
	require.NoError(t, os.WriteFile(crl, der, 0o644))
	raw, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tn.Config, append(raw, "ssl_crl: ca.crl\nssl_close_untrusted_sessions: true\n"...), 0o600))
	out, err = admin("SSL_RELOAD; SHOW SSL SESSIONS")
	require.NoError(t, err, out)
	assert.NotContains(t, out, serial, "the revoked session is gone from the list")
	assert.Contains(t, out, tlsctx.FormatSerial(client2.Cert.SerialNumber))

	var one int
	require.Error(t, victim.QueryRowContext(context.Background(), "SELECT 1").Scan(&one), "the revoked session is closed")
	require.NoError(t, other.QueryRowContext(context.Background(), "SELECT 1").Scan(&one), "the other session stays")
	assert.Regexp(t, `msg="tls session closed: peer no longer trusted" channel=client reason=revoked peer_subject="CN=localhost,O=ssld" peer_serial=`+serial+
		` trigger="sql admin@127\.0\.0\.1" account=certuser host=127\.0\.0\.1:\d+ connection_id=\d+`, logs.String())
}
