//go:build !cgo || !unix

package tlsctx

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ssld/ssld/internal/pki"
)

// TestCryptoBackendAutoWithoutCgo runs in the CGO_ENABLED=0 build
// (scripts/test): auto resolves to Go and says why, and handshakes work.
func TestCryptoBackendAutoWithoutCgo(t *testing.T) {
	f := newFixture(t)
	f.writeLeaf("server", f.issue(pki.LeafOptions{KeyType: pki.RSA2048}))
	m := f.manager(WithCryptoBackend(BackendAuto))
	assert.Equal(t, BackendGo, m.CryptoBackend())
	assert.Contains(t, m.CryptoBackendInfo(), "built without cgo")
	assert.Equal(t, BackendGo, m.Current(ChannelClient).KeyBackend)
	handshake(t, m, f)
}
