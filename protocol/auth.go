package protocol

import (
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"

	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/tlsctx"
)

// MySQL error numbers and states used at connect time.
const (
	erHandshake               = 1043 // ER_HANDSHAKE_ERROR
	erSecureTransportRequired = 3159 // ER_SECURE_TRANSPORT_REQUIRED
)

// identity is what a successful login leaves on the connection
// (mysql.Conn.UserData): the account and where it came from.
type identity struct {
	acct *account
	host string
}

// Get implements mysql.Getter.
func (i *identity) Get() *querypb.VTGateCallerID {
	return &querypb.VTGateCallerID{Username: i.acct.name}
}

// authServer authenticates users of one listener. It is safe for concurrent
// use: the account table is immutable and the caching_sha2 cache is locked
// per account.
type authServer struct {
	users         *accounts
	transport     string // "tcp", "unix", "cluster"
	requireSecure bool
	methods       []mysql.AuthMethod
	hooks         Hooks
	onLogin       func(c *mysql.Conn, user string) // after every successful login; may be nil
	guard         *loginGuard                      // shared by the server's listeners; nil: none
	// clientChannel is the client channel's live snapshot: its CA set
	// (ssl_ca / ssl_capath) and CRLs (ssl_crl / ssl_crlpath) are what
	// require_x509 accounts are checked against on every listener; nil
	// when the TLSProvider cannot tell it (then the handshake's own
	// verification counts, on the client port only).
	clientChannel func() *tlsctx.Snapshot
}

var _ mysql.AuthServer = (*authServer)(nil)

func newAuthServer(u *accounts, transport string, requireSecure bool, hooks Hooks, keys *RSAKeys) *authServer {
	a := &authServer{users: u, transport: transport, requireSecure: requireSecure, hooks: hooks}
	a.methods = []mysql.AuthMethod{
		checkedMethod{mysql.NewMysqlNativeAuthMethod(a, pluginValidator{a, PluginNative}), a},
		checkedMethod{&sha2Method{a: a, keys: keys}, a}, // sha2auth.go: also over plain TCP, with RSA
		checkedMethod{unixSocketMethod{a}, a},
	}
	return a
}

// AuthMethods implements mysql.AuthServer.
func (a *authServer) AuthMethods() []mysql.AuthMethod { return a.methods }

// DefaultAuthMethodDescription implements mysql.AuthServer. Native password
// is what every client (mariadb-client included) speaks in the first packet;
// caching_sha2_password users are switched to their plugin.
func (a *authServer) DefaultAuthMethodDescription() mysql.AuthMethodDescription {
	return mysql.MysqlNativePassword
}

// pluginValidator lets a method handle the users configured for it. An
// unknown name is handled as if it had its decoyPlugin, so that it gets the
// same negotiation and the same 1045 as a wrong password, revealing nothing
// about which names exist.
type pluginValidator struct {
	a      *authServer
	plugin string
}

func (v pluginValidator) HandleUser(user string, _ net.Addr) bool {
	acct, ok := v.a.users.get(user)
	if !ok {
		return decoyPlugin(user) == v.plugin
	}
	return acct.plugin == v.plugin
}

// hostOf is the host part of a client address, as accounts and error
// messages name it ("localhost" for the Unix socket). It runs up to three
// times per login (login guard, password check), so a TCP address is not
// formatted with its port only to have the port cut off again.
func hostOf(addr net.Addr) string {
	switch a := addr.(type) {
	case nil, *net.UnixAddr:
		return "localhost"
	case *net.TCPAddr:
		if a != nil && len(a.IP) > 0 {
			if a.Zone != "" {
				return a.IP.String() + "%" + a.Zone
			}
			return a.IP.String()
		}
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// accessDenied is MySQL's 1045, naming at most the first 32 characters of
// the user name (MySQL's limit: a longer name is no account's). sent says whether the client sent an
// authentication response (a password) at all: MySQL prints "using
// password: NO" when it did not, which tells an operator that the hook or
// client ran without its password rather than with a wrong one.
func accessDenied(user string, addr net.Addr, sent bool) error {
	used := "YES"
	if !sent {
		used = "NO"
	}
	return mysql.NewSQLError(mysql.ERAccessDeniedError, mysql.SSAccessDeniedError,
		"Access denied for user '%s'@'%s' (using password: %s)", sqlcmd.CutUserName(user), hostOf(addr), used)
}

func badHandshake() error {
	return mysql.NewSQLError(erHandshake, mysql.SSNetError, "Bad handshake")
}

// dummyHash is compared against for unknown users so that a wrong name and a
// wrong password cost the same.
var dummyHash = doubleSHA1("ssld-no-such-user")

// UserEntryWithHash implements mysql.HashStorage (mysql_native_password).
func (a *authServer) UserEntryWithHash(_ []*x509.Certificate, salt []byte, user string, authResponse []byte, addr net.Addr) (mysql.Getter, error) {
	acct, ok := a.users.get(user)
	if len(authResponse) != sha1.Size {
		// vitess indexes the reply up to the hash size: a shorter one
		// would panic, a longer one is not a mysql_native_password
		// scramble. Either way a wrong password, known user or not.
		return nil, accessDenied(user, addr, len(authResponse) > 0)
	}
	if !ok {
		mysql.VerifyHashedMysqlNativePassword(authResponse, salt, dummyHash)
		return nil, accessDenied(user, addr, true)
	}
	if !mysql.VerifyHashedMysqlNativePassword(authResponse, salt, acct.nativeHash) {
		return nil, accessDenied(user, addr, true)
	}
	return &identity{acct: acct, host: hostOf(addr)}, nil
}

// UserEntryWithPassword implements mysql.PlainTextStorage (the full path of
// caching_sha2_password, only reached over TLS or the Unix socket).
func (a *authServer) UserEntryWithPassword(_ []*x509.Certificate, user string, password string, addr net.Addr) (mysql.Getter, error) {
	acct, ok := a.users.get(user)
	if !ok || len(password) > MaxPasswordBytes || !acct.checkPassword(password) {
		return nil, accessDenied(user, addr, password != "")
	}
	acct.learnSHA2(password)
	return &identity{acct: acct, host: hostOf(addr)}, nil
}

// checkedMethod wraps a vitess auth method with the checks that need the
// connection: transport security, require_ssl, require_x509, and the end of
// the connect timeout.
type checkedMethod struct {
	mysql.AuthMethod
	a *authServer
}

// HandleUser implements mysql.AuthMethod. vitess calls it first on every
// login; it records a TLS upgrade the transport made (vitess did not see it)
// in the capabilities vitess's TLSEnabled reads.
func (m checkedMethod) HandleUser(c *mysql.Conn, user string) bool {
	// The Unix socket counts as secure as in MySQL; vitess recognises it
	// by the listener's type, which the guard hides.
	if connHasTLS(c.Conn) || m.a.transport == "unix" {
		c.Capabilities |= mysql.CapabilityClientSSL
	}
	return m.AuthMethod.HandleUser(c, user)
}

// HandleAuthPluginData runs the login: the per-address delay after
// repeated failures (not on the Unix socket), the checks, then the record of
// the outcome (failures logged at warn, rate-limited).
func (m checkedMethod) HandleAuthPluginData(c *mysql.Conn, user string, serverData, clientData []byte, addr net.Addr) (mysql.Getter, error) {
	m.a.guard.delay(m.a.transport, addr)
	g, err := m.check(c, user, serverData, clientData, addr)
	_, known := m.a.users.get(user)
	m.a.guard.done(m.a.transport, user, addr, known, err)
	if err != nil {
		return nil, sqlError(err) // its message bounded like every other
	}
	return g, nil
}

func (m checkedMethod) check(c *mysql.Conn, user string, serverData, clientData []byte, addr net.Addr) (mysql.Getter, error) {
	if m.a.transport != "unix" && !c.TLSEnabled() {
		if m.a.transport == "cluster" {
			return nil, mysql.NewSQLError(erSecureTransportRequired, mysql.SSUnknownSQLState,
				"Connections to the cluster port must use TLS with a client certificate")
		}
		if m.a.requireSecure {
			return nil, mysql.NewSQLError(erSecureTransportRequired, mysql.SSUnknownSQLState,
				"Connections using insecure transport are prohibited while --require_secure_transport=ON.")
		}
	}
	g, err := m.AuthMethod.HandleAuthPluginData(c, user, serverData, clientData, addr)
	if err != nil {
		var se *mysql.SQLError
		if !errors.As(err, &se) {
			// A malformed packet inside the exchange (caching_sha2's
			// full-auth password without its terminator, say): MySQL's
			// "Bad handshake", not vitess's generic 1105.
			return nil, badHandshake()
		}
		return nil, err
	}
	sent := len(clientData) > 0
	id, ok := g.(*identity)
	if !ok {
		return nil, accessDenied(user, addr, sent)
	}
	secure := m.a.transport == "unix" || c.TLSEnabled()
	if id.acct.requireSSL && !secure {
		return nil, accessDenied(user, addr, sent)
	}
	// As in MySQL, REQUIRE X509 needs a TLS connection with a verified client
	// certificate, so such an account cannot log in over the Unix socket.
	if id.acct.requireX509 && !m.a.x509Verified(c) {
		return nil, accessDenied(user, addr, sent)
	}
	if err := reserveSlot(c.Conn, id.acct); err != nil {
		return nil, err
	}
	markAuthenticated(c.Conn)
	if id.acct.plugin == PluginNative && m.AuthMethod.Name() == mysql.MysqlNativePassword {
		offerCertProof(c.Conn, id.acct.nativeHash, serverData)
	}
	m.a.hooks.Login(listenerLabel(m.a.transport), true)
	if m.a.onLogin != nil {
		m.a.onLogin(c, user)
	}
	return id, nil
}

// hasVerifiedPeer reports whether the client presented a certificate that
// crypto/tls verified against the channel's CA set.
func hasVerifiedPeer(c *mysql.Conn) bool {
	st := connTLS(c.Conn)
	return st != nil && len(st.PeerCertificates) > 0 && len(st.VerifiedChains) > 0
}

// x509Verified is the require_x509 check: the client's certificate must
// verify, for client authentication, against the client channel's CA set
// (ssl_ca / ssl_capath: the set docs/configuration.md names for these
// accounts), on whichever listener the connection came in. On the client
// port the TLS handshake already checked that. On cluster_listen the
// handshake checked the cluster CA set, which every node's own cluster
// certificate passes: that proves a node, not the person the account is
// for, so the certificate must verify against the client CA set too (and
// when the two sets are one, as with cluster_ssl_ca unset, the answer is
// the same on both ports), and none of its chain may be revoked by the
// client channel's CRLs. A channel without a CA set admits no
// require_x509 login; the system roots never count.
func (a *authServer) x509Verified(c *mysql.Conn) bool {
	if a.transport == "unix" || !hasVerifiedPeer(c) {
		return false
	}
	if a.clientChannel == nil {
		return a.transport == "tcp"
	}
	// The check a new handshake of the client channel would make: its CA
	// set (with a CA in its ssl_ca_overlap window until the window ends),
	// the validity, its CRLs.
	return a.clientChannel().PeerTrust(connTLS(c.Conn).PeerCertificates, time.Now()) == tlsctx.TrustYes
}
