package protocol

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
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
			gc = &guardedConn{Conn: c, l: l}
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

// guardedConn applies the connect timeout until the login succeeded, then
// the read timeout per read (the idle timeout), and the write timeout per
// flush.
//
// It also coalesces writes: vitess writes a packet as two Writes (the 4-byte
// header, then the payload) and, before login and for commands outside
// ComQuery, without its own buffer. Clients that read a packet with one
// read(2) (openssl s_client -starttls mysql reads the greeting that way) then
// see a short packet. guardedConn keeps what is written until the server is
// about to read (the response is complete: MySQL is request/response), the
// connection is closed, or writeFlushSize bytes are pending, so each
// response goes out in one write(2). Under TLS the same holds one level
// down: the records crypto/tls writes for one response leave together.
// The buffer is taken from a pool on the first Write and returned on flush,
// so an idle connection holds none.
type guardedConn struct {
	net.Conn
	l               *guardedListener
	connectDeadline time.Time
	authenticated   atomic.Bool
	closeOnce       sync.Once

	wmu  sync.Mutex
	wbuf *[]byte // pending bytes; nil when empty
	werr error   // first failed flush; returned from then on
}

// writeFlushSize is the pending size at which guardedConn writes without
// waiting for the end of the response: one TLS record's worth plus its
// header, so a large result set streams in 16 KiB writes.
const writeFlushSize = 16<<10 + 64

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *guardedConn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	switch {
	case !c.authenticated.Load() && !c.connectDeadline.IsZero():
		_ = c.Conn.SetReadDeadline(c.connectDeadline)
	case c.l.readTimeout > 0:
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.readTimeout))
	}
	return c.Conn.Read(p)
}

// Write queues p; it is sent by the next Read, Flush or Close, or at once
// when writeFlushSize bytes are pending. An error of an earlier flush is
// returned here.
func (c *guardedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if c.wbuf == nil {
		if len(p) >= writeFlushSize {
			if err := c.send(p); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		c.wbuf = writeBufs.Get().(*[]byte)
	}
	*c.wbuf = append(*c.wbuf, p...)
	if len(*c.wbuf) >= writeFlushSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush sends what is pending in one write.
func (c *guardedConn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *guardedConn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if c.wbuf == nil {
		return nil
	}
	b := c.wbuf
	c.wbuf = nil
	err := c.send(*b)
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		writeBufs.Put(b)
	}
	return err
}

// send writes p under the write timeout and remembers a failure.
func (c *guardedConn) send(p []byte) error {
	if c.l.writeTimeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.l.writeTimeout))
	}
	_, err := c.Conn.Write(p)
	if err != nil {
		c.werr = err
	}
	return err
}

// Close sends what is pending (an error packet before the close, say) and
// closes. If another goroutine is blocked in a flush (shutdown closing a
// stuck client), it closes without waiting for it.
func (c *guardedConn) Close() error {
	if c.wmu.TryLock() {
		_ = c.flushLocked()
		c.wmu.Unlock()
	}
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.forget(c) })
	return err
}

// markAuthenticated ends the connect timeout of a connection (plain or TLS).
func markAuthenticated(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if gc, ok := c.(*guardedConn); ok {
		gc.authenticated.Store(true)
		if gc.l.readTimeout == 0 {
			_ = gc.Conn.SetReadDeadline(time.Time{})
		}
	}
}
