package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

func TestIssueVerifiesAgainstCA(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.ECDSAP256, pki.RSA2048} {
		t.Run(kt.String(), func(t *testing.T) {
			ca := pkitest.MustCA(t, "root", pki.WithKeyType(kt))
			inter, err := ca.Intermediate("inter")
			require.NoError(t, err)
			leaf := pkitest.MustIssue(t, inter, pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, KeyType: kt, Serial: big.NewInt(0xABC)})
			assert.Equal(t, int64(0xABC), leaf.Cert.SerialNumber.Int64())

			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			inters := x509.NewCertPool()
			inters.AddCert(inter.Cert)
			_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "localhost"})
			require.NoError(t, err)

			pair, err := tls.X509KeyPair(leaf.ChainPEM(inter), leaf.KeyPEM)
			require.NoError(t, err)
			assert.Len(t, pair.Certificate, 2)
		})
	}
}

func TestLeafDefaultsAndOptions(t *testing.T) {
	ca := pkitest.MustCA(t, "root")
	l := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "x"})
	assert.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, l.Cert.ExtKeyUsage)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), l.Cert.NotAfter, time.Minute)
	assert.False(t, l.Cert.IsCA)

	past := time.Now().Add(-48 * time.Hour)
	expired := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "old", NotBefore: past, NotAfter: past.Add(time.Hour), IsCA: true})
	assert.True(t, expired.Cert.NotAfter.Before(time.Now()))
	assert.True(t, expired.Cert.IsCA)

	dev := pkitest.MustIssue(t, ca, pki.DevServerOptions())
	assert.Equal(t, []string{"localhost"}, dev.Cert.DNSNames)
	assert.Len(t, dev.Cert.IPAddresses, 2)
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.pem")
	require.NoError(t, pki.WriteFile(p, []byte("one"), 0o600))
	require.NoError(t, pki.WriteFile(p, []byte("two"), 0o640))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}
