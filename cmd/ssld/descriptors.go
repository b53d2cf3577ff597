package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/ssld/ssld/metrics"
	"github.com/ssld/ssld/protocol"
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
func descriptorBudget(c *fileConfig) (int, string) {
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
// numbers and the fix. Below the budget a connection flood can take the
// descriptors a reload needs ("too many open files"); the listeners keep
// accepting (they back off on EMFILE), so the warning is the operator's cue.
func reserveDescriptors(c *fileConfig, log *slog.Logger) {
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
// the room they leave; the reserve is taken back when the reload ends. The
// listeners back off on EMFILE (5 ms up to 1 s), so the few milliseconds
// the reload needs are rarely lost to an accept. Safe for concurrent use;
// methods on a nil reserve do nothing.
type descriptorReserve struct {
	mu  sync.Mutex
	fds []*os.File
}

// newDescriptorReserve opens the reserve (as many as it can).
func newDescriptorReserve() *descriptorReserve {
	r := &descriptorReserve{}
	r.refill()
	return r
}

// release closes the reserve and reports whether it held any.
func (r *descriptorReserve) release() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.fds {
		_ = f.Close()
	}
	had := len(r.fds) > 0
	r.fds = nil
	return had
}

// refill reopens the reserve up to its size, as far as descriptors allow.
func (r *descriptorReserve) refill() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.fds) < descriptorsReserved {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return
		}
		r.fds = append(r.fds, f)
	}
}
