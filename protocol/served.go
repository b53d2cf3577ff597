package protocol

import (
	"crypto/tls"
	"crypto/x509"
	"net"
)

// recordServed returns a listener TLS config that behaves as tc and also
// remembers, on each connection, the certificate its handshake chose: a
// session reports its own certificate's dates (Ssl_server_not_before/after)
// after a reload has replaced it for new handshakes, as MariaDB does. The
// returned config is built once per listener; per handshake it costs one
// call of tc's GetConfigForClient (as before) and one pointer store.
func recordServed(tc *tls.Config) *tls.Config {
	if tc == nil {
		return nil
	}
	out := tc.Clone()
	inner := tc.GetConfigForClient
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := out
		if inner != nil {
			c, err := inner(hello)
			if err != nil {
				return nil, err
			}
			if c != nil {
				cfg = c
			}
		}
		if t, ok := hello.Conn.(tlsTransport); ok {
			t.c.served = chosenLeaf(cfg, hello)
		}
		if cfg == out {
			return nil, nil // the listener's own config (no per-snapshot one)
		}
		return cfg, nil
	}
	return out
}

// chosenLeaf is the leaf of the certificate crypto/tls serves hello from
// cfg: the only one, or the first the client supports (crypto/tls's own
// rule for several). nil when cfg picks its certificate by callback.
func chosenLeaf(cfg *tls.Config, hello *tls.ClientHelloInfo) *x509.Certificate {
	if len(cfg.Certificates) == 0 {
		return nil
	}
	chosen := &cfg.Certificates[0]
	if len(cfg.Certificates) > 1 {
		for i := range cfg.Certificates {
			if hello.SupportsCertificate(&cfg.Certificates[i]) == nil {
				chosen = &cfg.Certificates[i]
				break
			}
		}
	}
	if chosen.Leaf != nil {
		return chosen.Leaf
	}
	if len(chosen.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(chosen.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// connServedCert is the leaf certificate the connection's TLS handshake
// served, or nil without TLS (or when it is not known).
func connServedCert(c net.Conn) *x509.Certificate {
	if g, ok := c.(*guardedConn); ok && g.tc.Load() != nil {
		return g.served
	}
	return nil
}
