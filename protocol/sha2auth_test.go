package protocol_test

import (
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/protocol"
)

const sha2User, sha2PW = "sha", "sha-secret"

// TestCachingSHA2OverPlainTCP logs a caching_sha2_password account in over
// plain TCP as MySQL 8 allows it: the first login (nothing cached) does the
// full authentication with the RSA public key the client retrieves, the
// second takes the fast path; a client that already has the public key
// sends the encrypted password without asking. A wrong password and an
// unknown user get the same 1045 after the same exchange.
func TestCachingSHA2OverPlainTCP(t *testing.T) {
	srv := startServer(t, nil, []protocol.User{{Name: sha2User, Password: sha2PW, Plugin: protocol.PluginCachingSHA}})
	addr := srv.Addr().String()
	login := func(user, pw, pubKey string) error {
		cfg := driverConfig(addr, "tcp")
		cfg.User, cfg.Passwd, cfg.ServerPubKey = user, pw, pubKey
		db := sql.OpenDB(mustConnector(t, cfg))
		defer db.Close()
		var u string
		if err := db.QueryRow("SELECT USER()").Scan(&u); err != nil {
			return err
		}
		assert.True(t, strings.HasPrefix(u, user+"@"), u)
		return nil
	}
	require.NoError(t, login(sha2User, sha2PW, ""), "full authentication, public key retrieved")
	require.NoError(t, login(sha2User, sha2PW, ""), "fast path")

	// A client configured with the server's public key.
	pemKey, err := srv.RSAPublicKeyPEM()
	require.NoError(t, err)
	blk, _ := pem.Decode(pemKey)
	require.NotNil(t, blk)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	require.NoError(t, err)
	mysql.RegisterServerPubKey("ssld-test", pub.(*rsa.PublicKey))
	require.NoError(t, login(sha2User, sha2PW, "ssld-test"))

	for _, tc := range []struct{ user, pw string }{{sha2User, "wrong"}, {"nobody", sha2PW}} {
		err := login(tc.user, tc.pw, "")
		var me *mysql.MySQLError
		require.ErrorAs(t, err, &me, tc.user)
		assert.Equal(t, uint16(1045), me.Number)
		assert.Equal(t, "Access denied for user '"+tc.user+"'@'127.0.0.1' (using password: YES)", me.Message)
	}
}

func TestLoadRSAKeys(t *testing.T) {
	dir := t.TempDir()
	leaf := pkitest.MustIssue(t, pkitest.MustCA(t, "rsa"), pki.LeafOptions{CN: "x", KeyType: pki.RSA2048})
	priv := filepath.Join(dir, "private_key.pem")
	require.NoError(t, os.WriteFile(priv, leaf.KeyPEM, 0o600))
	k, err := protocol.LoadRSAKeys(priv, "")
	require.NoError(t, err)
	p, err := k.PublicKeyPEM()
	require.NoError(t, err)
	assert.Contains(t, string(p), "BEGIN PUBLIC KEY")
	pub := filepath.Join(dir, "public_key.pem")
	require.NoError(t, os.WriteFile(pub, p, 0o644))
	_, err = protocol.LoadRSAKeys(priv, pub)
	require.NoError(t, err)

	other := pkitest.MustIssue(t, pkitest.MustCA(t, "other"), pki.LeafOptions{CN: "y", KeyType: pki.RSA2048})
	otherPriv := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherPriv, other.KeyPEM, 0o600))
	_, err = protocol.LoadRSAKeys(otherPriv, pub)
	assert.ErrorContains(t, err, "caching_sha2_password_public_key_path "+pub+": does not match the private key in "+otherPriv)
	_, err = protocol.LoadRSAKeys(filepath.Join(dir, "missing.pem"), "")
	assert.ErrorContains(t, err, "caching_sha2_password_private_key_path ")
	_, err = protocol.LoadRSAKeys("", pub)
	assert.ErrorContains(t, err, "set without caching_sha2_password_private_key_path")
}
