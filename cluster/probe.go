package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// MySQL capability flags used by the SSLRequest packet.
const (
	capLongPassword     = 0x00000001
	capLongFlag         = 0x00000004
	capProtocol41       = 0x00000200
	capSSL              = 0x00000800
	capTransactions     = 0x00002000
	capSecureConnection = 0x00008000
	capPluginAuth       = 0x00080000

	maxGreeting = 64 << 10 // a greeting is ~100 bytes; refuse anything absurd
)

// serverError is an error packet a node sent instead of its greeting
// (e.g. 1040 too many connections, 1129 host blocked).
type serverError struct {
	Num   uint16
	State string
	Msg   string
}

func (e *serverError) Error() string {
	if e.State != "" {
		return fmt.Sprintf("ERROR %d (%s): %s", e.Num, e.State, e.Msg)
	}
	return fmt.Sprintf("ERROR %d: %s", e.Num, e.Msg)
}

// stepError names the step of a node conversation that failed, so the
// operator reads "TLS handshake: ..." instead of a bare "EOF".
type stepError struct {
	Step string
	Err  error
}

func (e *stepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *stepError) Unwrap() error { return e.Err }

// probe opens a fresh TCP connection to addr, reads the MySQL greeting,
// sends an SSLRequest and completes a TLS handshake, and returns the leaf the
// node served and the version in its greeting. The TLS config has no session
// cache, so the handshake is never a resumption: it reads what a new client
// gets now. The whole exchange is bounded by timeout (and ctx).
//
// The leaf is returned even when verification fails, so the caller can show
// what is served next to the verification error.
func probe(ctx context.Context, addr string, timeout time.Duration, tv *tlsVerifier) (*x509.Certificate, string, error) {
	return probeWith(ctx, addr, timeout, tv, helloDefault)
}

// hello is what a probe's ClientHello offers.
type hello int

const (
	// helloDefault is what an ordinary client offers: TLS 1.3 and 1.2,
	// ECDSA and RSA signatures. A node serving several certificates gives
	// it the first of its list that fits.
	helloDefault hello = iota
	// helloRSAOnly is a client that verifies only RSA signatures: TLS 1.2
	// with ECDHE-RSA suites alone (crypto/tls has no client setting for
	// TLS 1.3's signature algorithms; the suites decide in TLS 1.2).
	helloRSAOnly
)

func (h hello) String() string {
	if h == helloRSAOnly {
		return "RSA-only hello"
	}
	return "hello"
}

// probeRSAOnly reads the certificate an RSA-only client gets from a node
// that serves several (ssl_cert listing an ECDSA and an RSA certificate)
// and whose ordinary hello got first, an ECDSA one. It returns nil when
// first is not ECDSA, when the node answers the RSA-only hello with a TLS
// alert (it has no RSA certificate for such a client, or allows TLS 1.3
// alone), or when it serves first again. A certificate that does not
// verify is returned with the error, as probe does.
func probeRSAOnly(ctx context.Context, addr string, timeout time.Duration, tv *tlsVerifier, first *x509.Certificate) (*x509.Certificate, error) {
	if first == nil || first.PublicKeyAlgorithm != x509.ECDSA {
		return nil, nil
	}
	rsa, _, err := probeWith(ctx, addr, timeout, tv, helloRSAOnly)
	var op *net.OpError
	switch {
	case err != nil && errors.As(err, &op) && op.Op == "remote error":
		return nil, nil
	case rsa != nil && rsa.Equal(first):
		return nil, err
	}
	return rsa, err
}

// probeWith is probe with the ClientHello h.
func probeWith(ctx context.Context, addr string, timeout time.Duration, tv *tlsVerifier, h hello) (*x509.Certificate, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", &stepError{"dial", err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the socket is what unblocks reads when ctx is cancelled early.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	version, err := readGreeting(conn)
	if err != nil {
		return nil, "", &stepError{"greeting", ctxErr(ctx, err)}
	}
	if err := writeSSLRequest(conn); err != nil {
		return nil, version, &stepError{"SSL request", ctxErr(ctx, err)}
	}
	var leaf *x509.Certificate
	cfg := tv.config(addr, func(c *x509.Certificate) { leaf = c })
	// The probe only reads the certificate and hangs up: nothing secret
	// crosses it, so it skips the post-quantum hybrid key share (ML-KEM),
	// a third of a handshake's CPU on the runner. The login keeps Go's
	// default, hybrid included: the password travels there.
	cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	step := "TLS handshake"
	if h == helloRSAOnly {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
		step = "TLS handshake (" + h.String() + ")"
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return leaf, version, &stepError{step, ctxErr(ctx, err)}
	}
	return leaf, version, nil
}

// ctxErr prefers the context's error (deadline) over the socket error its
// cancellation caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !isTimeout(err) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// readGreeting reads the initial handshake packet and checks that the node
// offers TLS. It returns the server version from the greeting.
func readGreeting(r io.Reader) (string, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 || n > maxGreeting {
		return "", fmt.Errorf("bad greeting packet length %d", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return "", err
	}
	if p[0] == 0xff { // error packet: 0xff, code(2), ['#', state(5)], message
		if len(p) < 3 {
			return "", errors.New("short error packet")
		}
		e := &serverError{Num: binary.LittleEndian.Uint16(p[1:3])}
		msg := p[3:]
		if len(msg) >= 6 && msg[0] == '#' {
			e.State, msg = string(msg[1:6]), msg[6:]
		}
		e.Msg = boundText(string(msg), maxNodeText)
		return "", e
	}
	if p[0] != 10 {
		return "", fmt.Errorf("unsupported protocol version %d (not a MySQL-protocol server?)", p[0])
	}
	end := strings.IndexByte(string(p[1:]), 0)
	if end < 0 {
		return "", errors.New("malformed greeting")
	}
	version := string(p[1 : 1+end])
	rest := p[1+end+1:]
	// connection id (4), auth data part 1 (8), filler (1), capabilities low (2)
	if len(rest) < 15 {
		return version, errors.New("greeting too short")
	}
	caps := binary.LittleEndian.Uint16(rest[13:15])
	if caps&capSSL == 0 {
		return version, fmt.Errorf("server %q does not offer TLS (no CLIENT_SSL in its greeting)", version)
	}
	return version, nil
}

// writeSSLRequest sends the 32-byte SSLRequest packet (sequence 1).
func writeSSLRequest(w io.Writer) error {
	var pkt [4 + 32]byte
	pkt[0] = 32 // payload length, little-endian 3 bytes
	pkt[3] = 1  // sequence id
	binary.LittleEndian.PutUint32(pkt[4:], capLongPassword|capLongFlag|capProtocol41|capSSL|
		capTransactions|capSecureConnection|capPluginAuth)
	binary.LittleEndian.PutUint32(pkt[8:], 1<<24) // max packet size
	pkt[12] = 45                                  // utf8mb4_general_ci; the rest is filler
	_, err := w.Write(pkt[:])
	return err
}

// tlsVerifier builds client TLS configs that verify the node's certificate
// before anything else is sent on the connection (the login included):
//
//   - roots == nil (no --ssl-ca): the system roots, and the certificate must
//     name the host or IP the node was reached at. The system roots trust
//     far too many issuers for a chain check alone to mean anything.
//   - roots != nil (--ssl-ca): the chain against those roots, like mysql
//     --ssl-mode=VERIFY_CA; verifyIdentity adds the name check
//     (VERIFY_IDENTITY).
//   - insecure: no verification at all (still TLS); every row says so.
//
// Safe for concurrent use.
type tlsVerifier struct {
	roots          *x509.CertPool // nil = system roots
	certs          []tls.Certificate
	insecure       bool
	verifyIdentity bool

	// verified holds the chains (leaf DER + host) that verified during this
	// run: a node's leaf is seen on up to three handshakes, and chain
	// building is the costliest part of each. The handshake signature is
	// still checked by crypto/tls every time.
	verified sync.Map // string -> struct{}
}

// verifier is the one tlsVerifier of a run (discovery, logins, probes),
// built from the trust options.
func (o Options) verifier() *tlsVerifier {
	return &tlsVerifier{roots: o.RootCAs, certs: o.Certificates, insecure: o.InsecureSkipVerify, verifyIdentity: o.VerifyIdentity}
}

// config returns a fresh *tls.Config for one connection to addr. seen is
// called with the served leaf before verification. There is no
// ClientSessionCache: every handshake is a full one.
func (v *tlsVerifier) config(addr string, seen func(*x509.Certificate)) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	cfg := &tls.Config{
		// Verification is done in VerifyConnection below: the stock check
		// always wants a host name, while MySQL clients verify the chain
		// only unless VERIFY_IDENTITY is asked for.
		InsecureSkipVerify: true,
		Certificates:       v.certs,
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			if seen != nil {
				seen(cs.PeerCertificates[0])
			}
			if v.insecure {
				return nil
			}
			opts := x509.VerifyOptions{Roots: v.roots, Intermediates: x509.NewCertPool()}
			key := string(cs.PeerCertificates[0].Raw)
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
				key += "\x00" + string(c.Raw)
			}
			if v.checksName() {
				opts.DNSName = host
				key += "\x00" + host
			}
			if _, ok := v.verified.Load(key); ok {
				return nil
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return &verifyError{err: err, names: certNames(cs.PeerCertificates[0])}
			}
			v.verified.Store(key, struct{}{})
			return nil
		},
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host // SNI
	}
	return cfg
}

// checksName reports whether the host name (or IP) is part of verification.
func (v *tlsVerifier) checksName() bool { return v.roots == nil || v.verifyIdentity }

// verifyError is a certificate that did not verify. The conversation with
// the node stops at the handshake: no login is attempted.
type verifyError struct {
	err   error
	names []string // what the certificate names (SANs), for the row
	// afterLogin is set for the handshake after a reload: the login
	// happened earlier, against the certificate that verified then.
	afterLogin bool
}

func (e *verifyError) Error() string {
	msg := "certificate not verified, no login attempted: " + e.err.Error()
	if e.afterLogin {
		msg = "certificate not verified: " + e.err.Error()
	}
	var he x509.HostnameError
	if errors.As(e.err, &he) {
		if len(e.names) == 0 {
			msg += " (the certificate names no DNS name or IP)"
		} else {
			msg += " (the certificate names " + strings.Join(e.names, ", ") + ")"
		}
	}
	return msg
}

// certNames lists a certificate's DNS and IP subject alternative names.
func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
func (e *verifyError) Unwrap() error { return e.err }
