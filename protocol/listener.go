package protocol

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
)

// guardedListener wraps a net.Listener with the connection limit and the
// timeouts. Connections over the limit get MySQL's "Too many connections"
// error packet in place of the greeting and are closed; they never reach the
// protocol layer. It is safe for concurrent use.
type guardedListener struct {
	net.Listener
	limit          int // 0 = unlimited
	superSlot      int // 1: one connection more, kept for SUPER (TCP); 0 (the Unix socket)
	connectTimeout time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	onRefuse       func(net.Addr)
	// unavailable, if set, returns the error message every new connection
	// gets in place of the greeting while the listener's TLS channel has
	// no certificate (a degraded start), or "" in normal operation.
	unavailable func() string

	tlsConfig        *tls.Config // offered to clients when set
	maxAllowedPacket int64       // after login; 0 = unbounded
	onTLS            func(ok bool)
	onRefuseInput    func(net.Addr, error)
	// onAcceptError is told about every failed accept; permanent means
	// Accept returns it (the listener stops).
	onAcceptError func(err error, permanent bool, retryIn time.Duration)

	// gate, if set, keeps Accept from calling accept(2) while a reload
	// holds the descriptor reserve (see AcceptGate).
	gate *AcceptGate

	closeOnce sync.Once
	closed    chan struct{} // closed by Close

	mu     sync.Mutex
	active map[*guardedConn]struct{}
}

// Accept backoff after a temporary error (out of file descriptors, a
// connection aborted before accept): 5 ms doubling to 1 s, as net/http.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// temporaryAcceptError reports errors after which accepting again later can
// work. MariaDB logs "Error in accept: Too many open files" and goes on.
func temporaryAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func newGuardedListener(l net.Listener, limit int, connect, read, write time.Duration) *guardedListener {
	return &guardedListener{Listener: l, limit: limit, connectTimeout: connect, readTimeout: read, writeTimeout: write,
		active: map[*guardedConn]struct{}{}, closed: make(chan struct{})}
}

// Close stops accepting; Accept returns net.ErrClosed.
func (l *guardedListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.gate.remove(l.Listener)
	})
	return l.Listener.Close()
}

// Accept returns the next connection within the limit. A temporary error is
// reported and retried with backoff; any other error is reported as
// permanent and returned, which ends vitess's accept loop.
//
// The limit admits one connection more than max_connections, as MySQL does:
// the extra one is kept for an account with SUPER (or CONNECTION_ADMIN),
// which reserveSlot checks after the login.
func (l *guardedListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, interrupted, err := l.gate.accept(l.Listener, l.closed)
		if interrupted {
			continue // the gate was paused: wait for it
		}
		if err != nil {
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			default:
			}
			if !temporaryAcceptError(err) {
				if l.onAcceptError != nil {
					l.onAcceptError(err, true, 0)
				}
				return nil, err
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			if l.onAcceptError != nil {
				l.onAcceptError(err, false, delay)
			}
			select {
			case <-time.After(delay):
			case <-l.closed:
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if l.unavailable != nil {
			if msg := l.unavailable(); msg != "" {
				go refuse(c, sqlcmd.ErrSSLLibrary, mysql.SSUnknownSQLState, msg) // no certificate on this channel (see Server docs)
				continue
			}
		}
		l.mu.Lock()
		over := l.limit > 0 && len(l.active) >= l.limit+l.superSlot
		var gc *guardedConn
		if !over {
			gc = &guardedConn{Conn: c, l: l, tlsConfig: l.tlsConfig}
			if l.connectTimeout > 0 {
				gc.connectDeadline = time.Now().Add(l.connectTimeout)
			}
			l.active[gc] = struct{}{}
		}
		l.mu.Unlock()
		if over {
			go refuse(c, mysql.ERConCount, "08004", "Too many connections") // MySQL's state for 1040
			if l.onRefuse != nil {
				l.onRefuse(c.RemoteAddr())
			}
			continue
		}
		if !gc.connectDeadline.IsZero() {
			// Until the login, reads and writes (the TLS handshake
			// included) share this deadline; guardedConn lifts it then.
			_ = c.SetDeadline(gc.connectDeadline)
		}
		return gc, nil
	}
}

// Active returns the number of open connections.
func (l *guardedListener) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.active)
}

// closeAll closes every open connection (the end of a graceful shutdown).
func (l *guardedListener) closeAll() {
	l.mu.Lock()
	conns := make([]*guardedConn, 0, len(l.active))
	for c := range l.active {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (l *guardedListener) forget(c *guardedConn) {
	l.mu.Lock()
	delete(l.active, c)
	l.mu.Unlock()
}

// reserveSlot is the max_connections + 1 rule after a login: when the
// listener holds more than max_connections connections, this one is the
// extra slot, which only an account with SUPER or CONNECTION_ADMIN may keep.
func reserveSlot(c net.Conn, acct *account) error {
	gc, ok := c.(*guardedConn)
	if !ok || gc.l.limit <= 0 || gc.l.Active() <= gc.l.limit {
		return nil
	}
	for _, p := range acct.privileges {
		if p == "SUPER" || p == "CONNECTION_ADMIN" {
			return nil
		}
	}
	return mysql.NewSQLError(mysql.ERConCount, "08004", "Too many connections")
}

// refuse writes one MySQL error packet (sequence 0, as a server does in place
// of its greeting) and closes the connection.
func refuse(c net.Conn, num uint16, state, msg string) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write(errPacket(0, num, state, msg))
}
