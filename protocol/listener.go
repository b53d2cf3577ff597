package protocol

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/dolthub/vitess/go/mysql"
)

// erSSLLibrary is ER_DA_SSL_LIBRARY_ERROR, what a TCP listener answers
// while its channel has no certificate (see Server docs).
const erSSLLibrary = 3888

// guardedListener wraps a net.Listener with the connection limit and the
// timeouts. Connections over the limit get MySQL's "Too many connections"
// error packet in place of the greeting and are closed; they never reach the
// protocol layer. It is safe for concurrent use.
type guardedListener struct {
	net.Listener
	limit          int // 0 = unlimited
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

	mu     sync.Mutex
	active map[*guardedConn]struct{}
}

func newGuardedListener(l net.Listener, limit int, connect, read, write time.Duration) *guardedListener {
	return &guardedListener{Listener: l, limit: limit, connectTimeout: connect, readTimeout: read, writeTimeout: write,
		active: map[*guardedConn]struct{}{}}
}

// Accept returns the next connection within the limit.
func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.unavailable != nil {
			if msg := l.unavailable(); msg != "" {
				go refuse(c, erSSLLibrary, "HY000", msg)
				continue
			}
		}
		l.mu.Lock()
		over := l.limit > 0 && len(l.active) >= l.limit
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

// refuse writes one MySQL error packet (sequence 0, as a server does in place
// of its greeting) and closes the connection.
func refuse(c net.Conn, num uint16, state, msg string) {
	defer c.Close()
	payload := make([]byte, 0, 9+len(msg))
	payload = append(payload, 0xff)
	payload = binary.LittleEndian.AppendUint16(payload, num)
	payload = append(payload, '#')
	payload = append(payload, state...)
	payload = append(payload, msg...)
	pkt := make([]byte, 4, 4+len(payload))
	pkt[0], pkt[1], pkt[2], pkt[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), 0
	pkt = append(pkt, payload...)
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write(pkt)
}
