package protocol

import (
	"log/slog"
	"sync"
	"time"
)

// rateLimit lets at most burst events through per interval and counts the
// rest, so that a flood (of failed logins, of accept errors) cannot fill the
// log. It is safe for concurrent use.
type rateLimit struct {
	burst    int
	interval time.Duration

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow reports whether an event may be logged now, and how many were
// suppressed since the last one that was.
func (r *rateLimit) allow(now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.start) >= r.interval {
		r.start, r.n = now, 0
	}
	if r.n >= r.burst {
		r.suppressed++
		return false, 0
	}
	r.n++
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}

// acceptLogger logs temporary accept errors at warn, at most 5 a second.
type acceptLogger struct {
	once sync.Once
	rl   *rateLimit
}

func (a *acceptLogger) warn(log *slog.Logger, listener string, err error, retryIn time.Duration) {
	a.once.Do(func() { a.rl = &rateLimit{burst: 5, interval: time.Second} })
	if ok, suppressed := a.rl.allow(time.Now()); ok {
		log.Warn("accept failed; retrying", "listener", listener, "error", err.Error(), "retry_in", retryIn.String(),
			"suppressed", suppressed)
	}
}
