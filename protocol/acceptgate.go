package protocol

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// AcceptGate stops every listener that shares it from calling accept(2)
// while it is paused, so descriptors freed during the pause go to whoever
// paused it and never to a new connection. The daemon holds a reserve of
// descriptors for a reload that finds the process out of them (a
// connection flood): it pauses the gate, waits for it (Pause returns once
// no listener is inside accept), closes the reserve, reloads in the room
// left, refills the reserve and resumes. Connections that arrive meanwhile
// wait in the kernel's listen backlog, as under any slow accept loop.
//
// A listener blocked in accept is woken by a deadline in the past (the
// Go runtime's poller returns at once), and then waits for Resume.
// Pause and Resume nest: the gate opens when every Pause has its Resume.
// Safe for concurrent use; a nil gate never pauses.
type AcceptGate struct {
	mu        sync.Mutex
	idle      *sync.Cond    // signalled when inAccept drops to 0
	paused    int           // Pause calls without their Resume
	resumed   chan struct{} // closed at the Resume that opens the gate
	inAccept  int           // listeners between enter and leave
	listeners map[deadliner]struct{}
}

// deadliner is a listener whose Accept a deadline can interrupt
// (*net.TCPListener, *net.UnixListener).
type deadliner interface {
	SetDeadline(time.Time) error
}

// NewAcceptGate returns an open gate.
func NewAcceptGate() *AcceptGate {
	g := &AcceptGate{resumed: make(chan struct{}), listeners: map[deadliner]struct{}{}}
	close(g.resumed)
	g.idle = sync.NewCond(&g.mu)
	return g
}

// aLongTimeAgo is a deadline that makes a blocked Accept return at once.
var aLongTimeAgo = time.Unix(1, 0)

// Pause closes the gate and returns once no listener sharing it is inside
// accept: from then until Resume, no descriptor is taken by an accept.
func (g *AcceptGate) Pause() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == 0 {
		g.resumed = make(chan struct{})
	}
	g.paused++
	for l := range g.listeners {
		_ = l.SetDeadline(aLongTimeAgo)
	}
	for g.inAccept > 0 {
		g.idle.Wait()
	}
}

// Resume undoes one Pause; the last one lets the listeners accept again.
func (g *AcceptGate) Resume() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == 0 {
		return
	}
	g.paused--
	if g.paused > 0 {
		return
	}
	for l := range g.listeners {
		_ = l.SetDeadline(time.Time{})
	}
	close(g.resumed)
}

// Paused reports whether the gate is closed.
func (g *AcceptGate) Paused() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused > 0
}

// add registers a listener whose Accept goes through the gate.
func (g *AcceptGate) add(l net.Listener) {
	if g == nil {
		return
	}
	if d, ok := l.(deadliner); ok {
		g.mu.Lock()
		g.listeners[d] = struct{}{}
		if g.paused > 0 {
			_ = d.SetDeadline(aLongTimeAgo)
		}
		g.mu.Unlock()
	}
}

// remove forgets a listener (it is closed).
func (g *AcceptGate) remove(l net.Listener) {
	if g == nil {
		return
	}
	if d, ok := l.(deadliner); ok {
		g.mu.Lock()
		delete(g.listeners, d)
		g.mu.Unlock()
	}
}

// enter waits until the gate is open and counts the caller as inside
// accept; it returns false when closed is closed first.
func (g *AcceptGate) enter(closed <-chan struct{}) bool {
	if g == nil {
		return true
	}
	for {
		g.mu.Lock()
		if g.paused == 0 {
			g.inAccept++
			g.mu.Unlock()
			return true
		}
		wait := g.resumed
		g.mu.Unlock()
		select {
		case <-wait:
		case <-closed:
			return false
		}
	}
}

// leave ends what enter began.
func (g *AcceptGate) leave() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.inAccept--
	if g.inAccept == 0 {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// accept calls l.Accept through the gate. interrupted reports an Accept
// that the gate's deadline ended (no connection, no error to report): the
// caller calls again, which waits for the gate to open.
func (g *AcceptGate) accept(l net.Listener, closed <-chan struct{}) (c net.Conn, interrupted bool, err error) {
	if !g.enter(closed) {
		return nil, false, net.ErrClosed
	}
	c, err = l.Accept()
	g.leave()
	if g != nil && err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, true, nil
	}
	return c, false, err
}

// Listener returns l with its Accept going through the gate (for a
// listener protocol does not own, such as metrics_listen). Close
// unregisters it and ends a wait for the gate.
func (g *AcceptGate) Listener(l net.Listener) net.Listener {
	g.add(l)
	return &gatedListener{Listener: l, g: g, closed: make(chan struct{})}
}

type gatedListener struct {
	net.Listener
	g      *AcceptGate
	once   sync.Once
	closed chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, interrupted, err := l.g.accept(l.Listener, l.closed)
		if !interrupted {
			return c, err
		}
	}
}

func (l *gatedListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.g.remove(l.Listener)
	})
	return l.Listener.Close()
}
