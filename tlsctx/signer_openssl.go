//go:build cgo && unix

package tlsctx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// libcryptoName is what dlopen is asked for: OpenSSL 3's libcrypto, as
// Debian, Ubuntu and RHEL 9 ship it. No OpenSSL header or library is
// needed at build time.
const libcryptoName = "libcrypto.so.3"

var (
	opensslOnce    sync.Once
	opensslVersion string
	opensslErr     error
)

// loadOpenSSL loads libcrypto once per process and returns its version
// text. Later calls return the first result.
func loadOpenSSL() (string, error) {
	opensslOnce.Do(func() {
		if err := openssl.Init(libcryptoName); err != nil {
			opensslErr = err
			return
		}
		opensslVersion = openssl.VersionText()
	})
	return opensslVersion, opensslErr
}

// liveOpenSSLSigners counts libcrypto keys not freed yet; the leak test
// reads it.
var liveOpenSSLSigners atomic.Int64

// opensslRSA signs with an RSA key held by libcrypto. The Go key stays for
// Public, for Decrypt (RSA key exchange, off by default in crypto/tls) and
// for the rare hash libcrypto is not given (none that TLS 1.2/1.3 uses).
type opensslRSA struct {
	goKey *rsa.PrivateKey
	key   *openssl.PrivateKeyRSA
}

// opensslECDSA signs with an ECDSA key held by libcrypto.
type opensslECDSA struct {
	goKey *ecdsa.PrivateKey
	key   *openssl.PrivateKeyECDSA
}

var (
	_ crypto.Signer    = (*opensslRSA)(nil)
	_ crypto.Decrypter = (*opensslRSA)(nil)
	_ crypto.Signer    = (*opensslECDSA)(nil)
)

// newOpenSSLSigner copies key into libcrypto and proves with one probe
// signature, verified by Go against key's public half, that libcrypto
// signs for the same key. The libcrypto object is freed when the signer
// is garbage collected (the binding's finalizer).
func newOpenSSLSigner(key crypto.Signer) (crypto.Signer, error) {
	if _, err := loadOpenSSL(); err != nil {
		return nil, err
	}
	var s crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return nil, fmt.Errorf("RSA key with %d primes", len(k.Primes))
		}
		if k.Precomputed.Dp == nil || k.Precomputed.Dq == nil || k.Precomputed.Qinv == nil {
			k.Precompute()
		}
		ok, err := openssl.NewPrivateKeyRSA(bbig.Enc(k.N), bbig.Enc(big.NewInt(int64(k.E))), bbig.Enc(k.D),
			bbig.Enc(k.Primes[0]), bbig.Enc(k.Primes[1]),
			bbig.Enc(k.Precomputed.Dp), bbig.Enc(k.Precomputed.Dq), bbig.Enc(k.Precomputed.Qinv))
		if err != nil {
			return nil, err
		}
		track(ok)
		s = &opensslRSA{goKey: k, key: ok}
	case *ecdsa.PrivateKey:
		curve := k.Curve.Params().Name
		switch curve {
		case "P-256", "P-384", "P-521":
		default:
			return nil, fmt.Errorf("ECDSA curve %s", curve)
		}
		point, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		d, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		n := (len(point) - 1) / 2
		x, y := new(big.Int).SetBytes(point[1:1+n]), new(big.Int).SetBytes(point[1+n:])
		ok, err := openssl.NewPrivateKeyECDSA(curve, bbig.Enc(x), bbig.Enc(y), bbig.Enc(new(big.Int).SetBytes(d)))
		if err != nil {
			return nil, err
		}
		track(ok)
		s = &opensslECDSA{goKey: k, key: ok}
	default:
		return nil, fmt.Errorf("%T keys are not supported", key)
	}
	if err := probe(s); err != nil {
		return nil, err
	}
	return s, nil
}

// track counts the binding's key k as live until it is freed. The binding
// frees the EVP_PKEY in a finalizer; a cleanup on an object with a
// finalizer runs only after the finalizer has run and the object is
// unreachable again, so the count drops only once EVP_PKEY_free was called.
func track[T any](k *T) {
	liveOpenSSLSigners.Add(1)
	runtime.AddCleanup(k, func(struct{}) { liveOpenSSLSigners.Add(-1) }, struct{}{})
}

var probeDigest = sha256.Sum256([]byte("ssld crypto_backend probe"))

// probe signs probeDigest through libcrypto (no Go fallback) and verifies
// the signature with Go against the Go key's public half.
func probe(s crypto.Signer) error {
	switch k := s.(type) {
	case *opensslRSA:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := openssl.SignRSAPSS(k.key, crypto.SHA256, probeDigest[:], opts.SaltLength)
		if err != nil {
			return fmt.Errorf("probe signature: %w", err)
		}
		if err := rsa.VerifyPSS(&k.goKey.PublicKey, crypto.SHA256, probeDigest[:], sig, opts); err != nil {
			return fmt.Errorf("probe signature does not verify: %w", err)
		}
	case *opensslECDSA:
		sig, err := openssl.SignMarshalECDSA(k.key, probeDigest[:])
		if err != nil {
			return fmt.Errorf("probe signature: %w", err)
		}
		if !ecdsa.VerifyASN1(&k.goKey.PublicKey, probeDigest[:], sig) {
			return errors.New("probe signature does not verify")
		}
	}
	return nil
}

// Public returns the *rsa.PublicKey of the key.
func (s *opensslRSA) Public() crypto.PublicKey { return &s.goKey.PublicKey }

// Sign signs digest with RSASSA-PSS when opts is *rsa.PSSOptions, else
// with PKCS #1 v1.5, in libcrypto. rand is not used: libcrypto draws its
// own randomness. Safe for concurrent use. A libcrypto failure (none is
// expected once the probe passed) is answered by the Go key, so a
// handshake never fails for the backend's sake.
func (s *opensslRSA) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if !opensslHash(h) || len(digest) != h.Size() {
		return s.goKey.Sign(rand, digest, opts)
	}
	var sig []byte
	var err error
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		sig, err = openssl.SignRSAPSS(s.key, h, digest, pss.SaltLength)
	} else {
		sig, err = openssl.SignRSAPKCS1v15(s.key, h, digest)
	}
	if err != nil {
		return s.goKey.Sign(rand, digest, opts)
	}
	return sig, nil
}

// Decrypt is the Go key's Decrypt (TLS 1.2 RSA key exchange only).
func (s *opensslRSA) Decrypt(rand io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return s.goKey.Decrypt(rand, msg, opts)
}

// Public returns the *ecdsa.PublicKey of the key.
func (s *opensslECDSA) Public() crypto.PublicKey { return &s.goKey.PublicKey }

// Sign returns the ASN.1 DER ECDSA signature of digest, made by libcrypto.
// rand and opts are not used (ECDSA signs the digest as given). Safe for
// concurrent use; a libcrypto failure is answered by the Go key.
func (s *opensslECDSA) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := openssl.SignMarshalECDSA(s.key, digest)
	if err != nil {
		return s.goKey.Sign(rand, digest, opts)
	}
	return sig, nil
}

// opensslHash reports whether h is a digest TLS signs with and the
// binding maps to libcrypto.
func opensslHash(h crypto.Hash) bool {
	switch h {
	case crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return true
	}
	return false
}
