package node_test

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestRequireX509 drives a require_x509 account with the mysql CLI: a
// client certificate from ssl_ca logs in; none, or one from another CA, is
// refused; the Unix socket is refused too, as in MySQL (REQUIRE X509 needs
// TLS).
func TestRequireX509(t *testing.T) {
	mysqlBin := testenv.LookPath(t, "mysql")
	// The client CA from ssl_ca, then from an ssl_capath folder alone.
	for _, caSetting := range []string{"ssl_ca", "ssl_capath"} {
		t.Run(caSetting, func(t *testing.T) { requireX509(t, mysqlBin, caSetting) })
	}
}

func requireX509(t *testing.T, mysqlBin, caSetting string) {
	tn := nodetest.New(t, nodetest.X509User)
	if caSetting == "ssl_capath" {
		dir := filepath.Join(tn.Dir, "clientcas")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), tn.CA.CertPEM, 0o644))
		cfg, err := os.ReadFile(tn.Config)
		require.NoError(t, err)
		edited := strings.Replace(string(cfg), "ssl_ca: certs/ca.crt\n", "ssl_capath: clientcas\n", 1)
		require.NotEqual(t, string(cfg), edited)
		require.NoError(t, os.WriteFile(tn.Config, []byte(edited), 0o600))
		tn.Restart(nil)
	}
	host, port := nodetest.SplitAddr(t, tn.Addr)
	write := func(name string, data []byte) string {
		p := filepath.Join(tn.Dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	client := pkitest.MustIssue(t, tn.CA, pki.LeafOptions{CN: "certuser"})
	stranger := pkitest.MustIssue(t, pkitest.MustCA(t, "stranger CA"), pki.LeafOptions{CN: "certuser"})
	cert, key := write("client.crt", client.CertPEM), write("client.key", client.KeyPEM)
	scert, skey := write("stranger.crt", stranger.CertPEM), write("stranger.key", stranger.KeyPEM)

	cli := func(extra ...string) (string, error) {
		args := append([]string{"--protocol=TCP", "-h", host, "-P", port, "-u", "certuser", "-pcert-secret", "--batch", "--skip-column-names",
			"--ssl", "--ssl-ca=" + filepath.Join(tn.Dir, "certs/ca.crt")}, extra...)
		out, err := exec.Command(mysqlBin, append(args, "-e", "SELECT CURRENT_USER()")...).CombinedOutput()
		return string(out), err
	}
	out, err := cli("--ssl-cert="+cert, "--ssl-key="+key)
	require.NoError(t, err, out)
	assert.Contains(t, out, "certuser@")

	out, err = cli()
	require.Error(t, err, out)
	assert.Contains(t, out, "ERROR 1045 (28000): Access denied for user 'certuser'@'127.0.0.1'")

	out, err = cli("--ssl-cert="+scert, "--ssl-key="+skey)
	require.Error(t, err, "a certificate from another CA must not verify: %s", out)
	assert.NotContains(t, out, "certuser@")

	sock, err := nodetest.MySQLSocket(mysqlBin, tn.Socket, "certuser", "cert-secret", "-e", "SELECT 1")
	require.Error(t, err, sock)
	assert.Contains(t, sock, "ERROR 1045 (28000): Access denied for user 'certuser'@'localhost'")
}

// TestRequireX509WithoutCAWarns: with no ssl_ca/ssl_capath no client
// certificate is requested, so require_x509 accounts cannot log in; start-up
// and every reload say so.
func TestRequireX509WithoutCAWarns(t *testing.T) {
	tn := nodetest.New(t, nodetest.X509User)
	cfg, err := os.ReadFile(tn.Config)
	require.NoError(t, err)
	noCA := strings.Replace(string(cfg), "ssl_ca: certs/ca.crt\n", "", 1)
	require.NotEqual(t, string(cfg), noCA)
	require.NoError(t, os.WriteFile(tn.Config, []byte(noCA), 0o600))
	logs := &testenv.LogBuffer{}
	tn.Restart(slog.New(slog.NewTextHandler(logs, nil)))
	want := `users: \"certuser\" has require_x509 but neither ssl_ca nor ssl_capath is set in ` + tn.Config + `: no client certificate is requested, so this account cannot log in`
	assert.Contains(t, logs.String(), want, "start-up warns")

	ctx := nodetest.Ctx(t)
	c, err := tn.SocketDB("admin", nodetest.AdminPW).Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	assert.Equal(t, []string{strings.ReplaceAll(want, `\"`, `"`)}, nodetest.WarningMessages(t, c), "every reload warns")
}
