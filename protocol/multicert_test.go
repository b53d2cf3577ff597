package protocol_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// TestSessionReportsTheCertificateItGot: on a client channel serving an
// ECDSA and an RSA certificate, an RSA-only session and an ECDSA-capable
// one each report the certificate their handshake chose (Ssl_server_*),
// SHOW GLOBAL STATUS and @@ssl_server_serial the first, SHOW SSL STATUS
// one row per certificate and @@ssl_server_certificates both.
func TestSessionReportsTheCertificateItGot(t *testing.T) {
	f := tlstest.New(t, "multi cert CA", false, tlstest.ClientOnly)
	rsa := pkitest.MustIssue(t, f.CA, pki.LeafOptions{CN: "rsa", DNSNames: []string{"localhost"}, KeyType: pki.RSA2048})
	rsaCert, rsaKey := filepath.Join(f.Dir, "rsa.crt"), filepath.Join(f.Dir, "rsa.key")
	require.NoError(t, pki.WriteFile(rsaCert, rsa.CertPEM, 0o644))
	require.NoError(t, pki.WriteFile(rsaKey, rsa.KeyPEM, 0o600))
	f.Update(func(s *tlsctx.Settings) {
		s.SSLCert, s.SSLKey = tlsctx.JoinList([]string{f.CertPath, rsaCert}), tlsctx.JoinList([]string{f.KeyPath, rsaKey})
	})
	_, err := f.M.Reload(context.Background())
	require.NoError(t, err)
	srv, _ := startTLSServer(t, f)
	ec := f.First.Cert

	pool := x509.NewCertPool()
	pool.AddCert(f.CA.Cert)
	session := func(suite uint16) string {
		name := fmt.Sprintf("multicert-%d", tlsNames.Add(1))
		require.NoError(t, mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: "localhost",
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}))
		t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
		return name
	}
	rsaOnly := openSession(t, srv, session(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
	ecdsa := openSession(t, srv, session(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
	for _, tc := range []struct {
		name    string
		c       *sql.Conn
		cert    *x509.Certificate
		keyType string
	}{{"RSA-only session", rsaOnly, rsa.Cert, "RSA 2048"}, {"ECDSA session", ecdsa, ec, "ECDSA P-256"}} {
		c := tc.c
		assert.Equal(t, tlsctx.FormatSerial(tc.cert.SerialNumber), statusOf(t, c, "SHOW STATUS LIKE 'Ssl_server_serial'"), tc.name)
		assert.Equal(t, tc.keyType, statusOf(t, c, "SHOW STATUS LIKE 'Ssl_server_key_type'"), tc.name)
		assert.Equal(t, statusTime(tc.cert.NotAfter), statusOf(t, c, "SHOW STATUS LIKE 'Ssl_server_not_after'"), tc.name)
		assert.Equal(t, tlsctx.FormatSerial(ec.SerialNumber), statusOf(t, c, "SHOW GLOBAL STATUS LIKE 'Ssl_server_serial'"), tc.name)
	}

	var serial, list string
	require.NoError(t, rsaOnly.QueryRowContext(context.Background(), "SELECT @@ssl_server_serial, @@ssl_server_certificates").Scan(&serial, &list))
	assert.Equal(t, tlsctx.FormatSerial(ec.SerialNumber), serial, "the first")
	var certs []sysvars.ServedCertificate
	require.NoError(t, json.Unmarshal([]byte(list), &certs), list)
	require.Len(t, certs, 2)
	assert.Equal(t, sysvars.ServedCertificate{Position: 2, KeyType: "RSA 2048", KeyBackend: string(f.M.Current(tlsctx.ChannelClient).Certs[1].KeyBackend),
		Serial: tlsctx.FormatSerial(rsa.Cert.SerialNumber), Fingerprint: f.M.Current(tlsctx.ChannelClient).Certs[1].Fingerprint(),
		NotBefore: sysvars.FormatTime(rsa.Cert.NotBefore), NotAfter: sysvars.FormatTime(rsa.Cert.NotAfter),
		Subject: rsa.Cert.Subject.String(), SANs: []string{"localhost"}, CertFile: rsaCert}, certs[1])
	assert.Equal(t, 1, certs[0].Position)
	assert.Equal(t, "ECDSA P-256", certs[0].KeyType)

	rows, err := rsaOnly.QueryContext(context.Background(), "SHOW SSL STATUS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var got [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case []byte:
				row[c] = string(v)
			case nil:
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		got = append(got, []string{row["Channel"], row["Position"], row["Key_type"], row["Serial"], row["Cert_file"]})
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, [][]string{
		{"client", "1", "ECDSA P-256", tlsctx.FormatSerial(ec.SerialNumber), f.CertPath},
		{"client", "2", "RSA 2048", tlsctx.FormatSerial(rsa.Cert.SerialNumber), rsaCert},
	}, got)
}
