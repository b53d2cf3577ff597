package protocol

import (
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/tlsctx"
)

// procList is the table of open connections of every listener of a Server:
// what SHOW PROCESSLIST and COM_PROCESS_INFO list, what KILL acts on, and
// the counters of COM_STATISTICS. It is safe for concurrent use; each entry
// is written by its own connection's goroutine and read by others under the
// entry's lock.
type procList struct {
	started   time.Time
	questions atomic.Uint64

	tlsAccepts // Ssl_accepts, Ssl_finished_accepts (accepts.go)

	// lastID is the last connection id given out. Each vitess listener
	// numbers its connections from 1, so the client port, the cluster port
	// and the socket would hand out the same ids; add renumbers every
	// connection from this one counter before its greeting is written.
	lastID atomic.Uint32

	mu    sync.Mutex
	procs map[uint32]*proc
}

// proc is one connection.
type proc struct {
	id   uint32
	conn *mysql.Conn // for KILL CONNECTION: Close is safe from any goroutine

	mu      sync.Mutex
	user    string
	host    string // set by the first List
	db      string
	command string
	since   time.Time
	info    string
	cancel  context.CancelFunc  // of the running statement (KILL QUERY)
	peer    *tlsctx.PeerSession // the tracked client certificate (sessions.go); nil when none
}

func newProcList() *procList {
	return &procList{started: time.Now(), procs: map[uint32]*proc{}}
}

// add registers a connection that has just been accepted and gives it its
// server-wide id (vitess calls NewConnection before it writes the greeting
// that carries the id to the client).
func (l *procList) add(c *mysql.Conn) *proc {
	c.ConnectionID = l.lastID.Add(1)
	// MySQL's name for a connection that has not logged in yet.
	// The Host column is formatted when a list asks for it, not on every
	// connect.
	p := &proc{id: c.ConnectionID, conn: c, user: "unauthenticated user", command: "Connect", since: time.Now()}
	l.mu.Lock()
	l.procs[p.id] = p
	l.mu.Unlock()
	return p
}

func (l *procList) remove(id uint32) {
	l.mu.Lock()
	p := l.procs[id]
	delete(l.procs, id)
	l.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		peer := p.peer
		p.mu.Unlock()
		peer.Untrack()
	}
}

func (l *procList) get(id uint32) *proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[id]
}

// RecoveredPanics implements sqlcmd.PanicCounter (SHOW STATUS
// Ssld_recovered_panics): the process-wide count of RecoveredPanics.
func (l *procList) RecoveredPanics() int64 { return RecoveredPanics() }

// count is the number of open connections (COM_STATISTICS Threads).
func (l *procList) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.procs)
}

// List implements sqlcmd.Processes.
func (l *procList) List() []sqlcmd.Process {
	l.mu.Lock()
	ps := make([]*proc, 0, len(l.procs))
	for _, p := range l.procs {
		ps = append(ps, p)
	}
	l.mu.Unlock()
	now := time.Now()
	out := make([]sqlcmd.Process, 0, len(ps))
	for _, p := range ps {
		p.mu.Lock()
		if p.host == "" {
			p.host = clientHost(p.conn)
		}
		out = append(out, sqlcmd.Process{ID: p.id, User: p.user, Host: p.host, DB: p.db, Command: p.command,
			Time: int64(now.Sub(p.since) / time.Second), State: stateOf(p.command), Info: p.info})
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// stateOf is the State column MySQL shows for a command.
func stateOf(command string) string {
	switch command {
	case "Query":
		return "executing"
	case "Connect":
		return "login"
	}
	return ""
}

// Kill implements sqlcmd.Processes.
func (l *procList) Kill(id uint32, queryOnly bool) bool {
	p := l.get(id)
	if p == nil {
		return false
	}
	if queryOnly {
		p.mu.Lock()
		cancel := p.cancel
		p.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return true
	}
	p.conn.Close()
	return true
}

// Questions implements sqlcmd.Processes.
func (l *procList) Questions() uint64 { return l.questions.Load() }

// loggedIn records the account of a connection after login.
func (p *proc) loggedIn(user string) {
	p.mu.Lock()
	p.user, p.command, p.since = user, "Sleep", time.Now()
	p.mu.Unlock()
}

// begin marks the start of a statement; the returned context is cancelled
// by KILL QUERY.
func (p *proc) begin(ctx context.Context, query string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	p.command, p.since, p.info, p.cancel = "Query", time.Now(), query, cancel
	p.mu.Unlock()
	return ctx, cancel
}

// end marks the end of a statement; db is the session's database now.
func (p *proc) end(db string) {
	p.mu.Lock()
	p.command, p.since, p.info, p.cancel, p.db = "Sleep", time.Now(), "", nil, db
	p.mu.Unlock()
}

// clientHost is the Host column: host:port of a TCP client, "localhost" on
// the Unix socket.
func clientHost(c *mysql.Conn) string {
	if c == nil || c.Conn == nil {
		return ""
	}
	switch a := c.Conn.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.String()
	case nil:
		return "localhost"
	default:
		if a.Network() == "unix" {
			return "localhost"
		}
		return a.String()
	}
}
