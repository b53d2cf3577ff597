package protocol

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ssld/ssld/sqlcmd"
)

// Login throttling, in the spirit of MySQL's connection_control and
// PostgreSQL's auth_delay: after loginDelayAfter failed logins in a row from
// one client address, every further login from it (good or bad: the delay
// comes before the check, so it tells nothing) waits loginDelayStep more,
// up to loginDelayMax. A success resets the address. Failures older than
// loginFailWindow are forgotten, and at most loginTrackMax addresses are
// tracked, so the table is bounded. The Unix socket is never delayed: it is
// the operator's way in.
const (
	loginDelayAfter = 3
	loginDelayStep  = 250 * time.Millisecond
	loginDelayMax   = 2 * time.Second
	loginFailWindow = 10 * time.Minute
	loginTrackMax   = 10000
)

// loginGuard throttles, logs and forgets failed logins for every listener
// of a server. Safe for concurrent use.
type loginGuard struct {
	log   *slog.Logger
	rl    rateLimit
	now   func() time.Time
	sleep func(time.Duration)

	mu    sync.Mutex
	fails map[string]*loginFails
}

type loginFails struct {
	count int
	last  time.Time
}

func newLoginGuard(log *slog.Logger) *loginGuard {
	return &loginGuard{log: log, rl: rateLimit{burst: 10, interval: time.Second}, now: time.Now, sleep: time.Sleep,
		fails: map[string]*loginFails{}}
}

// delay waits before a login is checked, if the address failed often.
func (g *loginGuard) delay(transport string, addr net.Addr) {
	if g == nil || transport == "unix" {
		return
	}
	if d := g.delayFor(addr); d > 0 {
		g.sleep(d)
	}
}

// delayFor is the wait for addr. With no failure on record (the common
// case) the address is not even formatted.
func (g *loginGuard) delayFor(addr net.Addr) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.fails) == 0 {
		return 0
	}
	f := g.fails[hostOf(addr)]
	if f == nil || g.now().Sub(f.last) > loginFailWindow {
		return 0
	}
	n := f.count - loginDelayAfter + 1
	if n <= 0 {
		return 0
	}
	return min(time.Duration(n)*loginDelayStep, loginDelayMax)
}

// done records the outcome of a login and logs a failure at warn (at most
// burst lines a second; the number left out is in the next line).
func (g *loginGuard) done(transport, user string, addr net.Addr, known bool, err error) {
	if g == nil {
		return
	}
	if err == nil {
		if transport != "unix" {
			g.mu.Lock()
			if len(g.fails) > 0 {
				delete(g.fails, hostOf(addr))
			}
			g.mu.Unlock()
		}
		return
	}
	count := 0
	if transport != "unix" {
		count = g.fail(hostOf(addr))
	}
	if ok, suppressed := g.rl.allow(g.now()); ok {
		// The user name is the client's: at most 32 characters of it
		// (MySQL's limit), and every field at most 512 bytes.
		reason := sqlcmd.CutMessage(err.Error())
		if !known {
			reason = "no such account; the client was told: " + reason
		}
		g.log.Warn("login failed", "listener", listenerLabel(transport), "user", sqlcmd.CutUserName(user), "remote", addrString(addr),
			"reason", reason, "failures_from_address", count, "suppressed", suppressed)
	}
}

func (g *loginGuard) fail(ip string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	f := g.fails[ip]
	if f == nil || now.Sub(f.last) > loginFailWindow {
		if f == nil && len(g.fails) >= loginTrackMax {
			for k, v := range g.fails {
				if now.Sub(v.last) > loginFailWindow {
					delete(g.fails, k)
				}
			}
			if len(g.fails) >= loginTrackMax {
				return 0 // full of recent failures: not tracked, still logged and counted
			}
		}
		f = &loginFails{}
		g.fails[ip] = f
	}
	f.count++
	f.last = now
	return f.count
}

// addrString is the client address as a log shows it; a Unix socket peer
// has no address of its own.
func addrString(a net.Addr) string {
	switch a.(type) {
	case nil:
		return ""
	case *net.UnixAddr:
		return "localhost (Unix socket)"
	}
	return a.String()
}

// decoyKey makes decoyPlugin differ between processes.
var decoyKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// decoyPlugin is the authentication plugin an unknown account name appears
// to have: one of the two password plugins, fixed per name for the life of
// the process (as MySQL 8 does for its decoy accounts), so that plugin
// negotiation (an auth switch or not) looks the same for a name that does
// not exist as for one that does.
func decoyPlugin(user string) string {
	m := hmac.New(sha256.New, decoyKey)
	m.Write([]byte(user))
	if m.Sum(nil)[0]&1 == 0 {
		return PluginNative
	}
	return PluginCachingSHA
}
