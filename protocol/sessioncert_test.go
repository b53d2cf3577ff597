package protocol_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/protocol"
)

// statusTime is OpenSSL's ASN1_TIME_print form, as SHOW STATUS renders
// Ssl_server_not_before/after.
func statusTime(t time.Time) string { return t.UTC().Format("Jan _2 15:04:05 2006 GMT") }

// startTLSServer serves f's manager on a client port, with one SUPER user
// "admin"/"pw" (and the more users given), and returns the server and a go-sql-driver TLS config name
// that verifies f's CA.
func startTLSServer(t *testing.T, f *tlstest.Files, more ...protocol.User) (*protocol.Server, string) {
	t.Helper()
	srv := serveManager(t, f.M, protocol.Config{Users: append([]protocol.User{{Name: "admin", Password: "pw", Privileges: []string{"SUPER"}}}, more...)})
	pool := x509.NewCertPool()
	pool.AddCert(f.CA.Cert)
	name := fmt.Sprintf("served-%d", tlsNames.Add(1))
	require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost"}))
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return srv, name
}

// openSession opens one connection (one session) as admin over TLS.
func openSession(t *testing.T, srv *protocol.Server, tlsName string) *sql.Conn {
	t.Helper()
	cfg := driverConfig(srv.Addr().String(), "tcp")
	cfg.User, cfg.Passwd, cfg.TLSConfig = "admin", "pw", tlsName
	conn, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// statusOf reads SHOW [GLOBAL] STATUS LIKE name on c.
func statusOf(t *testing.T, c *sql.Conn, stmt string) string {
	t.Helper()
	var name, value string
	require.NoError(t, c.QueryRowContext(context.Background(), stmt).Scan(&name, &value), stmt)
	return value
}

// TestSessionKeepsItsCertificateDates: a session opened before a reload
// keeps reporting the dates of the certificate its handshake got (MariaDB's
// flush_ssl asserts this; it is how an operator proves old sessions were
// left alone), while a session opened after reports the new certificate.
// SHOW GLOBAL STATUS reports what new handshakes get.
func TestSessionKeepsItsCertificateDates(t *testing.T) {
	f := tlstest.New(t, "session cert CA", false, tlstest.ClientOnly)
	srv, tlsName := startTLSServer(t, f)
	old := f.First.Cert

	a := openSession(t, srv, tlsName)
	assert.Equal(t, statusTime(old.NotAfter), statusOf(t, a, "SHOW STATUS LIKE 'Ssl_server_not_after'"))

	// The renewal: another window, so that the dates differ to the second.
	nb := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	renewed := f.WriteLeaf(pki.LeafOptions{CN: "renewed", NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour)})
	require.NotEqual(t, statusTime(old.NotAfter), statusTime(renewed.Cert.NotAfter))
	_, err := a.ExecContext(context.Background(), "FLUSH SSL")
	require.NoError(t, err)

	b := openSession(t, srv, tlsName)
	for _, tc := range []struct {
		session *sql.Conn
		name    string
		cert    *x509.Certificate
	}{{a, "A (before the reload)", old}, {b, "B (after the reload)", renewed.Cert}} {
		assert.Equal(t, statusTime(tc.cert.NotBefore), statusOf(t, tc.session, "SHOW STATUS LIKE 'Ssl_server_not_before'"), tc.name)
		assert.Equal(t, statusTime(tc.cert.NotAfter), statusOf(t, tc.session, "SHOW SESSION STATUS LIKE 'Ssl_server_not_after'"), tc.name)
		assert.Equal(t, "TLSv1.3", statusOf(t, tc.session, "SHOW STATUS LIKE 'Ssl_version'"), tc.name)
		assert.NotEmpty(t, statusOf(t, tc.session, "SHOW STATUS LIKE 'Ssl_cipher'"), tc.name)
		assert.Equal(t, statusTime(renewed.Cert.NotAfter), statusOf(t, tc.session, "SHOW GLOBAL STATUS LIKE 'Ssl_server_not_after'"),
			"%s: GLOBAL is what new handshakes get", tc.name)
	}
}
