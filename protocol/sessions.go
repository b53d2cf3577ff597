package protocol

import (
	"crypto/x509"
	"sort"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/tlsctx"
)

// SessionTracker is implemented by a TLSProvider that re-checks open TLS
// sessions after a reload (*tlsctx.Manager does). The server then tracks
// every logged-in TLS connection that presented a client certificate, on
// the client port and the cluster port: SHOW SSL SESSIONS lists them with
// whether the live CA set and CRLs still trust the peer, and a reload with
// ssl_close_untrusted_sessions closes the untrusted ones. Track must be
// safe for concurrent use.
type SessionTracker interface {
	Track(ch tlsctx.Channel, chain []*x509.Certificate, h tlsctx.SessionHooks) *tlsctx.PeerSession
}

// trackPeer registers the TLS session of c (logged in as user) with the
// tracker, when it has one and the peer presented a certificate. Closing
// it is KILL CONNECTION's close.
func (h *Handler) trackPeer(c *mysql.Conn, p *proc, user string) {
	if h.tracker == nil || p == nil {
		return
	}
	ch := tlsctx.ChannelClient
	switch h.transport {
	case "tcp":
	case "cluster":
		ch = tlsctx.ChannelCluster
	default:
		return
	}
	st := connTLS(c.Conn)
	if st == nil || len(st.PeerCertificates) == 0 {
		return
	}
	host := clientHost(c)
	ps := h.tracker.Track(ch, st.PeerCertificates, tlsctx.SessionHooks{
		Close:    func() { c.Close() },
		LogAttrs: []any{"account", user, "host", host, "connection_id", c.ConnectionID},
	})
	p.mu.Lock()
	p.peer = ps
	p.mu.Unlock()
}

// SSLSessions implements sqlcmd.SSLSessionLister: the connections with a
// tracked peer certificate, in id order.
func (l *procList) SSLSessions() []sqlcmd.SSLSession {
	l.mu.Lock()
	ps := make([]*proc, 0, len(l.procs))
	for _, p := range l.procs {
		ps = append(ps, p)
	}
	l.mu.Unlock()
	var out []sqlcmd.SSLSession
	for _, p := range ps {
		p.mu.Lock()
		peer, user := p.peer, p.user
		if peer != nil && p.host == "" {
			p.host = clientHost(p.conn)
		}
		host := p.host
		p.mu.Unlock()
		if peer == nil {
			continue
		}
		out = append(out, sqlcmd.SSLSession{ID: p.id, User: user, Host: host, Channel: peer.Channel(),
			PeerSubject: peer.Peer().Subject.String(), PeerSerial: tlsctx.FormatSerial(peer.Peer().SerialNumber),
			TrustedNow: peer.Trust()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
