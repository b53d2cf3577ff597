//go:build !cgo || !unix

package tlsctx

import (
	"crypto"
	"errors"
)

// libcryptoName is what a cgo build on Unix loads; named here for messages.
const libcryptoName = "libcrypto.so.3"

var errNoCgo = errors.New("this binary was built without cgo (CGO_ENABLED=0) or for a platform without dlopen")

// loadOpenSSL always fails: without cgo there is no way to call libcrypto.
func loadOpenSSL() (string, error) { return "", errNoCgo }

// newOpenSSLSigner always fails; keySigner then keeps the Go key.
func newOpenSSLSigner(crypto.Signer) (crypto.Signer, error) { return nil, errNoCgo }
