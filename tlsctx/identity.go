package tlsctx

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// ErrIdentityChange is wrapped by the *ReloadError of a reload refused by
// the identity guard: the new certificate of a channel drops a DNS name or
// an IP address the served one has, or has another subject. Such a file
// is most often another node's certificate deployed to the wrong node;
// serving it would break every client that checks the name.
// Settings.AllowIdentityChange lets such a reload through.
var ErrIdentityChange = errors.New("certificate identity changed")

// IdentityChange is what the identity guard finds between the served leaf
// and a new one: the names dropped and whether the subject changed.
type IdentityChange struct {
	DroppedDNS, DroppedIPs []string
	OldSubject, NewSubject string // set when the subject changed
}

// Empty reports whether the new leaf keeps the identity of the old one.
func (c IdentityChange) Empty() bool {
	return len(c.DroppedDNS) == 0 && len(c.DroppedIPs) == 0 && c.OldSubject == c.NewSubject
}

// String names what changed: "drops DNS name node-a.example; subject
// changes from CN=a to CN=b".
func (c IdentityChange) String() string {
	var parts []string
	if len(c.DroppedDNS) > 0 {
		parts = append(parts, plural(len(c.DroppedDNS), "drops DNS name ", "drops DNS names ")+strings.Join(c.DroppedDNS, ", "))
	}
	if len(c.DroppedIPs) > 0 {
		parts = append(parts, plural(len(c.DroppedIPs), "drops IP address ", "drops IP addresses ")+strings.Join(c.DroppedIPs, ", "))
	}
	if c.OldSubject != c.NewSubject {
		parts = append(parts, fmt.Sprintf("subject changes from %q to %q", c.OldSubject, c.NewSubject))
	}
	return strings.Join(parts, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// identityChange compares the served leaf with a new one. Names are
// compared as crypto/tls matches them: DNS names without regard to case,
// IP addresses by value. Added names are no change.
func identityChange(old, next *x509.Certificate) IdentityChange {
	var c IdentityChange
	if old == nil || next == nil {
		return c
	}
	dns := map[string]bool{}
	for _, n := range next.DNSNames {
		dns[strings.ToLower(n)] = true
	}
	for _, n := range old.DNSNames {
		if !dns[strings.ToLower(n)] {
			c.DroppedDNS = append(c.DroppedDNS, n)
		}
	}
	ips := map[string]bool{}
	for _, ip := range next.IPAddresses {
		ips[ip.String()] = true
	}
	for _, ip := range old.IPAddresses {
		if !ips[ip.String()] {
			c.DroppedIPs = append(c.DroppedIPs, ip.String())
		}
	}
	if o, n := old.Subject.String(), next.Subject.String(); o != n {
		c.OldSubject, c.NewSubject = o, n
	}
	return c
}

// IdentityChangeFrom is what the identity guard finds between s, the live
// snapshot of a channel, and next, a snapshot built for the same channel
// (a CheckReport's): empty when either has no certificate. With several
// certificates each new one is compared with the served one at its
// position, so that another node's RSA certificate behind this node's
// ECDSA one is caught too. A certificate added past the end of the served
// list (a second name for SNI, an RSA one beside ECDSA) and one dropped
// from its end change the list in the config, not a file in place, and are
// no identity change. The findings of every pair are merged: each dropped
// name once, the first subject that changes.
func (s *Snapshot) IdentityChangeFrom(next *Snapshot) IdentityChange {
	if !s.Enabled() || !next.Enabled() {
		return IdentityChange{}
	}
	olds, news := s.Served(), next.Served()
	var out IdentityChange
	seen := map[string]bool{}
	for i := range min(len(olds), len(news)) {
		c := identityChange(olds[i].Leaf, news[i].Leaf)
		for _, d := range c.DroppedDNS {
			if !seen["dns "+strings.ToLower(d)] {
				seen["dns "+strings.ToLower(d)] = true
				out.DroppedDNS = append(out.DroppedDNS, d)
			}
		}
		for _, ip := range c.DroppedIPs {
			if !seen["ip "+ip] {
				seen["ip "+ip] = true
				out.DroppedIPs = append(out.DroppedIPs, ip)
			}
		}
		if c.OldSubject != c.NewSubject && out.OldSubject == out.NewSubject {
			out.OldSubject, out.NewSubject = c.OldSubject, c.NewSubject
		}
	}
	return out
}

// guardIdentity refuses next when it drops part of the identity of prev,
// the snapshot being served, unless the settings allow it. A channel that
// serves no certificate yet (TLS off, a degraded start) has no identity to
// keep: the first certificate is never refused by the guard.
func guardIdentity(s Settings, prev, next *Snapshot) error {
	if s.AllowIdentityChange || prev == nil || prev == next {
		return nil
	}
	c := prev.IdentityChangeFrom(next)
	if c.Empty() {
		return nil
	}
	m := channelMaterial(s, next.Channel)
	return &ReloadError{Channel: next.Channel, Setting: m.certSetting, File: m.cert, Err: ErrIdentityChange,
		Reason: fmt.Sprintf("the new certificate %s (serial %s, served now: %s): is it another node's certificate? "+
			"Deploy this node's own certificate, or set ssl_allow_identity_change: true for a deliberate change",
			c, next.Serial(), prev.Serial())}
}
