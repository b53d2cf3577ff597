package node_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/internal/node"
	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

// TestCryptoBackendClients serves RSA-2048, then ECDSA P-256, then RSA
// again (one SSL_RELOAD each) with crypto_backend openssl and go, and has
// go-sql-driver, the mysql CLI and openssl s_client (TLS 1.3, and TLS 1.2
// with PKCS#1 v1.5 or ECDSA signatures) complete handshakes on every key.
func TestCryptoBackendClients(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	testenv.LookPath(t, "openssl")
	for _, backend := range []string{"openssl", "go"} {
		t.Run(backend, func(t *testing.T) {
			tn := nodetest.New(t, "crypto_backend: "+backend+"\n")
			seen := &nodetest.Serials{}
			admin := tn.DB("admin", nodetest.AdminPW, tn.TLSName(seen))
			ctx := nodetest.Ctx(t)
			for i, kt := range []pki.KeyType{pki.RSA2048, pki.ECDSAP256, pki.RSA2048} {
				serial := tn.RotateTo(tn.IssueLeaf(pki.LeafOptions{NotAfter: time.Now().Add(nodetest.RotateValidity), KeyType: kt}))
				_, err := admin.ExecContext(ctx, "SSL_RELOAD")
				require.NoError(t, err, "reload %d to %s", i, kt)
				assert.Equal(t, backend, nodetest.Variable(t, admin, "ssl_crypto_backend"), kt.String())

				// go-sql-driver: a new connection, full handshake.
				fresh := tn.OpenDB("monitor", nodetest.MonitorPW, tn.TLSName(seen))
				var one int
				require.NoError(t, fresh.QueryRowContext(ctx, "SELECT 1").Scan(&one), kt.String())
				require.NoError(t, fresh.Close())
				assert.Equal(t, serial, seen.Last(), "go-sql-driver after reload to %s", kt)

				// The mysql CLI, verifying the server certificate.
				out, err := tn.MySQLTLS(t, mysqlBin, "monitor", nodetest.MonitorPW, "--batch", "--skip-column-names",
					"-e", "SELECT @@ssl_crypto_backend, @@ssl_server_serial")
				require.NoError(t, err, "mysql CLI on %s: %s", kt, out)
				assert.Equal(t, backend+"\t"+serial, strings.TrimSpace(out), kt.String())

				// openssl s_client: TLS 1.3 (RSA-PSS or ECDSA), then TLS 1.2 with
				// the PKCS#1 v1.5 scheme for RSA.
				assert.Equal(t, serial, nodetest.OpenSSLSerial(t, tn.Addr, "-tls1_3"), kt.String())
				sigalgs := "ECDSA+SHA256"
				if kt == pki.RSA2048 {
					sigalgs = "RSA+SHA256"
				}
				assert.Equal(t, serial, nodetest.OpenSSLSerial(t, tn.Addr, "-tls1_2", "-sigalgs", sigalgs), kt.String())
			}
		})
	}
}

// TestCryptoBackendConfig: an unknown crypto_backend is refused with the
// file and the accepted values; the choice is logged at start-up.
func TestCryptoBackendConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ssld.yaml")
	require.NoError(t, os.WriteFile(path, []byte("crypto_backend: boringssl\n"), 0o600))
	_, err := config.Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config file "+path+": crypto_backend: unknown crypto backend \"boringssl\" (want auto, openssl or go)")

	tn := nodetest.New(t, "crypto_backend: go\n")
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	n, err := node.Start(context.Background(), node.Options{Config: tn.Config, Listen: "127.0.0.1:0", Socket: filepath.Join(tn.Dir, "b.sock")}, log)
	require.NoError(t, err)
	n.Shutdown(time.Second)
	assert.Contains(t, buf.String(), `msg="ssld ready"`)
	assert.Contains(t, buf.String(), "crypto_backend=go")
}
