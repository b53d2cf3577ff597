package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
	"github.com/ssld/ssld/tlsctx"
)

// TestCAOverlapKeepsOldClientsForTheWindow: ssl_ca goes from the old
// client CA to the new one with ssl_ca_overlap: 3s. A require_x509 login
// with an old-CA certificate (mysql CLI) still works inside the window,
// SHOW SSL STATUS names the overlapping CA and when it drops, and after
// the window the expiry reload (ca-overlap-expiry) has dropped it: the
// old-CA login is refused, the new-CA one is not.
func TestCAOverlapKeepsOldClientsForTheWindow(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	tn := newTestNode(t, nodetest.X509User)
	oldCA, newCA := pkitest.MustCA(t, "old client CA"), pkitest.MustCA(t, "new client CA")
	caFile := filepath.Join(tn.Dir, devCACert)
	nodeCA := append([]byte{}, tn.CA.CertPEM...)
	write := func(name string, data []byte) string {
		p := filepath.Join(tn.Dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	oldLeaf := pkitest.MustIssue(t, oldCA, pki.LeafOptions{CN: "certuser"})
	newLeaf := pkitest.MustIssue(t, newCA, pki.LeafOptions{CN: "certuser"})
	oldCrt, oldKey := write("old.crt", oldLeaf.CertPEM), write("old.key", oldLeaf.KeyPEM)
	newCrt, newKey := write("new.crt", newLeaf.CertPEM), write("new.key", newLeaf.KeyPEM)
	admin := func(sql string) (string, error) {
		return tn.MySQLTLS(t, mysqlBin, "admin", adminPW, "--batch", "--skip-column-names", "-e", sql)
	}
	login := func(crt, key string) error {
		out, err := tn.MySQLTLS(t, mysqlBin, "certuser", "cert-secret", "--batch", "--skip-column-names",
			"--ssl-cert="+crt, "--ssl-key="+key, "-e", "SELECT CURRENT_USER()")
		if err == nil {
			assert.Contains(t, out, "certuser@")
		}
		return err
	}
	require.NoError(t, os.WriteFile(caFile, append(append([]byte{}, nodeCA...), oldCA.CertPEM...), 0o644))
	out, err := admin("SSL_RELOAD")
	require.NoError(t, err, out)
	require.NoError(t, login(oldCrt, oldKey))

	raw, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tn.Config, append(raw, "ssl_ca_overlap: 3s\n"...), 0o600))
	require.NoError(t, os.WriteFile(caFile, append(append([]byte{}, nodeCA...), newCA.CertPEM...), 0o644))
	out, err = admin("SSL_RELOAD; SHOW WARNINGS")
	require.NoError(t, err, out)
	assert.Contains(t, out, `CA "CN=old client CA,O=ssld", no longer in ssl_ca "`+caFile+`", stays trusted for peer certificates until`)
	require.NoError(t, login(oldCrt, oldKey), "inside the window")
	require.NoError(t, login(newCrt, newKey))
	out, err = admin("SHOW SSL STATUS")
	require.NoError(t, err, out)
	assert.Regexp(t, `\tCN=old client CA,O=ssld until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\t`, out)
	out, err = admin("SELECT @@ssl_ca_overlap")
	require.NoError(t, err, out)
	assert.Equal(t, "3s\n", out)

	testenv.Eventually(t, 15*time.Second, func() bool { return tn.N.TLS().Status().LastTrigger == tlsctx.TriggerCAOverlapExpiry },
		"the expiry reload drops the old CA when the window ends")
	assert.Empty(t, tn.N.TLS().Status().LastError)
	require.Error(t, login(oldCrt, oldKey), "after the window the old CA is gone")
	require.NoError(t, login(newCrt, newKey))
	out, err = admin("SELECT @@ssl_last_reload_trigger")
	require.NoError(t, err, out)
	assert.Equal(t, "ca-overlap-expiry\n", out)
}
