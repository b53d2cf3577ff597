package tlsctx

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/youmark/pkcs8"

	"github.com/ssld/ssld/internal/pki"
)

// encryptedPKCS8 returns l's key as an "ENCRYPTED PRIVATE KEY" block (PBES2,
// the library's defaults: PBKDF2-SHA256 and AES-256-CBC) or with opts.
func encryptedPKCS8(t *testing.T, l *pki.Leaf, pass string, opts *pkcs8.Opts) []byte {
	t.Helper()
	der, err := pkcs8.MarshalPrivateKey(l.Key, []byte(pass), opts)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func TestEncryptedPKCS8Key(t *testing.T) {
	const pass = "correct horse battery staple"
	scrypt := &pkcs8.Opts{Cipher: pkcs8.AES128CBC, KDFOpts: pkcs8.ScryptOpts{
		CostParameter: 1 << 10, BlockSize: 8, ParallelizationParameter: 1, SaltSize: 16}}
	cases := []struct {
		name        string
		keyType     pki.KeyType
		opts        *pkcs8.Opts
		pass        string
		expectedErr string // "" = loads
	}{
		{name: "ECDSA PBKDF2 AES-256", keyType: pki.ECDSAP256, pass: pass},
		{name: "RSA PBKDF2 AES-256", keyType: pki.RSA2048, pass: pass},
		{name: "ECDSA scrypt AES-128", keyType: pki.ECDSAP256, opts: scrypt, pass: pass},
		{name: "wrong passphrase", keyType: pki.ECDSAP256, pass: "Tr0ub4dor&3", expectedErr: "cannot decrypt encrypted PKCS#8 key (wrong ssl_key_passphrase?)"},
		{name: "no passphrase", keyType: pki.ECDSAP256, pass: "", expectedErr: "key is encrypted and ssl_key_passphrase is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager()
			before := m.Current(ChannelClient).Serial()
			l := f.issue(pki.LeafOptions{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: tc.keyType})
			f.write("server.crt", l.CertPEM, 0o644)
			f.write("server.key", encryptedPKCS8(t, l, pass, tc.opts), 0o600)
			f.set(func(s *Settings) { s.SSLKeyPassphrase = tc.pass })

			_, err := m.Reload(context.Background())
			if tc.expectedErr == "" {
				require.NoError(t, err)
				assert.Equal(t, FormatSerial(l.Cert.SerialNumber), m.Current(ChannelClient).Serial())
				return
			}
			require.Error(t, err)
			var re *ReloadError
			require.True(t, errors.As(err, &re))
			assert.Equal(t, "ssl_key", re.Setting)
			assert.Equal(t, f.path("server.key"), re.File)
			assert.Contains(t, err.Error(), tc.expectedErr)
			assert.Contains(t, err.Error(), f.path("server.key"))
			assert.Equal(t, before, m.Current(ChannelClient).Serial(), "old certificate kept")
			assert.Equal(t, err.Error(), m.Status().LastError)
			for _, secret := range []string{pass, tc.pass} {
				if secret != "" {
					assert.NotContains(t, err.Error(), secret)
					assert.NotContains(t, m.Status().LastError, secret)
				}
			}
		})
	}
}

// TestEncryptedPKCS8KeyClusterChannel checks that the passphrase also opens
// a cluster key and that its error names cluster_ssl_key.
func TestEncryptedPKCS8KeyClusterChannel(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	l := f.issue(pki.LeafOptions{})
	f.write("cluster.crt", l.CertPEM, 0o644)
	f.write("cluster.key", encryptedPKCS8(t, l, "pw-one", nil), 0o600)
	f.set(func(s *Settings) {
		s.ClusterSSLCert, s.ClusterSSLKey, s.SSLKeyPassphrase = f.path("cluster.crt"), f.path("cluster.key"), "pw-two"
	})
	_, err := m.Reload(context.Background())
	var re *ReloadError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, ChannelCluster, re.Channel)
	assert.Equal(t, "cluster_ssl_key", re.Setting)
	assert.Contains(t, err.Error(), "wrong ssl_key_passphrase")
	assert.NotContains(t, err.Error(), "pw-two")

	// The passphrase is shared: fixing it (and the client key, which is
	// clear text and ignores it) loads both channels.
	f.set(func(s *Settings) { s.SSLKeyPassphrase = "pw-one" })
	_, err = m.Reload(context.Background())
	require.NoError(t, err)
	assert.Equal(t, FormatSerial(l.Cert.SerialNumber), m.Current(ChannelCluster).Serial())
}

// TestEncryptedPKCS8KeyDamaged feeds ciphertexts the library cannot
// handle: they must fail the reload, not panic.
func TestEncryptedPKCS8KeyDamaged(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	l := f.issue(pki.LeafOptions{})
	good, _ := pem.Decode(encryptedPKCS8(t, l, "pw", nil))
	// Re-marshal with the encrypted data one byte short of a block.
	var info struct {
		Algo pkix.AlgorithmIdentifier
		Data []byte
	}
	_, err := asn1.Unmarshal(good.Bytes, &info)
	require.NoError(t, err)
	info.Data = info.Data[:len(info.Data)-1]
	der, err := asn1.Marshal(info)
	require.NoError(t, err)
	f.write("server.crt", l.CertPEM, 0o644)
	f.write("server.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), 0o600)
	f.set(func(s *Settings) { s.SSLKeyPassphrase = "pw" })
	_, err = m.Reload(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encrypted PKCS#8 key is malformed")
}
