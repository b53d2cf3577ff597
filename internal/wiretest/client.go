package wiretest

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Client speaks the MySQL client protocol by hand, so that a test can
// send what no driver sends. It is one hand-driven client connection: the socket (C, a
// *tls.Conn after Upgrade), the next sequence number and the greeting's
// scramble (Dial reads it).
type Client struct {
	C    net.Conn
	Seq  byte
	Salt []byte
}

// Connect connects and reads the greeting, with deadline d for the
// connection; it only returns errors, so flood goroutines can use it.
func Connect(addr string, d time.Duration) (*Client, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(d))
	r := &Client{C: c}
	g, err := r.Read()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("greeting: %w", err)
	}
	return r, g, nil
}

// Dial connects, reads the greeting and keeps its salt.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	r, g, err := Connect(addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { r.C.Close() })
	require.Equal(t, byte(10), g[0], "HandshakeV10")
	nul := bytes.IndexByte(g[1:], 0) + 1
	pos := nul + 1 + 4
	r.Salt = append([]byte{}, g[pos:pos+8]...)
	pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	r.Salt = append(r.Salt, g[pos:pos+12]...)
	return r
}

// Read reads one packet; the next send follows its sequence id.
func (r *Client) Read() ([]byte, error) {
	seq, p, err := ReadPacket(r.C)
	r.Seq = seq + 1
	return p, err
}

func (r *Client) Send(payload []byte) error {
	_, err := r.C.Write(Packet(r.Seq, payload))
	r.Seq++
	return err
}

// StartTLS sends the SSL request and runs the TLS handshake, verifying the
// server with ca.
func (r *Client) StartTLS(t testing.TB, ca *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	require.NoError(t, r.Upgrade(&tls.Config{RootCAs: pool, ServerName: "localhost"}))
}

// Upgrade sends the SSL request and runs the TLS handshake with cfg. From
// then on r speaks TLS, also when the handshake failed (a server's refusal
// of a client certificate may come with the first read).
func (r *Client) Upgrade(cfg *tls.Config) error {
	if err := r.Send(SSLRequest()); err != nil {
		return err
	}
	tc := tls.Client(r.C, cfg)
	r.C = tc
	return tc.Handshake()
}

// Oversize is the header of a packet of 16 MiB - 2 that vitess would
// allocate whole, with the next sequence id.
func (r *Client) Oversize() []byte { return []byte{0xfe, 0xff, 0xff, r.Seq} }

// FloodFor starts clients goroutines that run for d; each connects to addr
// again and again and hands the raw client (greeting read) and its own
// index to attempt, then closes the connection. A failed connect, or
// attempt returning an error, ends that goroutine with a test error. wait
// returns when all have ended.
func FloodFor(t testing.TB, addr string, clients int, d time.Duration, attempt func(r *Client, i int) error) (wait func()) {
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r, _, err := Connect(addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				err = attempt(r, i)
				r.C.Close()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	return wg.Wait
}

// HandshakeResponse is a HandshakeResponse41 (flags carry SSL when the
// connection was upgraded).
func (r *Client) HandshakeResponse(user string, auth []byte, plugin string) []byte {
	flags := uint32(CapsBase)
	if _, ok := r.C.(*tls.Conn); ok {
		flags |= CapSSL
	}
	return HandshakeResponse(flags, user, auth, plugin)
}

// Login sends a handshake response and returns the server's reply (an auth
// switch is answered with the same auth data).
func (r *Client) Login(user string, auth []byte, plugin string) ([]byte, error) {
	if err := r.Send(r.HandshakeResponse(user, auth, plugin)); err != nil {
		return nil, err
	}
	p, err := r.Read()
	if err != nil || len(p) == 0 || p[0] != 0xfe {
		return p, err
	}
	if err := r.Send(auth); err != nil { // auth switch
		return nil, err
	}
	return r.Read()
}

// ScrambleNative is the mysql_native_password reply for password and salt.
func ScrambleNative(salt []byte, password string) []byte {
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	h := sha1.New()
	h.Write(salt)
	h.Write(s2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= s1[i]
	}
	return out
}

// ClosedByServer reports whether the server closes the connection within a
// few seconds (reads reach EOF or a reset, not a timeout).
func (r *Client) ClosedByServer() bool {
	_ = r.C.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.Copy(io.Discard, r.C)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Flood writes header, then junk until the server stops reading; it returns
// the first packet the server sent back.
func (r *Client) Flood(header []byte, total int) ([]byte, error) {
	chunk := make([]byte, 32<<10)
	go func() {
		if _, err := r.C.Write(header); err != nil {
			return
		}
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := r.C.Write(chunk); err != nil {
				return
			}
		}
	}()
	return r.Read()
}

// ReadPayload reads one MySQL packet and returns its payload, whatever its
// sequence id.
func ReadPayload(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(c, p)
	return p, err
}

// ErrPacket decodes an ERR packet: number and message.
func ErrPacket(p []byte) (uint16, string, bool) {
	if len(p) < 9 || p[0] != 0xff {
		return 0, "", false
	}
	return binary.LittleEndian.Uint16(p[1:3]), string(p[9:]), true
}
