package e2e

import (
	"database/sql"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ssld/ssld/internal/mariadbtest"
	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

var mariadbCompare = flag.Bool("mariadb-compare", false, "run MariaDB's FLUSH SSL side by side with ssld under torn writes (make compare-mariadb)")

func tornMariaRoot(socket string) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", socket
	cfg.Timeout = 5 * time.Second
	c, _ := mysql.NewConnector(cfg)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db
}

// TestTornCompareMariaDB runs the torn-write load of TestTornWrites against
// MariaDB's FLUSH SSL and ssld's SSL_RELOAD, one after the other, and logs
// the failure rates, handshake failures and reload latencies of both. Only
// with -mariadb-compare (make compare-mariadb); numbers go to
// docs/reliability.md.
func TestTornCompareMariaDB(t *testing.T) {
	if !*mariadbCompare {
		t.Skip("run with -mariadb-compare (make compare-mariadb)")
	}
	d := 10 * time.Second
	for _, w := range []struct {
		name  string
		write writeFunc
	}{{"replace key then cert", pki.WriteFile}, {inPlace, os.WriteFile}} {
		t.Run(w.name, func(t *testing.T) {
			// MariaDB: a test node's folder and CA, served by mariadbd.
			tn := newTestNode(t, "")
			certs := filepath.Join(tn.Dir, "certs")
			mdb := testenv.MariaDB(t, mariadbtest.Options{CertFile: filepath.Join(certs, "server.crt"),
				KeyFile: filepath.Join(certs, "server.key"), CAFile: filepath.Join(certs, "ca.crt"),
				User: "monitor", Password: monitorPW, MaxConnections: 500})
			root := tornMariaRoot(mdb.Socket)
			defer root.Close()
			m := nodetest.Peer(t, tn.Dir, tn.CA, mdb.Addr)
			r := runFlushSSL(t, m, root, w.write, d)
			t.Logf("MariaDB FLUSH SSL: %s", r)

			s := runTornWrites(t, newTestNode(t, ""), w.write, d, 0)
			t.Logf("ssld SSL_RELOAD:   %s", s)
		})
	}
}

// runFlushSSL is tornLoad for MariaDB: the same writer and handshake loops,
// FLUSH SSL every 10 ms on the root session.
func runFlushSSL(t *testing.T, m *testNode, root *sql.DB, write writeFunc, d time.Duration) *tornResult {
	return tornLoad(t, m, []*pki.Leaf{m.IssueLeaf(pki.LeafOptions{}), m.IssueLeaf(pki.LeafOptions{})}, func() error {
		_, err := root.Exec("FLUSH SSL")
		return err
	}, func(err error) string { return err.Error() }, write, d, 0)
}
