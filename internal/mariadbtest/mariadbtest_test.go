package mariadbtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestStartTLSUserFlushSSL starts a server with TLS and a REQUIRE SSL user,
// logs in over verified TLS, runs FLUSH SSL, and checks that Stop ends the
// process and removes its folder.
func TestStartTLSUserFlushSSL(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.MustCA(t, "mariadbtest CA")
	leaf := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	files := map[string][]byte{"ca.crt": ca.CertPEM, "server.crt": leaf.CertPEM, "server.key": leaf.KeyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		CAFile: filepath.Join(dir, "ca.crt"), User: "bench", Password: "it's-secret", RequireSSL: true})

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if err := mysql.RegisterTLSConfig("mariadbtest", &tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
		t.Fatal(err)
	}
	defer mysql.DeregisterTLSConfig("mariadbtest")
	open := func(tlsName string) *sql.DB {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.TLSConfig = "bench", "it's-secret", "tcp", s.Addr, tlsName
		cfg.Timeout = 5 * time.Second
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	db := open("mariadbtest")
	if _, err := db.ExecContext(ctx, "FLUSH SSL"); err != nil {
		t.Fatalf("FLUSH SSL: %v\n%s", err, s.ErrorLog())
	}
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatal(err)
	}
	if cipher == "" {
		t.Errorf("Ssl_cipher is empty: the session is not TLS")
	}
	// REQUIRE SSL: the same user without TLS is refused (1045).
	var me *mysql.MySQLError
	if err := open("false").PingContext(ctx); !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("login without TLS: got %v, want error 1045", err)
	}

	pid := s.PID()
	s.Stop()
	s.Stop() // idempotent
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("mariadbd %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop: %v", s.Dir, err)
	}
}
