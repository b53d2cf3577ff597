package tlsctx

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"
)

// Session-ticket key schedule of a snapshot: crypto/tls's own defaults
// (a new key every 24 h, each kept 7 days for resumption). crypto/tls only
// rotates keys it manages itself; a snapshot sets its own keys (so that a
// ticket never survives a reload that changed the material), and so rotates
// them here.
var (
	ticketKeyRotation = 24 * time.Hour
	ticketKeyLifetime = 7 * 24 * time.Hour
)

// ticketKeys holds the session-ticket keys of one snapshot's server config.
// Safe for concurrent use; the handshake path takes no lock until a
// rotation is due.
type ticketKeys struct {
	cfg  *tls.Config
	next atomic.Int64 // UnixNano of the next rotation

	mu   sync.Mutex
	keys []ticketKey // newest first
}

type ticketKey struct {
	key     [32]byte
	created time.Time
}

// newTicketKeys gives cfg its first key. It returns nil, with tickets
// turned off, when there is no randomness: tickets are never shared across
// snapshots.
func newTicketKeys(cfg *tls.Config, now time.Time) *ticketKeys {
	t := &ticketKeys{cfg: cfg}
	if !t.rotate(now) {
		cfg.SessionTicketsDisabled = true
		return nil
	}
	return t
}

// maybeRotate adds a new key when the newest is older than
// ticketKeyRotation, keeping the keys younger than ticketKeyLifetime so that
// recent tickets still resume. Safe on a nil *ticketKeys.
func (t *ticketKeys) maybeRotate(now time.Time) {
	if t == nil || now.UnixNano() < t.next.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.UnixNano() < t.next.Load() {
		return
	}
	if !t.rotate(now) {
		t.next.Store(now.Add(time.Minute).UnixNano()) // keep the old keys; try again later
	}
}

// rotate is called with mu held (or before the config is shared).
func (t *ticketKeys) rotate(now time.Time) bool {
	var k ticketKey
	if _, err := rand.Read(k.key[:]); err != nil {
		return false
	}
	k.created = now
	keep := []ticketKey{k}
	for _, old := range t.keys {
		if now.Sub(old.created) < ticketKeyLifetime {
			keep = append(keep, old)
		}
	}
	t.keys = keep
	raw := make([][32]byte, len(keep))
	for i, kk := range keep {
		raw[i] = kk.key
	}
	// Safe while the server runs: crypto/tls documents this call for
	// rotating keys.
	t.cfg.SetSessionTicketKeys(raw)
	t.next.Store(now.Add(ticketKeyRotation).UnixNano())
	return true
}

// count is the number of keys in use (for tests).
func (t *ticketKeys) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
