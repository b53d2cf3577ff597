package protocol_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/tlstest"
)

// TestSslAccepts: Ssl_accepts counts every TLS handshake on the client
// port and Ssl_finished_accepts the completed ones; a successful FLUSH SSL
// (or SSL_RELOAD, ALTER INSTANCE RELOAD TLS) starts both at 0 again, as
// MariaDB's FLUSH SSL does, and a refused one leaves them.
func TestSslAccepts(t *testing.T) {
	f := tlstest.New(t, "accepts CA", false, tlstest.ClientOnly)
	srv, tlsName := startTLSServer(t, f)
	ctx := context.Background()
	a := openSession(t, srv, tlsName)
	counts := func() (int, int) {
		t.Helper()
		acc, err := strconv.Atoi(statusOf(t, a, "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'"))
		require.NoError(t, err)
		fin, err := strconv.Atoi(statusOf(t, a, "SHOW STATUS LIKE 'Ssl_finished_accepts'"))
		require.NoError(t, err)
		return acc, fin
	}
	acc, fin := counts()
	assert.Equal(t, [2]int{1, 1}, [2]int{acc, fin}, "session A's handshake")

	// A client that does not trust the certificate aborts the handshake.
	bad := fmt.Sprintf("untrusted-%d", tlsNames.Add(1))
	require.NoError(t, mysql.RegisterTLSConfig(bad, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}))
	defer mysql.DeregisterTLSConfig(bad)
	cfg := driverConfig(srv.Addr().String(), "tcp")
	cfg.User, cfg.Passwd, cfg.TLSConfig = "admin", "pw", bad
	conn, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	_, err = conn.Connect(ctx)
	require.Error(t, err)
	openSession(t, srv, tlsName)
	// The server ends the aborted handshake when the client's alert
	// arrives, which may be after the next session logged in.
	testenv.Eventually(t, 5*time.Second, func() bool { acc, fin = counts(); return acc == 3 }, "the aborted handshake is counted")
	assert.Equal(t, [2]int{3, 2}, [2]int{acc, fin}, "one aborted, one more completed")

	// A refused reload keeps the counts; a successful one starts them again.
	good, err := os.ReadFile(f.CertPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f.CertPath, []byte("not a certificate"), 0o644))
	_, err = a.ExecContext(ctx, "FLUSH SSL")
	require.Error(t, err)
	acc, fin = counts()
	assert.Equal(t, [2]int{3, 2}, [2]int{acc, fin}, "after a refused FLUSH SSL")
	require.NoError(t, os.WriteFile(f.CertPath, good, 0o644))
	_, err = a.ExecContext(ctx, "FLUSH SSL")
	require.NoError(t, err)
	acc, fin = counts()
	assert.Equal(t, [2]int{0, 0}, [2]int{acc, fin}, "after FLUSH SSL")
	openSession(t, srv, tlsName)
	acc, fin = counts()
	assert.Equal(t, [2]int{1, 1}, [2]int{acc, fin}, "a session after FLUSH SSL")
	_, err = a.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	acc, fin = counts()
	assert.Equal(t, [2]int{0, 0}, [2]int{acc, fin}, "after SSL_RELOAD")
}
