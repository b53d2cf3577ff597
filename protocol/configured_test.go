package protocol_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// TestConfiguredVersusInUse: as in MySQL, @@ssl_cert (and every setting
// variable) shows what is configured and Current_tls_cert what is in use.
// After a refused reload the mysql CLI sees them differ; all nine
// Current_tls_* are there, those ssld has no setting for empty.
func TestConfiguredVersusInUse(t *testing.T) {
	mysqlCLI := testenv.LookPath(t, "mysql")
	f := tlstest.New(t, "configured CA", true, tlstest.ClientOnly)
	conf := sysvars.NewConfigured(f.Source())
	m, err := tlsctx.New(context.Background(), conf)
	require.NoError(t, err)
	srv := serveManager(t, m, protocol.Config{Users: []protocol.User{{Name: "admin", Password: "pw", Privileges: []string{"SUPER"}}}}, sysvars.WithConfigured(conf))
	_, port, _ := strings.Cut(srv.Addr().String(), ":")
	query := func(stmt string) (string, error) {
		out, err := exec.Command(mysqlCLI, "--no-defaults", "-h127.0.0.1", "-P"+port, "-uadmin", "-ppw", "--ssl",
			"--batch", "--skip-column-names", "-e", stmt).CombinedOutput()
		return strings.TrimRight(string(out), "\n"), err
	}
	const both = "SELECT @@ssl_cert, @@ssl_ca; SHOW STATUS LIKE 'Current_tls_c%'"
	out, err := query(both)
	require.NoError(t, err, out)
	assert.Equal(t, f.CertPath+"\t"+f.CAPath+"\n"+
		"Current_tls_ca\t"+f.CAPath+"\nCurrent_tls_capath\t\nCurrent_tls_cert\t"+f.CertPath+"\n"+
		"Current_tls_cipher\t\nCurrent_tls_ciphersuites\t\nCurrent_tls_crl\t\nCurrent_tls_crlpath\t", out)
	out, err = query("SHOW STATUS LIKE 'Current_tls%'")
	require.NoError(t, err, out)
	assert.Len(t, strings.Split(out, "\n"), 9, "nine Current_tls_*: %s", out)
	assert.Contains(t, out, "Current_tls_key\t"+f.KeyPath)
	assert.Contains(t, out, "Current_tls_version\tTLSv1.2,TLSv1.3")

	// The config now names a certificate that is not there: refused.
	renewed := filepath.Join(f.Dir, "renewed.crt")
	f.Update(func(s *tlsctx.Settings) { s.SSLCert = renewed })
	out, err = query("SSL_RELOAD")
	require.Error(t, err, out)
	out, err = query(both)
	require.NoError(t, err, out)
	assert.Equal(t, renewed+"\t"+f.CAPath+"\n"+
		"Current_tls_ca\t"+f.CAPath+"\nCurrent_tls_capath\t\nCurrent_tls_cert\t"+f.CertPath+"\n"+
		"Current_tls_cipher\t\nCurrent_tls_ciphersuites\t\nCurrent_tls_crl\t\nCurrent_tls_crlpath\t", out,
		"@@ssl_cert is the configured file, Current_tls_cert the one in use")
	out, err = query("SHOW GLOBAL VARIABLES LIKE 'ssl_cert'")
	require.NoError(t, err, out)
	assert.Equal(t, "ssl_cert\t"+renewed, out)
}
