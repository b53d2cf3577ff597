package protocol

import (
	"sync/atomic"

	"github.com/ssld/ssld/tlsctx"
)

// tlsAccepts counts TLS handshakes per channel for SHOW STATUS's
// Ssl_accepts and Ssl_finished_accepts (MariaDB's and MySQL's names for
// OpenSSL's SSL_CTX_sess_accept and SSL_CTX_sess_accept_good): every
// handshake the listener ran, and those that completed. A handshake is
// counted when it ends. Safe for concurrent use.
type tlsAccepts struct {
	client, cluster acceptCounts
}

type acceptCounts struct{ accepts, finished atomic.Uint64 }

func (a *tlsAccepts) of(ch tlsctx.Channel) *acceptCounts {
	if ch == tlsctx.ChannelCluster {
		return &a.cluster
	}
	return &a.client
}

// countTLS records one ended handshake on the listener labelled label
// ("client" or "cluster").
func (a *tlsAccepts) countTLS(label string, ok bool) {
	c := a.of(tlsctx.ChannelClient)
	if label == "cluster" {
		c = a.of(tlsctx.ChannelCluster)
	}
	c.accepts.Add(1)
	if ok {
		c.finished.Add(1)
	}
}

// SSLAccepts implements sqlcmd.TLSAcceptCounter: the handshakes on ch's
// listener since start or since the last ResetSSLAccepts of ch.
func (a *tlsAccepts) SSLAccepts(ch tlsctx.Channel) (accepts, finished uint64) {
	c := a.of(ch)
	return c.accepts.Load(), c.finished.Load()
}

// ResetSSLAccepts implements sqlcmd.TLSAcceptCounter: a reload statement
// starts ch's counts again, as MariaDB's FLUSH SSL does with the new
// context it builds.
func (a *tlsAccepts) ResetSSLAccepts(ch tlsctx.Channel) {
	c := a.of(ch)
	c.accepts.Store(0)
	c.finished.Store(0)
}
