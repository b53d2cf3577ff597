package tlsctx

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"time"
)

// crypto_backend auto, per key: where libcrypto is loaded, each key is
// signed by the backend that signs its kind of key faster on this
// machine, measured once per kind (RSA 2048, ECDSA P-256, ...) and kept
// for the life of the Manager. On the 2-core VM of docs/performance.md
// OpenSSL signs RSA-2048 about twice as fast as Go, while for ECDSA P-256
// Go's assembly is on par or ahead: a channel serving both gets each key
// its faster signer.

// autoRounds and autoSigns are the measurement: autoRounds rounds of
// autoSigns signatures with each backend, interleaved; each backend's
// fastest round counts, so a round slowed by another process on the
// machine does not decide.
const (
	autoRounds = 3
	autoSigns  = 4
)

// autoChoice is the backend chosen for one kind of key, with what the
// measurement found (per signature).
type autoChoice struct {
	backend        CryptoBackend
	goCost, osCost time.Duration
}

// autoChoices are the choices of one Manager, by key kind. Safe for
// concurrent use (Check and Validate may build while a reload does).
type autoChoices struct {
	mu     sync.Mutex
	byKind map[string]autoChoice
}

// measureSigns is a seam: the time of n signatures with s (tests replace
// it to decide the outcome).
var measureSigns = func(s crypto.Signer, n int) time.Duration {
	digest := sha256.Sum256([]byte("ssld crypto_backend auto"))
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := s.Public().(*rsa.PublicKey); ok {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256} // TLS 1.3's RSA signature
	}
	start := time.Now()
	for range n {
		if _, err := s.Sign(rand.Reader, digest[:], opts); err != nil {
			return time.Duration(1<<63 - 1) // a signer that fails is never the faster
		}
	}
	return time.Since(start)
}

// choose returns the backend for key (its kind named kind) and, when it
// is OpenSSL, the OpenSSL signer ossl already built for it.
func (a *autoChoices) choose(kind string, key, ossl crypto.Signer) autoChoice {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.byKind[kind]; ok {
		return c
	}
	goBest, osBest := time.Duration(1<<63-1), time.Duration(1<<63-1)
	for range autoRounds {
		goBest = min(goBest, measureSigns(key, autoSigns))
		osBest = min(osBest, measureSigns(ossl, autoSigns))
	}
	c := autoChoice{backend: BackendOpenSSL, goCost: goBest / autoSigns, osCost: osBest / autoSigns}
	if goBest < osBest {
		c.backend = BackendGo
	}
	if a.byKind == nil {
		a.byKind = map[string]autoChoice{}
	}
	a.byKind[kind] = c
	return c
}

// autoSigner is keySigner under crypto_backend auto with libcrypto
// loaded: the OpenSSL signer when OpenSSL signs this kind of key faster,
// else the Go key. A key OpenSSL cannot take is signed in Go, with the
// same warning as under crypto_backend openssl.
func (a *autoChoices) signer(key crypto.Signer) (crypto.Signer, CryptoBackend, string) {
	ossl, used, warning := keySigner(BackendOpenSSL, key)
	if used != BackendOpenSSL {
		return ossl, used, warning
	}
	if a.choose(publicKeyKind(key.Public()), key, ossl).backend == BackendGo {
		return key, BackendGo, ""
	}
	return ossl, BackendOpenSSL, ""
}
