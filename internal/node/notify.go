package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/ssld/ssld/tlsctx"
)

// systemdNotifier tells systemd (Type=notify, $NOTIFY_SOCKET) when ssld is
// ready, when it reloads, and what it serves (STATUS=, shown by systemctl
// status). Without $NOTIFY_SOCKET every call does nothing. Safe for
// concurrent use (each call is one datagram).
type systemdNotifier struct {
	mgr *tlsctx.Manager
	log *slog.Logger
	// mu orders READY=1 against STOPPING=1: stopped is read and READY=1
	// sent under it, so a reload ending as shutdown starts cannot announce
	// readiness after STOPPING=1 (a check before a slow send could).
	mu      sync.Mutex
	stopped bool // STOPPING=1 was sent: nothing may say READY=1 again
}

func (s *systemdNotifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		s.log.Warn("sd_notify failed", "state", strings.SplitN(state, "\n", 2)[0], "error", err)
	}
}

// status is the one-line STATUS= text: the served serial and expiry, and
// the last reload error if there is one.
func (s *systemdNotifier) status() string {
	snap := s.mgr.Current(tlsctx.ChannelClient)
	st := s.mgr.Status()
	var b strings.Builder
	if snap.Enabled() {
		fmt.Fprintf(&b, "serving serial %s, not_after %s, generation %d", snap.Serial(),
			snap.NotAfter().UTC().Format(time.RFC3339), st.Generation)
	} else {
		b.WriteString("degraded: " + DegradedSummary(st))
	}
	if snap.Enabled() && len(st.Unavailable) > 0 {
		b.WriteString("; degraded: " + DegradedSummary(st))
	}
	if st.LastError != "" {
		// STATUS= is one line.
		fmt.Fprintf(&b, "; last reload failed: %s", strings.Join(strings.Fields(st.LastError), " "))
	}
	return b.String()
}

// ready sends READY=1 with the status, after start-up and after a reload;
// after stopping (a reload cut off by shutdown ends here too) it does
// nothing.
func (s *systemdNotifier) ready() {
	msg := daemon.SdNotifyReady + "\nSTATUS=" + s.status()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.send(msg)
}

// reloading sends RELOADING=1 with MONOTONIC_USEC, as systemd requires for
// reload notifications (sd_notify(3)); ready() ends the reload.
func (s *systemdNotifier) reloading() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		s.log.Warn("sd_notify: no monotonic clock", "error", err)
		return
	}
	s.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, ts.Nano()/1000))
}

func (s *systemdNotifier) stopping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.send(daemon.SdNotifyStopping)
}

// notifyingReloader is the node's one reload entry (SQL, SIGHUP, watch):
// the Manager's Reload bracketed by RELOADING=1 and READY=1.
type notifyingReloader struct {
	mgr     *tlsctx.Manager
	sd      *systemdNotifier
	timeout time.Duration // reload_timeout: the deadline of every reload
}

// Reload implements sqlcmd.Reloader; safe for concurrent use (tlsctx
// serialises reloads).
func (r *notifyingReloader) Reload(ctx context.Context, opts ...tlsctx.ReloadOption) (tlsctx.Result, error) {
	r.sd.reloading()
	defer r.sd.ready()
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	return r.mgr.Reload(ctx, opts...)
}
