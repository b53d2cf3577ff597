package tlsctx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

var errClusterNotServed = errors.New("tlsctx: the cluster channel is not served (no cluster listener or cluster_ssl_* setting), so there is no cluster material to dial with")

// versionRange is the parsed tls_version setting.
type versionRange struct{ min, max uint16 }

var versionNames = map[string]uint16{
	"tlsv1": tls.VersionTLS10, "tlsv1.0": tls.VersionTLS10,
	"tlsv1.1": tls.VersionTLS11, "tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13,
}

// DefaultTLSVersion is the tls_version used when it is empty.
const DefaultTLSVersion = "TLSv1.2,TLSv1.3"

// parseTLSVersion parses "TLSv1.2,TLSv1.3" (MySQL's tls_version syntax); ""
// means DefaultTLSVersion.
// The allowed range spans the lowest to the highest listed version: Go
// cannot leave a gap in the middle.
func parseTLSVersion(s string) (versionRange, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultTLSVersion
	}
	var r versionRange
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ':' }) {
		v, ok := versionNames[strings.ToLower(f)]
		if !ok {
			return versionRange{}, fmt.Errorf("unknown TLS version %q (want TLSv1.2 and/or TLSv1.3, or TLSv1 / TLSv1.1)", f)
		}
		if r.min == 0 || v < r.min {
			r.min = v
		}
		if v > r.max {
			r.max = v
		}
	}
	return r, nil
}

// serverConfig builds the per-snapshot server *tls.Config, or nil when the
// channel has TLS off.
//
// Each snapshot gets a fresh random session-ticket key. Without one, a
// config returned from GetConfigForClient inherits the ticket keys of the
// static parent config, so a client holding a ticket issued before a reload
// could resume the old session afterwards: it would skip the full handshake
// and never see (or, for mutual TLS, be re-verified against) the new
// certificate and CA set. With a key per snapshot, old tickets fail to
// decrypt and the client falls back to a full handshake under the new
// material. Reloads of unchanged material reuse the snapshot, so they do not
// invalidate tickets. Within a snapshot the keys rotate on crypto/tls's
// schedule (tickets.go), checked on each handshake.
//
// The snapshot's Policy (versions, suites, groups) is set here too: a
// reload that changes only the policy builds a new snapshot, and new
// handshakes get it while open connections keep the config they were
// accepted with.
func serverConfig(s *Snapshot, now time.Time) *tls.Config {
	if s.Certificate == nil {
		return nil
	}
	// Every certificate, in the order of the setting: with several,
	// crypto/tls serves the first one the client's hello supports
	// (ClientHelloInfo.SupportsCertificate: server name, signature
	// algorithms, TLS 1.2 cipher suites), else the first.
	certs := make([]tls.Certificate, len(s.Certs))
	for i, c := range s.Certs {
		certs[i] = *c.Certificate
	}
	cfg := &tls.Config{
		Certificates: certs,
		ClientAuth:   tls.NoClientCert,
	}
	s.Policy.apply(cfg)
	switch {
	case s.Channel == ChannelCluster:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = s.CAs // never nil: a served cluster channel needs a CA (clusterTrust)
	case s.CAs != nil:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = s.CAs
	}
	if (s.crls != nil || len(s.overlap) > 0) && cfg.ClientAuth != tls.NoClientCert {
		// crypto/tls calls VerifyConnection after its own chain check on a
		// full handshake and also on every resumed one (with the chains
		// the ticket carries), so a session resumed from a ticket cannot
		// bring back a certificate the snapshot's CRLs revoke, nor a
		// certificate of a CA whose overlap window ended.
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			if len(cs.VerifiedChains) == 0 {
				return s.CheckRevoked(cs.PeerCertificates)
			}
			return s.checkPeer(cs.VerifiedChains, timeNow())
		}
	}
	s.tickets = newTicketKeys(cfg, now)
	return cfg
}

// ServerTLSConfig returns the *tls.Config to give a listener of ch, or nil
// if ch had TLS off when the Manager was created or is not served
// (turning TLS on, or serving a channel, needs a restart). The returned config is created once per Manager and channel;
// set it on the listener before Accept and never replace it. Its
// GetConfigForClient returns the live snapshot's own config, so every new
// handshake uses the material of the latest successful reload while
// established connections keep the config they were accepted with.
//
// Safe for concurrent use; the handshake path takes no lock.
func (m *Manager) ServerTLSConfig(ch Channel) *tls.Config {
	return m.serverConfigs[ch]
}

func (m *Manager) newServerTLSConfig(ch Channel) *tls.Config {
	return &tls.Config{
		// No versions, suites or groups here either: crypto/tls negotiates
		// them with the config GetConfigForClient returns (the snapshot's
		// Policy), so a reload changes them for new handshakes.
		// Certificates stays empty on purpose: the material lives in the
		// snapshot config returned below, never in this long-lived one.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			snap := m.Current(ch)
			if cfg := snap.serverConfig; cfg != nil {
				snap.tickets.maybeRotate(m.ticketClock())
				return cfg, nil
			}
			return nil, fmt.Errorf("tlsctx: channel %s has no certificate", ch)
		},
	}
}

// ClientTLSConfig returns a *tls.Config for dialling another node with the
// cluster channel's material: the live cluster certificate is presented for
// mutual TLS and the peer is verified against the live cluster CA set
// (a served cluster channel always has one). Both are read from the
// current snapshot on every handshake, so one config follows reloads.
// serverName is the name the peer's certificate must carry; when empty,
// crypto/tls.Dial fills it in from the address.
//
// The cluster channel must be served (Settings.Serves): without it every
// handshake with this config fails, naming the reason, rather than dial
// with material nobody configured for it.
//
// Safe for concurrent use. The returned config is new on every call and
// owned by the caller.
//
// The cluster channel's policy (cluster_tls_version and the rest) is the
// live one when ClientTLSConfig is called.
func (m *Manager) ClientTLSConfig(serverName string) *tls.Config {
	var policy Policy
	if snap := m.Current(ChannelCluster); snap != nil {
		policy = snap.Policy
	} else {
		policy, _ = ChannelPolicy(Settings{}, ChannelCluster) // the defaults: cannot fail
	}
	cfg := &tls.Config{
		ServerName: serverName,
		// RootCAs cannot follow a reload (it is read once per config), so
		// the built-in verification is replaced by VerifyConnection below,
		// which does the same chain and name check against the live pool.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tlsctx: peer sent no certificate")
			}
			if cs.ServerName == "" {
				return errors.New("tlsctx: no server name to verify the peer certificate against")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			snap := m.Current(ChannelCluster)
			if snap == nil {
				return errClusterNotServed
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName:       cs.ServerName,
				Roots:         snap.CAs,
				Intermediates: inter,
				CurrentTime:   m.now(),
			})
			return err
		},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			snap := m.Current(ChannelCluster)
			if snap == nil || snap.Certificate == nil {
				return &tls.Certificate{}, nil // no client certificate
			}
			// The first certificate the peer's request supports (its
			// signature algorithms), else the first, as on the server side.
			for _, c := range snap.Certs {
				if cri.SupportsCertificate(c.Certificate) == nil {
					return c.Certificate, nil
				}
			}
			return snap.Certificate, nil
		},
	}
	policy.apply(cfg)
	return cfg
}
