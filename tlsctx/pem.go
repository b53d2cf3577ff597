package tlsctx

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
)

// reasonError is an error whose text is already an operator-facing reason.
type reasonError string

func (e reasonError) Error() string { return string(e) }

// pemBlocks decodes every PEM block in data and diagnoses the common ways a
// file is not PEM: empty, DER, garbage, or a truncated block.
func pemBlocks(data []byte) ([]*pem.Block, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, reasonError("file is empty")
	}
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, reasonError("truncated or malformed PEM block")
	}
	if len(blocks) == 0 {
		if data[0] == 0x30 { // ASN.1 SEQUENCE: the start of every DER certificate or key
			return nil, reasonError("not PEM (looks like DER); convert it with `openssl x509 -inform der` or `openssl pkey -inform der`")
		}
		return nil, reasonError("no PEM data found")
	}
	return blocks, nil
}

// parseCertificates returns every CERTIFICATE block in data, in order.
// Other blocks (e.g. a key in a combined file) are ignored.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, reasonError(fmt.Sprintf("certificate #%d does not parse: %v", len(certs)+1, err))
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, reasonError("no CERTIFICATE PEM block found")
	}
	return certs, nil
}

var errKeyEncryptedNoPass = reasonError("key is encrypted and ssl_key_passphrase is empty")

// parsePrivateKey finds the first private key block in data and parses it
// as PKCS#1 (RSA), SEC 1 (EC) or PKCS#8, decrypting encrypted PKCS#8
// ("ENCRYPTED PRIVATE KEY", PBES2) and legacy PEM encryption (Proc-Type:
// 4,ENCRYPTED) with passphrase. No error text contains the passphrase.
func parsePrivateKey(data []byte, passphrase string) (crypto.Signer, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	for _, b := range blocks {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			block = b
			break
		}
	}
	if block == nil {
		return nil, reasonError("no PRIVATE KEY PEM block found")
	}
	der := block.Bytes
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		if passphrase == "" {
			return nil, errKeyEncryptedNoPass
		}
		return decryptPKCS8(der, passphrase)
	}
	//lint:ignore SA1019 legacy PEM encryption is insecure but still what many deployments ship; we only read it.
	if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
		if passphrase == "" {
			return nil, errKeyEncryptedNoPass
		}
		//lint:ignore SA1019 see above.
		der, err = x509.DecryptPEMBlock(block, []byte(passphrase)) //nolint:staticcheck
		if err != nil {
			return nil, reasonError("cannot decrypt key (wrong ssl_key_passphrase?): " + err.Error())
		}
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		//lint:ignore SA1019 see above.
		if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
			return nil, reasonError("cannot decrypt key (wrong ssl_key_passphrase?): " + err.Error())
		}
		return nil, reasonError(fmt.Sprintf("%s does not parse: %v", block.Type, err))
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, reasonError(fmt.Sprintf("unsupported private key type %T", key))
	}
	return signer, nil
}

// decryptPKCS8 decrypts and parses an encrypted PKCS#8 key (RFC 5958,
// PBES2 with PBKDF2 or scrypt and AES or 3DES: what `openssl pkcs8
// -topk8` and `openssl genpkey -aes256` write) with youmark/pkcs8, so no
// key derivation or cipher code is ours.
func decryptPKCS8(der []byte, passphrase string) (signer crypto.Signer, err error) {
	// The library decrypts CBC without checking that the ciphertext is a
	// whole number of blocks, which panics in crypto/cipher on a damaged
	// file; a bad file must fail the reload, not the process.
	defer func() {
		if r := recover(); r != nil {
			signer, err = nil, reasonError("encrypted PKCS#8 key is malformed (ciphertext is not a whole number of cipher blocks)")
		}
	}()
	key, err := pkcs8.ParsePKCS8PrivateKey(der, []byte(passphrase))
	if err != nil {
		// The library has no sentinel errors; "incorrect password" is what
		// it returns when the decrypted bytes are not a PKCS#8 key.
		if strings.Contains(err.Error(), "incorrect password") {
			return nil, reasonError("cannot decrypt encrypted PKCS#8 key (wrong ssl_key_passphrase?)")
		}
		return nil, reasonError("encrypted PKCS#8 key cannot be read: " + strings.TrimPrefix(err.Error(), "pkcs8: "))
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, reasonError(fmt.Sprintf("unsupported private key type %T", key))
	}
	return s, nil
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
