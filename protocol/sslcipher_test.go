package protocol_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/tlstest"
)

// TestSslCipherOpenSSLNames: the mysql CLI, asking for one suite by its
// OpenSSL name with --ssl-cipher, reads that same name back in Ssl_cipher
// (as from MySQL and MariaDB); a TLS 1.3 session reports the suite's
// OpenSSL (IANA) name.
func TestSslCipherOpenSSLNames(t *testing.T) {
	mysqlCLI := testenv.LookPath(t, "mysql")
	f := tlstest.New(t, "cipher names CA", false, tlstest.ClientOnly) // ECDSA leaf
	srv, _ := startTLSServer(t, f)
	_, port, _ := strings.Cut(srv.Addr().String(), ":")
	cipherOf := func(args ...string) string {
		base := []string{"--no-defaults", "-h127.0.0.1", "-P" + port, "-uadmin", "-ppw", "--ssl", "--batch", "--skip-column-names",
			"-e", "SHOW STATUS LIKE 'Ssl_cipher'"}
		out, err := exec.Command(mysqlCLI, append(base, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		name, value, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
		require.True(t, ok, "%s", out)
		require.Equal(t, "Ssl_cipher", name)
		return value
	}
	for _, suite := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-SHA"} {
		assert.Equal(t, suite, cipherOf("--tls-version=TLSv1.2", "--ssl-cipher="+suite), suite)
	}
	assert.Contains(t, []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"},
		cipherOf("--tls-version=TLSv1.3"))
}
