package tlsctx

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"
)

// TriggerCAOverlapExpiry is the trigger of the reload that drops a CA whose
// overlap window (Settings.CAOverlap) ended.
const TriggerCAOverlapExpiry = "ca-overlap-expiry"

// OverlapCA is a CA that a reload removed from a channel's CA set and that
// stays trusted for peer certificates until Until (Settings.CAOverlap).
type OverlapCA struct {
	Subject string
	Setting string // where it was read before it was removed (ssl_ca, ssl_capath, ...)
	File    string
	Until   time.Time
	cert    *x509.Certificate
}

// Overlap lists the CAs the snapshot still trusts although the reload that
// built it (or an earlier one) removed them from the configured CA set,
// each with the end of its window, earliest first.
func (s *Snapshot) Overlap() []OverlapCA {
	if s == nil {
		return nil
	}
	return append([]OverlapCA(nil), s.overlap...)
}

// overlapFor is the overlap set of a new snapshot of ch whose configured
// CAs are now: the CAs of the live snapshot that are no longer configured,
// trusted for window from now (a CA removed earlier keeps its end), and
// those of the live overlap set whose window has not ended. A CA
// configured again leaves the set.
func (b *builder) overlapFor(ch Channel, now []sourcedCert, window time.Duration) []OverlapCA {
	prev := b.prev[ch]
	if prev == nil || (window <= 0 && len(prev.overlap) == 0) {
		return nil
	}
	at := b.now()
	configured := map[[32]byte]bool{}
	for _, c := range now {
		configured[sha256.Sum256(c.cert.Raw)] = true
	}
	var out []OverlapCA
	kept := map[[32]byte]bool{}
	for _, o := range prev.overlap {
		sum := sha256.Sum256(o.cert.Raw)
		if o.Until.After(at) && !configured[sum] && !kept[sum] {
			kept[sum] = true
			out = append(out, o)
		}
	}
	if window > 0 {
		for _, c := range prev.caCerts {
			sum := sha256.Sum256(c.cert.Raw)
			if configured[sum] || kept[sum] {
				continue
			}
			kept[sum] = true
			out = append(out, OverlapCA{Subject: c.cert.Subject.String(), Setting: c.setting, File: c.file,
				Until: at.Add(window), cert: c.cert})
		}
	}
	for i := 1; i < len(out); i++ { // earliest end first; a handful of CAs
		for j := i; j > 0 && out[j].Until.Before(out[j-1].Until); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// overlapEnded reports whether chain is anchored in an overlap CA whose
// window ended at now: the expiry reload drops such a CA, and until it has
// run (or when it fails) the handshake refuses the chain itself.
func (s *Snapshot) overlapEnded(chain []*x509.Certificate, now time.Time) (OverlapCA, bool) {
	if len(s.overlap) == 0 || len(chain) == 0 {
		return OverlapCA{}, false
	}
	anchor := chain[len(chain)-1]
	for _, o := range s.overlap {
		if o.cert.Equal(anchor) && !now.Before(o.Until) {
			return o, true
		}
	}
	return OverlapCA{}, false
}

// checkPeer is the handshake's check of the verified chains beyond
// crypto/tls's: at least one chain must hold no revoked certificate and
// not end in an overlap CA whose window ended.
func (s *Snapshot) checkPeer(chains [][]*x509.Certificate, now time.Time) error {
	var first error
	for _, chain := range chains {
		err := s.CheckRevoked(chain)
		if err == nil {
			if o, ended := s.overlapEnded(chain, now); ended {
				err = fmt.Errorf("tlsctx: CA %q is no longer trusted: its ssl_ca_overlap window ended at %s", o.Subject, o.Until.UTC().Format(time.RFC3339))
			}
		}
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// overlapRetry is how long the Manager waits before it tries the expiry
// reload again after one failed; tests shorten it.
var overlapRetry = time.Minute

// scheduleOverlapExpiry arms the timer of the next overlap expiry reload
// (the earliest Until of the live snapshots), or disarms it when no CA is
// overlapping. after is the least wait (the retry delay after a failure).
func (m *Manager) scheduleOverlapExpiry(after time.Duration) {
	var next time.Time
	for _, s := range m.state.Load().snaps {
		for _, o := range s.overlap {
			if next.IsZero() || o.Until.Before(next) {
				next = o.Until
			}
		}
	}
	m.overlapMu.Lock()
	defer m.overlapMu.Unlock()
	if m.overlapTimer != nil {
		m.overlapTimer.Stop()
		m.overlapTimer = nil
	}
	if next.IsZero() || m.stopped {
		return
	}
	wait := max(next.Sub(m.now()), after)
	m.overlapTimer = time.AfterFunc(wait, m.expireOverlap)
}

// expireOverlap is the reload that drops the CAs whose window ended.
func (m *Manager) expireOverlap() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := m.Reload(ctx, WithTrigger(TriggerCAOverlapExpiry)); err != nil {
		m.log(slog.LevelError, "ca overlap expiry reload failed; handshakes already refuse the expired CAs; retrying",
			"error", err.Error(), "retry_in", overlapRetry)
		m.scheduleOverlapExpiry(overlapRetry)
	}
}

// Stop disarms the Manager's background work (the CA overlap expiry
// reload). The Manager keeps serving; Reload still works. Safe to call
// more than once.
func (m *Manager) Stop() {
	m.overlapMu.Lock()
	defer m.overlapMu.Unlock()
	m.stopped = true
	if m.overlapTimer != nil {
		m.overlapTimer.Stop()
		m.overlapTimer = nil
	}
}
