package protocol

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/tlsctx"
)

// caching_sha2_password as MySQL 8 serves it. vitess's method refuses every
// connection that is neither TLS nor the Unix socket (clients then report
// 2012 "No authentication methods available"), so ssld has its own:
//
//   - a scramble that is not 32 bytes long is 1045 at once;
//   - fast path: the client's scramble is checked against the cached
//     SHA256(SHA256(password)); a match is 0x01 0x03 (fast auth OK);
//   - anything else (no cache entry, a wrong scramble, an unknown user) is
//     0x01 0x04, full authentication, as in MySQL, so the answers do not tell
//     which accounts exist;
//   - full authentication over TLS or the Unix socket reads the password in
//     clear; over plain TCP the client either asks for the server's RSA public
//     key (byte 0x02: --get-server-public-key, allowPublicKeyRetrieval) and
//     gets it as 0x01 + PEM, or already has it, and sends the password XOR
//     the salt, RSA-OAEP (SHA-1) encrypted. Anything else is 1045, as in
//     MySQL; a client that has no key and may not ask refuses by itself
//     ("Authentication requires secure connection").

// Bytes of the caching_sha2_password exchange.
const (
	authMoreData      = 0x01
	sha2FastAuthOK    = 0x03
	sha2FullAuth      = 0x04
	sha2RequestPubKey = 0x02
)

// RSAKeys is the server's key pair for caching_sha2_password over plain
// TCP. Safe for concurrent use.
type RSAKeys struct {
	once    sync.Once
	priv    *rsa.PrivateKey
	pubPEM  []byte
	genErr  error
	genBits int
}

// LoadRSAKeys reads the key pair from PEM files, as MySQL's
// caching_sha2_password_private_key_path / _public_key_path. publicPath may
// be empty (the public key is derived); when given it must match. With both
// paths empty it returns keys generated on first use (2048-bit, as MySQL's
// auto-generated pair), kept for the life of the process.
func LoadRSAKeys(privatePath, publicPath string) (*RSAKeys, error) {
	if privatePath == "" {
		if publicPath != "" {
			return nil, fmt.Errorf("caching_sha2_password_public_key_path %s: set without caching_sha2_password_private_key_path", publicPath)
		}
		return &RSAKeys{genBits: 2048}, nil
	}
	const privSetting = "caching_sha2_password_private_key_path"
	b, err := tlsctx.ReadRegularFile(privatePath, 1<<20) // never a FIFO or a device
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", privSetting, privatePath, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s %s: no PEM block", privSetting, privatePath)
	}
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		priv = k
	} else if k8, err8 := x509.ParsePKCS8PrivateKey(blk.Bytes); err8 == nil {
		rk, ok := k8.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s %s: not an RSA key (%T)", privSetting, privatePath, k8)
		}
		priv = rk
	} else {
		return nil, fmt.Errorf("%s %s: not an RSA private key: %v", privSetting, privatePath, err)
	}
	k := &RSAKeys{}
	if err := k.set(priv); err != nil {
		return nil, fmt.Errorf("%s %s: %v", privSetting, privatePath, err)
	}
	k.once.Do(func() {})
	if publicPath != "" {
		const pubSetting = "caching_sha2_password_public_key_path"
		pb, err := tlsctx.ReadRegularFile(publicPath, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", pubSetting, publicPath, err)
		}
		pblk, _ := pem.Decode(pb)
		if pblk == nil {
			return nil, fmt.Errorf("%s %s: no PEM block", pubSetting, publicPath)
		}
		pub, err := x509.ParsePKIXPublicKey(pblk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: not a public key: %v", pubSetting, publicPath, err)
		}
		if rp, ok := pub.(*rsa.PublicKey); !ok || !rp.Equal(&priv.PublicKey) {
			return nil, fmt.Errorf("%s %s: does not match the private key in %s", pubSetting, publicPath, privatePath)
		}
	}
	return k, nil
}

func (k *RSAKeys) set(priv *rsa.PrivateKey) error {
	if priv.N.BitLen() < 2048 {
		return fmt.Errorf("RSA key of %d bits; use at least 2048", priv.N.BitLen())
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	k.priv = priv
	k.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return nil
}

// pair returns the key pair, generating it on first use when none was
// loaded.
func (k *RSAKeys) pair() (*rsa.PrivateKey, []byte, error) {
	k.once.Do(func() {
		priv, err := rsa.GenerateKey(rand.Reader, k.genBits)
		if err != nil {
			k.genErr = err
			return
		}
		k.genErr = k.set(priv)
	})
	if k.genErr != nil {
		return nil, nil, k.genErr
	}
	return k.priv, k.pubPEM, nil
}

// PublicKeyPEM is the public key clients retrieve (PKIX PEM).
func (k *RSAKeys) PublicKeyPEM() ([]byte, error) {
	_, p, err := k.pair()
	return p, err
}

// sha2Method is caching_sha2_password for one listener.
type sha2Method struct {
	a    *authServer
	keys *RSAKeys
}

var _ mysql.AuthMethod = (*sha2Method)(nil)

func (m *sha2Method) Name() mysql.AuthMethodDescription { return mysql.CachingSha2Password }

// HandleUser takes the accounts configured for caching_sha2_password and
// the unknown names whose decoyPlugin it is (they fail like a wrong
// password), on every transport.
func (m *sha2Method) HandleUser(_ *mysql.Conn, user string) bool {
	acct, ok := m.a.users.get(user)
	if !ok {
		return decoyPlugin(user) == PluginCachingSHA
	}
	return acct.plugin == PluginCachingSHA
}

// AllowClearTextWithoutTLS is true: over plain TCP the password travels
// RSA-encrypted, never in clear.
func (m *sha2Method) AllowClearTextWithoutTLS() bool { return true }

func (m *sha2Method) AuthPluginData() ([]byte, error) {
	salt, err := mysql.NewSalt()
	if err != nil {
		return nil, err
	}
	return append(salt, 0), nil
}

func (m *sha2Method) HandleAuthPluginData(c *mysql.Conn, user string, serverData, clientData []byte, addr net.Addr) (mysql.Getter, error) {
	if len(serverData) == 0 || serverData[len(serverData)-1] != 0 {
		return nil, accessDenied(user, addr, len(clientData) > 0)
	}
	salt := serverData[:len(serverData)-1]
	// A scramble is a SHA-256 digest; anything else fails at once, as in
	// MySQL (for known and unknown users alike).
	if len(clientData) != sha256.Size {
		return nil, accessDenied(user, addr, len(clientData) > 0)
	}
	acct, known := m.a.users.get(user)
	if known {
		if cached := acct.cachedSHA2(); cached != nil && mysql.VerifyHashedCachingSha2Password(clientData, salt, cached) {
			if err := writeAuthMore(c, []byte{authMoreData, sha2FastAuthOK}); err != nil {
				return nil, err
			}
			return &identity{acct: acct, host: hostOf(addr)}, nil
		}
	}
	if err := writeAuthMore(c, []byte{authMoreData, sha2FullAuth}); err != nil {
		return nil, err
	}
	password, err := m.readPassword(c, salt)
	if err != nil || len(password) > MaxPasswordBytes {
		// Refused before any hashing: SHA-256 crypt costs time quadratic
		// in the password's length (a 44 KB one took 1.5 s of CPU).
		return nil, accessDenied(user, addr, true)
	}
	if !known || acct.sha2Crypt == nil {
		// Cost what checking a caching_sha2_password account's "$A$"
		// hash costs for the same password, so that the time of a
		// refusal does not tell a real account (of either kind of
		// password_hash) from a name that is none.
		dummySHA2Crypt().matches(password)
	}
	return m.a.UserEntryWithPassword(nil, user, password, addr)
}

// MaxPasswordBytes is the longest password ssld checks: MySQL's
// CACHING_SHA2_PASSWORD_MAX_PASSWORD_LENGTH (256). A longer one is refused
// with 1045 before it is hashed.
const MaxPasswordBytes = 256

// dummySHA2Crypt is what an unknown name's password is checked against:
// a "$A$005$" hash (5,000 rounds, what `ssld passwd --plugin
// caching_sha2_password` and MySQL 8 write) of a random password, made on
// first use.
var dummySHA2Crypt = sync.OnceValue(func() *sha2CryptHash {
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s, err := CachingSHA2PasswordHash(string(pw))
	if err != nil {
		panic(err) // crypto/rand failed: nothing would work
	}
	h, err := parseSHA2Crypt(s)
	if err != nil {
		panic(err)
	}
	return h
})

// readPassword reads the full-authentication answer.
func (m *sha2Method) readPassword(c *mysql.Conn, salt []byte) (string, error) {
	data, err := c.ReadPacket(context.Background())
	if err != nil {
		return "", err
	}
	if c.TLSEnabled() || m.a.transport == "unix" {
		if len(data) == 0 || data[len(data)-1] != 0 {
			return "", errors.New("malformed clear-text password")
		}
		return string(data[:len(data)-1]), nil
	}
	priv, pubPEM, err := m.keys.pair()
	if err != nil {
		return "", err
	}
	if len(data) == 1 && data[0] == sha2RequestPubKey {
		if err := writeAuthMore(c, append([]byte{authMoreData}, pubPEM...)); err != nil {
			return "", err
		}
		if data, err = c.ReadPacket(context.Background()); err != nil {
			return "", err
		}
	}
	if len(data) != priv.Size() {
		return "", errors.New("not an RSA-encrypted password")
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, priv, data, nil)
	if err != nil || len(salt) == 0 {
		return "", errors.New("cannot decrypt the password")
	}
	for i := range plain {
		plain[i] ^= salt[i%len(salt)]
	}
	if len(plain) == 0 || plain[len(plain)-1] != 0 {
		return "", errors.New("malformed decrypted password")
	}
	return string(plain[:len(plain)-1]), nil
}

// writeAuthMore writes one packet of the login exchange; the transport
// numbers it (guardedConn.writeLoginPacket).
func writeAuthMore(c *mysql.Conn, payload []byte) error {
	gc, ok := c.Conn.(*guardedConn)
	if !ok {
		return errors.New("caching_sha2_password: the connection is not served by ssld's transport")
	}
	return gc.writeLoginPacket(payload)
}
