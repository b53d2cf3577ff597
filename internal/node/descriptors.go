package node

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssld/ssld/internal/config"
	"github.com/ssld/ssld/metrics"
	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/tlsctx"
)

// Descriptors that are not connections: the process's own (standard
// streams, the runtime's poller, listeners, log, watcher, pid file) and
// those a reload opens (the config file, then each certificate, key, CA and
// CRL file one at a time).
const (
	descriptorsBase   = 16
	descriptorsReload = 16
)

// descriptorBudget is the number of descriptors the node can hold at once
// with every listener at its connection limit, plus what a reload opens,
// and the sum spelt out for the log.
func descriptorBudget(c *config.File) (int, string) {
	need := descriptorsBase + descriptorsReload + descriptorsReserved
	parts := []string{fmt.Sprintf("%d for the process, %d for a reload and %d held in reserve for one", descriptorsBase, descriptorsReload, descriptorsReserved)}
	add := func(n int, what string) {
		need += n
		parts = append(parts, fmt.Sprintf("%d for %s", n, what))
	}
	// max_connections + 1 per TCP listener (the SUPER slot, as MySQL).
	add(c.MaxConnections+1, "listen (max_connections + 1)")
	if c.ClusterListen != "" {
		add(c.MaxConnections+1, "cluster_listen (max_connections + 1)")
	}
	if c.Socket != "" {
		add(protocol.SocketMaxConnections, "socket")
	}
	if c.MetricsListen != "" {
		add(metrics.MaxConnections, "metrics_listen")
	}
	return need, strings.Join(parts, ", ")
}

// reserveDescriptors makes room for every listener at its connection limit
// plus a reload, as mysqld sizes open_files_limit from max_connections: it
// raises the soft RLIMIT_NOFILE towards the budget (up to the hard limit)
// and, when even the hard limit is short, says so at start-up with the
// numbers and the fix. Below the budget a connection flood takes every
// descriptor but the reserve (descriptorReserve): reloads still work, new
// connections wait (the listeners back off on EMFILE), so the warning is
// the operator's cue.
func reserveDescriptors(c *config.File, log *slog.Logger) {
	need, parts := descriptorBudget(c)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open files limit (RLIMIT_NOFILE)", "error", err.Error())
		return
	}
	if lim.Cur < uint64(need) && lim.Max > lim.Cur {
		raised := lim
		raised.Cur = min(uint64(need), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if lim.Cur >= uint64(need) {
		return
	}
	log.Warn("the open files limit is below what the listeners may hold: under a connection flood, accept and SSL_RELOAD can fail with \"too many open files\"; raise it (LimitNOFILE= in the systemd unit, ulimit -n) or lower max_connections",
		"open_files_limit", lim.Cur, "needed", need, "of which", parts)
}

// descriptorsReserved is the size of the reserve: a reload opens its files
// one at a time (config, certificate, key, CA, CRL), so a few suffice.
const descriptorsReserved = 8

// descriptorReserve holds descriptors (on /dev/null) for reloads: when a
// connection flood has taken every other descriptor, the reload that finds
// the config file unopenable (EMFILE) releases them and opens its files in
// the room they leave; the reserve is taken back when the reload ends.
// Held, the reserve is room no accept can take; released, it stays the
// reload's: release first pauses gate, which every listener (client,
// cluster, socket, metrics) goes through, and returns once none of them is
// inside accept(2); refill resumes it. Connections arriving meanwhile wait
// in the listen backlog for the few milliseconds of the reload. Safe for
// concurrent use; methods on a nil reserve do nothing.
type descriptorReserve struct {
	gate *protocol.AcceptGate

	mu     sync.Mutex
	fds    []*os.File
	paused bool   // release paused gate; refill resumes it
	epoch  uint64 // counts releases, so a late backstop refills only its own
	unhook func() // removes the tlsctx hook (close)
}

// descriptorsHoldMax bounds how long a release keeps the listeners paused
// when nothing refills the reserve (a load outside a reload, such as CHECK
// TLS, whose end the reload observer does not see); a reload refills it
// when it ends. It is the default reload_timeout: a longer reload that
// runs out of descriptors again releases the reserve again.
const descriptorsHoldMax = 10 * time.Second

// newDescriptorReserve opens the reserve (as many as it can) and has every
// file open of a load that fails with EMFILE (tlsctx's files, the config
// file, the ssl_capath folder) release it and try again; close undoes it.
func newDescriptorReserve() *descriptorReserve {
	r := &descriptorReserve{gate: protocol.NewAcceptGate()}
	r.refill()
	r.unhook = tlsctx.SetOutOfDescriptorsHook(r.release)
	return r
}

// acceptGate is the gate the listeners share (nil for a nil reserve).
func (r *descriptorReserve) acceptGate() *protocol.AcceptGate {
	if r == nil {
		return nil
	}
	return r.gate
}

// release stops every accept, closes the reserve and reports whether it
// held any; the accepts resume at refill, which the reload observer calls
// when the reload ends, or after descriptorsHoldMax.
func (r *descriptorReserve) release() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) == 0 {
		return false
	}
	if !r.paused {
		r.gate.Pause()
		r.paused = true
	}
	r.closeFiles()
	r.epoch++
	go r.backstop(r.epoch)
	return true
}

// backstop refills the reserve of release number epoch after
// descriptorsHoldMax, unless it was refilled (and maybe released again)
// meanwhile.
func (r *descriptorReserve) backstop(epoch uint64) {
	time.Sleep(descriptorsHoldMax)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch == epoch && r.paused {
		r.refillLocked()
	}
}

// close closes the reserve without pausing the listeners (shutdown, or a
// start-up that failed) and resumes them if a reload had paused them.
func (r *descriptorReserve) close() {
	if r == nil {
		return
	}
	if r.unhook != nil {
		r.unhook()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeFiles()
	r.epoch++ // no backstop refills a closed reserve
	if r.paused {
		r.gate.Resume()
		r.paused = false
	}
}

func (r *descriptorReserve) closeFiles() {
	for _, f := range r.fds {
		_ = f.Close()
	}
	r.fds = nil
}

// refill reopens the reserve up to its size, as far as descriptors allow,
// then lets the listeners accept again.
func (r *descriptorReserve) refill() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refillLocked()
}

func (r *descriptorReserve) refillLocked() {
	for len(r.fds) < descriptorsReserved {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		r.fds = append(r.fds, f)
	}
	if r.paused {
		r.gate.Resume()
		r.paused = false
	}
}
