package protocol

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolthub/vitess/go/mysql"
)

// PreLoginBudget is how many bytes a client may send before it is
// authenticated: the TLS handshake (client certificate chain included) and
// every MySQL packet up to the login. A real client's handshake response is
// under 2 KiB and its TLS handshake under 8 KiB even with a client
// certificate chain. A packet that would cross the budget is refused from
// its header, before its payload is read or any buffer is allocated for it;
// the client gets 1043 "Bad handshake" (what MySQL and MariaDB answer to a
// handshake they cannot use) and the connection is closed.
const PreLoginBudget = 64 << 10

// DefaultMaxAllowedPacket is the admin listeners' max_allowed_packet
// default: 512 KiB. ssld's statements are under 1 KiB and the parser takes
// at most sqlcmd.MaxStatementBytes (256 KiB) per statement; twice that
// still carries a multi-statement script of thousands of admin statements.
// When a message is handed to vitess it exists up to three times (the bytes
// the transport read, vitess's packet buffer, the statement string vitess
// makes of it): 1.5 MiB per connection, about 230 MiB for a full house of
// max_connections (151) clients: inside the 384 MiB of the Kubernetes
// manifest, where MySQL 8.0's 64 MiB default would allow 28 GiB.
const DefaultMaxAllowedPacket = 512 << 10

// preReadAbove is the payload size from which the transport reads a
// packet after login in full before vitess sees its header. vitess
// allocates a packet's whole buffer from its header (16 MiB for the five
// bytes ff ff ff 00 03), and would hold it until the payload arrived or
// read_timeout (8 hours) passed; read here, the memory grows with the
// bytes that actually arrived. A smaller packet goes straight through:
// vitess allocates at most this much ahead.
const preReadAbove = 4 << 10

// MySQL packet framing.
const (
	maxPacketPayload = 1<<24 - 1 // a payload of this size continues in the next packet
	capClientSSL     = 0x00000800
	sslRequestLen    = 32
	// handshakeFixedLen is the fixed part of a handshake response
	// (capabilities, max packet size, character set, 23 reserved bytes);
	// vitess slices past it without checking, so a shorter response is
	// refused here as MySQL refuses it: 1043 Bad handshake.
	handshakeFixedLen = 32
)

var (
	errPreLoginBudget = errors.New("client sent more than the pre-login budget before authenticating")
	errPacketTooLarge = errors.New("client sent a message larger than max_allowed_packet")
	errBadHandshake   = errors.New("client sent a handshake response that does not parse")
)

// guardedConn is the transport of one TCP connection: the connection
// limit's bookkeeping, the timeouts, TLS, the input bounds and write
// coalescing. vitess sees the plain MySQL packet stream.
//
// Timeouts: the connect timeout applies until the login succeeded (one
// deadline on the socket, set at accept), then the read timeout per read
// (the idle timeout), and the write timeout per flush.
//
// TLS: the listener offers TLS (CLIENT_SSL in the greeting) when it has a
// config, and the upgrade happens here, not in vitess: when the client's
// first packet is an SSL request, guardedConn runs the TLS handshake and
// hands vitess the handshake response that follows, renumbered as if it had
// come first; its replies are renumbered back until the login is over (the
// command phase restarts numbering at 0 on both sides). That keeps the
// decrypted packet headers visible to the input bounds below, which is the
// point: vitess allocates a packet's buffer from its header.
//
// Input bounds: before login PreLoginBudget (1043 over it); after login
// max_allowed_packet on a reassembled multi-packet message (1153 over it).
// Either way the error packet is sent and the connection closed. After
// login a packet over preReadAbove is read in full before vitess sees its
// header, so that vitess never allocates ahead of the bytes received. An empty
// command packet is answered as MySQL answers COM_SLEEP (1047 "Unknown
// command") and the connection goes on.
//
// Write coalescing: vitess writes a packet as two Writes (header, payload),
// and before login and for commands outside COM_QUERY without a buffer of its
// own. Clients that read a packet with one read(2) (openssl s_client
// -starttls mysql reads the greeting that way) then see a short packet.
// guardedConn keeps what is written until the server is about to read (the
// response is complete: MySQL is request/response), the connection is
// closed, or writeFlushSize bytes are pending, so each response goes out in
// one write(2) (one TLS record for small responses). The buffer comes from a
// pool on the first Write and goes back on flush: an idle connection holds
// none.
//
// Read and Write are called from the connection's goroutine; Close may come
// from another (shutdown).
type guardedConn struct {
	net.Conn // the socket
	l        *guardedListener

	connectDeadline time.Time
	authenticated   atomic.Bool
	closeOnce       sync.Once

	tlsConfig *tls.Config // nil: TLS not offered
	tc        atomic.Pointer[tls.Conn]
	served    *x509.Certificate // the leaf the handshake served (served.go); connection goroutine only

	// read side (connection goroutine only)
	rawRead   int64  // bytes read from the socket before login
	rOut      []byte // transformed header bytes not yet handed out
	rHdr      [5]byte
	rRemain   int            // payload bytes of the current packet still to hand out
	rMsg      int64          // bytes of the current multi-packet message so far (after login)
	rLastSeq  byte           // sequence id of the last packet as the client numbered it
	shift     byte           // 1 after a TLS upgrade, 1 more per writeLoginPacket, until the login is over
	loggedIn  atomic.Bool    // the command phase has started (first read after login)
	rFirstPkt bool           // the first packet was seen
	rResponse bool           // the handshake response was seen (after a TLS upgrade, if any)
	cmds      *commandReader // the command hook (commandhook.go), set at login

	// write side
	wmu      sync.Mutex
	wbuf     *[]byte // pending bytes; nil when empty
	werr     error   // first failed flush; returned from then on
	whdr     [4]byte
	whdrN    int
	wRemain  int    // payload bytes of the packet being written
	wGreeted bool   // the greeting went out (patched to offer TLS)
	okInfo   []byte // the info string for the login's OK packet (certproof.go); nil: none
}

// writeFlushSize is the pending size at which guardedConn writes without
// waiting for the end of the response: one TLS record's worth plus headers,
// so a large result set streams in 16 KiB writes.
const writeFlushSize = 16<<10 + 64

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// rawReader counts the socket bytes read before login (TLS records
// included) against the budget.
type rawReader struct{ c *guardedConn }

func (r rawReader) Read(p []byte) (int, error) {
	n, err := r.c.Conn.Read(p)
	if !r.c.loggedIn.Load() {
		r.c.rawRead += int64(n)
	}
	return n, err
}

// tlsTransport is what crypto/tls runs over: the socket, with pre-login
// reads counted.
type tlsTransport struct {
	net.Conn
	c *guardedConn
}

func (t tlsTransport) Read(p []byte) (int, error) { return rawReader{t.c}.Read(p) }

// src is where MySQL packets come from: the TLS connection after an upgrade,
// the socket before.
func (c *guardedConn) src() io.Reader {
	if tc := c.tc.Load(); tc != nil {
		return tc
	}
	return rawReader{c}
}

func (c *guardedConn) dst() io.Writer {
	if tc := c.tc.Load(); tc != nil {
		return tc
	}
	return c.Conn
}

// TLSState is the state of the TLS connection, or nil without TLS.
func (c *guardedConn) TLSState() *tls.ConnectionState {
	tc := c.tc.Load()
	if tc == nil {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// Read implements net.Conn for vitess. After login the command hook
// (commandhook.go) sees every command first.
func (c *guardedConn) Read(p []byte) (int, error) {
	if c.cmds != nil {
		return c.cmds.Read(p)
	}
	return c.read(p)
}

// read hands out the client's packets: renumbered before login, checked
// against the input bounds.
func (c *guardedConn) read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	loggedIn := c.loggedIn.Load()
	if !loggedIn && c.authenticated.Load() {
		// The OK of the login went out with the flush above: from here on
		// packets are numbered from 0 per command on both sides.
		loggedIn, c.shift = true, 0
		c.loggedIn.Store(true)
		_ = c.Conn.SetDeadline(time.Time{}) // the connect timeout is over
	}
	// Before login the connect deadline, set on the socket once when the
	// connection was accepted, covers reads and writes (the TLS handshake
	// writes too); after login the read timeout starts again at each read.
	if loggedIn && c.l.readTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.readTimeout))
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.rOut) > 0 {
		n := copy(p, c.rOut)
		c.rOut = c.rOut[n:]
		if len(c.rOut) == 0 {
			c.rOut = nil // a pre-read packet's buffer is not kept while idle
		}
		return n, nil
	}
	if c.rRemain > 0 {
		n, err := c.src().Read(p[:min(len(p), c.rRemain)])
		c.rRemain -= n
		if err == nil && !loggedIn && c.rawRead > PreLoginBudget {
			err = c.refuse(erHandshake, mysql.SSNetError, "Bad handshake", errPreLoginBudget)
		}
		return n, err
	}
	if err := c.nextHeader(); err != nil {
		return 0, err
	}
	n := copy(p, c.rOut)
	c.rOut = c.rOut[n:]
	if len(c.rOut) == 0 {
		c.rOut = nil
	}
	return n, nil
}

// nextHeader reads the next packet header, checks it against the bounds and
// leaves the header vitess is to see in rOut (and the payload length in
// rRemain).
func (c *guardedConn) nextHeader() error {
	for {
		h := c.rHdr[:4]
		if _, err := io.ReadFull(c.src(), h); err != nil {
			return err
		}
		length := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		c.rLastSeq = h[3]
		if c.loggedIn.Load() {
			if c.rMsg == 0 && length == 0 && h[3] == 0 {
				// An empty command packet. MySQL reads it as COM_SLEEP and
				// answers 1047 "Unknown command"; vitess would index it.
				// Answered here, and vitess never sees it.
				if _, err := c.Write(errPacket(1, mysql.ERUnknownComError, mysql.SSUnknownComError, "Unknown command")); err != nil {
					return err
				}
				if err := c.Flush(); err != nil {
					return err
				}
				continue
			}
			c.rMsg += int64(length)
			if limit := c.l.maxAllowedPacket; limit > 0 && c.rMsg > limit {
				return c.refuse(mysql.ERNetPacketTooLarge, mysql.SSNetError, "Got a packet bigger than 'max_allowed_packet' bytes", errPacketTooLarge)
			}
			if length < maxPacketPayload {
				c.rMsg = 0 // the message ends with this packet
			}
			if length > preReadAbove {
				pkt, err := c.readPacket(h, length)
				if err != nil {
					return err
				}
				c.rOut = pkt
				return nil
			}
			c.rRemain = length
			c.rOut = h
			return nil
		}
		if c.rawRead+int64(length) > PreLoginBudget {
			return c.refuse(erHandshake, mysql.SSNetError, "Bad handshake", errPreLoginBudget)
		}
		first := !c.rFirstPkt
		c.rFirstPkt = true
		if first && length == sslRequestLen && c.tlsConfig != nil && c.tc.Load() == nil {
			body := make([]byte, sslRequestLen)
			if _, err := io.ReadFull(c.src(), body); err != nil {
				return err
			}
			if binary.LittleEndian.Uint32(body)&capClientSSL == 0 {
				// A 32-byte handshake response without TLS: vitess decides.
				c.rResponse = true
				c.rOut = append(append(make([]byte, 0, 4+sslRequestLen), h...), body...)
				return nil
			}
			if err := c.upgrade(); err != nil {
				return err
			}
			continue // the handshake response follows, inside TLS
		}
		h[3] -= c.shift
		if !c.rResponse {
			c.rResponse = true
			if length < handshakeFixedLen {
				return c.refuse(erHandshake, mysql.SSNetError, "Bad handshake", errBadHandshake)
			}
			// The handshake response is read whole (it is inside the
			// budget) and checked where vitess would mishandle it.
			pkt, err := c.readPacket(h, length)
			if err != nil {
				return err
			}
			if !handshakeResponseSane(pkt[4:]) {
				return c.refuse(erHandshake, mysql.SSNetError, "Bad handshake", errBadHandshake)
			}
			c.rOut = pkt
			return nil
		}
		c.rRemain = length
		c.rOut = h
		return nil
	}
}

// readPacket reads the payload of a packet whose header h announced length
// bytes and returns header and payload in one slice. The buffer starts at
// preReadAbove and doubles as bytes arrive, up to the announced size, so
// what it holds is at most twice what the client sent. The whole packet
// must arrive within the read timeout set by the Read that asked.
func (c *guardedConn) readPacket(h []byte, length int) ([]byte, error) {
	want := 4 + length
	buf := make([]byte, 4, min(want, 4+preReadAbove))
	copy(buf, h)
	for len(buf) < want {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(want, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.src().Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < want {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// capPluginAuthLenenc is CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: the auth
// response is length-encoded.
const capPluginAuthLenenc = 0x00200000

// handshakeResponseSane reports whether vitess can parse the handshake
// response p without a panic: with a length-encoded auth response, the
// length must not pass the end of the packet. vitess converts the 8-byte
// form (fe ff ff ff ff ff ff ff ff) to a negative int and panics in
// make([]byte, -1); MySQL answers such a response with 1043. Whatever
// else is wrong with p, vitess refuses itself (1043 via
// ConnectionAborted).
func handshakeResponseSane(p []byte) bool {
	if len(p) < handshakeFixedLen || binary.LittleEndian.Uint32(p)&capPluginAuthLenenc == 0 {
		return true
	}
	nul := bytes.IndexByte(p[handshakeFixedLen:], 0)
	if nul < 0 {
		return true
	}
	pos := handshakeFixedLen + nul + 1
	if pos >= len(p) {
		return true
	}
	var n uint64
	switch p[pos] {
	case 0xfc:
		if pos+2 >= len(p) {
			return true
		}
		n, pos = uint64(binary.LittleEndian.Uint16(p[pos+1:])), pos+3
	case 0xfd:
		if pos+3 >= len(p) {
			return true
		}
		n, pos = uint64(p[pos+1])|uint64(p[pos+2])<<8|uint64(p[pos+3])<<16, pos+4
	case 0xfe:
		if pos+8 >= len(p) {
			return true
		}
		n, pos = binary.LittleEndian.Uint64(p[pos+1:]), pos+9
	default:
		n, pos = uint64(p[pos]), pos+1
	}
	return n <= uint64(len(p)-pos)
}

// upgrade runs the server side of the TLS handshake after an SSL request.
func (c *guardedConn) upgrade() error {
	growStack(0)
	tc := tls.Server(tlsTransport{c.Conn, c}, c.tlsConfig)
	if err := tc.Handshake(); err != nil {
		if c.l.onTLS != nil {
			c.l.onTLS(false)
		}
		return err
	}
	if c.l.onTLS != nil {
		c.l.onTLS(true)
	}
	c.wmu.Lock()
	c.tc.Store(tc)
	c.wmu.Unlock()
	c.shift = 1
	return nil
}

// errLoginPacket: a packet of the login exchange was to be written after
// the login.
var errLoginPacket = errors.New("a login exchange packet outside the login")

// writeLoginPacket writes one packet of the login exchange that vitess does
// not write itself (caching_sha2_password's AuthMoreData), numbered after
// the client's last packet, and renumbers the rest of the login by one more
// on both sides, as after a TLS upgrade: vitess's own sequence number does
// not count this packet. It must follow a read of the login exchange with
// nothing of vitess's pending (vitess flushes before handing the response
// to the auth method), on the connection's goroutine.
func (c *guardedConn) writeLoginPacket(payload []byte) error {
	if c.loggedIn.Load() || c.authenticated.Load() {
		return errLoginPacket
	}
	// Write adds the shift: the packet goes out as c.rLastSeq+1.
	seq := c.rLastSeq + 1 - c.shift
	pkt := make([]byte, 4+len(payload))
	pkt[0], pkt[1], pkt[2], pkt[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), seq
	copy(pkt[4:], payload)
	if _, err := c.Write(pkt); err != nil {
		return err
	}
	c.shift++
	return nil
}

// refuse sends one error packet, numbered after the client's last packet,
// and returns cause for the read that asked.
func (c *guardedConn) refuse(num uint16, state, msg string, cause error) error {
	c.wmu.Lock()
	c.dropPendingLocked()
	if c.werr == nil {
		_ = c.send(errPacket(c.rLastSeq+1, num, state, msg))
	}
	c.werr = cause // vitess's own error packet, if any, is not sent
	c.wmu.Unlock()
	if c.l.onRefuseInput != nil {
		c.l.onRefuseInput(c.RemoteAddr(), cause)
	}
	return cause
}

// errPacket frames a MySQL ERR packet with sequence id seq.
func errPacket(seq byte, num uint16, state, msg string) []byte {
	payload := make([]byte, 0, 9+len(msg))
	payload = append(payload, 0xff)
	payload = binary.LittleEndian.AppendUint16(payload, num)
	payload = append(payload, '#')
	payload = append(payload, state...)
	payload = append(payload, msg...)
	pkt := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(pkt, payload...)
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
	n := len(p)
	if c.wbuf == nil {
		if c.loggedIn.Load() && len(p) >= writeFlushSize {
			if err := c.send(p); err != nil {
				return 0, err
			}
			return n, nil
		}
		c.wbuf = writeBufs.Get().(*[]byte)
	}
	if c.loggedIn.Load() {
		*c.wbuf = append(*c.wbuf, p...)
	} else {
		c.appendRenumbered(p)
	}
	if len(*c.wbuf) >= writeFlushSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// appendRenumbered queues the packets of the login phase, adding the shift
// of a TLS upgrade to their sequence ids.
func (c *guardedConn) appendRenumbered(p []byte) {
	for len(p) > 0 {
		if c.wRemain > 0 {
			k := min(c.wRemain, len(p))
			*c.wbuf = append(*c.wbuf, p[:k]...)
			c.wRemain -= k
			p = p[k:]
			continue
		}
		k := copy(c.whdr[c.whdrN:], p)
		c.whdrN += k
		p = p[k:]
		if c.whdrN < 4 {
			return
		}
		c.whdrN = 0
		c.whdr[3] += c.shift
		c.wRemain = int(c.whdr[0]) | int(c.whdr[1])<<8 | int(c.whdr[2])<<16
		*c.wbuf = append(*c.wbuf, c.whdr[:]...)
	}
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
	if !c.wGreeted {
		c.wGreeted = true
		if c.tlsConfig != nil {
			offerTLS(*c.wbuf)
		}
	}
	b := c.wbuf
	c.wbuf = nil
	p := *b
	if c.okInfo != nil && c.authenticated.Load() {
		// The login's OK packet is pending: the first flush after the
		// login succeeded carries it.
		p = addOKInfo(p, c.okInfo)
		c.okInfo = nil
	}
	err := c.send(p)
	putWriteBuf(b)
	return err
}

func (c *guardedConn) dropPendingLocked() {
	if c.wbuf != nil {
		putWriteBuf(c.wbuf)
		c.wbuf = nil
	}
}

func putWriteBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		writeBufs.Put(b)
	}
}

// offerTLS sets CLIENT_SSL in the capability flags of the greeting (a
// HandshakeV10 packet, header included) that vitess wrote without it,
// because vitess does not run the TLS upgrade itself.
func offerTLS(pkt []byte) {
	if len(pkt) < 5 || pkt[3] != 0 || pkt[4] != 10 {
		return
	}
	p := pkt[4:]
	nul := -1
	for i := 1; i < len(p); i++ {
		if p[i] == 0 {
			nul = i
			break
		}
	}
	// version NUL, connection id (4), auth-plugin-data-part-1 (8), filler (1)
	pos := nul + 1 + 4 + 8 + 1
	if nul < 0 || pos+2 > len(p) {
		return
	}
	p[pos+1] |= capClientSSL >> 8
}

// send writes p under the write timeout and remembers a failure.
func (c *guardedConn) send(p []byte) error {
	// Before login the socket's connect deadline (set at accept) applies.
	if c.loggedIn.Load() && c.l.writeTimeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.l.writeTimeout))
	}
	_, err := c.dst().Write(p)
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

// markAuthenticated ends the connect timeout of a connection.
func markAuthenticated(c net.Conn) {
	if gc, ok := c.(*guardedConn); ok {
		gc.authenticated.Store(true)
	}
}

// connTLS is the TLS state of a connection vitess serves, or nil.
func connTLS(c net.Conn) *tls.ConnectionState {
	switch x := c.(type) {
	case *guardedConn:
		return x.TLSState()
	case *tls.Conn:
		st := x.ConnectionState()
		return &st
	}
	return nil
}

// connHasTLS reports whether a connection vitess serves runs over TLS,
// without copying its connection state as connTLS does.
func connHasTLS(c net.Conn) bool {
	switch x := c.(type) {
	case *guardedConn:
		return x.tc.Load() != nil
	case *tls.Conn:
		return true
	}
	return false
}

// growStack makes the connection's goroutine stack large enough for the
// TLS handshake before it starts. A new goroutine's stack is smaller than
// the handshake needs (key exchange, signature, HKDF run deep), and Go
// grows a stack by copying it and adjusting every frame on it: done inside
// the handshake that walk covers twenty-odd frames, once or twice per
// connection, and was 2-4% of ssld's CPU per new TLS connection (perf, see
// docs/performance.md). One frame of 8 KiB here, a few frames deep, has
// the runtime grow the stack once, cheaply, to the size the handshake would
// have reached anyway (16 KiB); the collector shrinks it again as for any
// idle goroutine.
//
//go:noinline
func growStack(i int) byte {
	var b [8 << 10]byte
	b[i] = 1
	return b[i+1]
}
