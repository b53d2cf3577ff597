package tlsctx

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Why a tracked session's peer is no longer trusted (PeerSession.Trust).
const (
	TrustYes          = "YES"
	TrustRevoked      = "revoked"
	TrustCAUntrusted  = "CA no longer trusted"
	TrustExpired      = "expired"
	TrustNotVerifying = "no longer verifies"
)

// SessionHooks is what the Manager calls for a tracked session (Track).
// Both may be nil and are called from the goroutine of the Reload that
// made the peer untrusted, after the new snapshots are live; they must not
// block for long.
type SessionHooks struct {
	// Untrusted is called once, with the reason (TrustRevoked, ...), when
	// a reload makes the peer untrusted.
	Untrusted func(reason string)
	// Close closes the connection. The Manager calls it right after such a
	// reload when Settings.CloseUntrustedSessions is true, and logs it
	// (warn) with the channel, the reason, the peer's subject and serial,
	// and LogAttrs.
	Close func()
	// LogAttrs are slog key-value pairs naming the session in that log
	// line (an account, a client address, a connection id).
	LogAttrs []any
}

// PeerSession is an open connection with a client certificate that an
// embedding server registered with Track: after every successful reload
// the Manager checks its certificate chain against the channel's new CA set
// and CRLs. Safe for concurrent use.
type PeerSession struct {
	m       *Manager
	channel Channel
	chain   []*x509.Certificate
	hooks   SessionHooks
	since   time.Time

	trust    atomic.Pointer[string] // TrustYes or the reason
	notified atomic.Bool
	closed   atomic.Bool
}

// sessions is the Manager's set of tracked sessions.
type sessions struct {
	mu  sync.Mutex
	set map[*PeerSession]struct{}
}

// Track registers an open connection of ch whose peer presented chain (the
// peer's certificate first, as tls.ConnectionState.PeerCertificates) so
// that reloads re-check it; it returns nil (nothing to track) when chain is
// empty. Call Untrack when the connection closes. The session starts
// trusted: the handshake has just verified it. Safe for concurrent use.
func (m *Manager) Track(ch Channel, chain []*x509.Certificate, h SessionHooks) *PeerSession {
	if len(chain) == 0 {
		return nil
	}
	p := &PeerSession{m: m, channel: ch, chain: chain, hooks: h, since: m.now()}
	yes := TrustYes
	p.trust.Store(&yes)
	m.sessions.mu.Lock()
	if m.sessions.set == nil {
		m.sessions.set = map[*PeerSession]struct{}{}
	}
	m.sessions.set[p] = struct{}{}
	m.sessions.mu.Unlock()
	return p
}

// Untrack removes the session; safe on nil and to call more than once.
func (p *PeerSession) Untrack() {
	if p == nil {
		return
	}
	p.m.sessions.mu.Lock()
	delete(p.m.sessions.set, p)
	p.m.sessions.mu.Unlock()
}

// Channel is the channel the session came in on.
func (p *PeerSession) Channel() Channel { return p.channel }

// Peer is the peer's certificate.
func (p *PeerSession) Peer() *x509.Certificate { return p.chain[0] }

// Trust is TrustYes while the peer is trusted under the live material,
// else the reason found by the last reload: TrustRevoked,
// TrustCAUntrusted, TrustExpired or TrustNotVerifying.
func (p *PeerSession) Trust() string { return *p.trust.Load() }

// Closed reports whether the Manager closed the session (Close hook).
func (p *PeerSession) Closed() bool { return p.closed.Load() }

// TrackedSessions returns the sessions being tracked, in no order.
func (m *Manager) TrackedSessions() []*PeerSession {
	m.sessions.mu.Lock()
	defer m.sessions.mu.Unlock()
	out := make([]*PeerSession, 0, len(m.sessions.set))
	for p := range m.sessions.set {
		out = append(out, p)
	}
	return out
}

// PeerTrust checks chain (a peer's certificate first, then its
// intermediates) against the snapshot as a new handshake would: the CA
// set, the validity at now, the CRLs. It returns TrustYes or the reason.
func (s *Snapshot) PeerTrust(chain []*x509.Certificate, now time.Time) string {
	if len(chain) == 0 {
		return TrustNotVerifying
	}
	if s == nil || s.CAs == nil {
		return TrustCAUntrusted
	}
	if now.After(chain[0].NotAfter) {
		return TrustExpired
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: s.CAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		var inv x509.CertificateInvalidError
		var ua x509.UnknownAuthorityError
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			return TrustExpired
		case errors.As(err, &ua):
			return TrustCAUntrusted
		}
		return TrustNotVerifying
	}
	if s.checkChains(chains) != nil {
		return TrustRevoked
	}
	if s.checkPeer(chains, now) != nil {
		return TrustCAUntrusted // every chain ends in a CA whose overlap window ended
	}
	return TrustYes
}

// recheckSessions checks every tracked session against the live
// snapshots after a successful reload, calls the hooks of those that
// became untrusted (and closes them when closeUntrusted), and returns how
// many are untrusted now and how many it closed.
func (m *Manager) recheckSessions(closeUntrusted bool, trigger string) (untrusted, closed int) {
	now := m.now()
	for _, p := range m.TrackedSessions() {
		if p.closed.Load() {
			continue
		}
		why := m.Current(p.channel).PeerTrust(p.chain, now)
		p.trust.Store(&why)
		if why == TrustYes {
			p.notified.Store(false) // trusted again (the CA or CRL came back): a later loss is news
			continue
		}
		untrusted++
		if !p.notified.Swap(true) && p.hooks.Untrusted != nil {
			p.hooks.Untrusted(why)
		}
		if closeUntrusted && p.hooks.Close != nil && !p.closed.Swap(true) {
			args := []any{"channel", string(p.channel), "reason", why, "peer_subject", p.Peer().Subject.String(),
				"peer_serial", FormatSerial(p.Peer().SerialNumber), "trigger", trigger}
			m.log(slog.LevelWarn, "tls session closed: peer no longer trusted", append(args, p.hooks.LogAttrs...)...)
			p.hooks.Close()
			closed++
		}
	}
	return untrusted, closed
}
