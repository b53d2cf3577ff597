// Package watch reloads TLS material when the files behind it change.
//
// A Watcher watches the folders of every configured file (never the files
// themselves) with fsnotify, so it sees the ways certificates are really
// replaced: a rewrite in place, an atomic rename of a temporary file
// (certbot, acme.sh, pki.WriteFile) and a Kubernetes Secret volume swap,
// where tls.crt is a symlink into ..data and ..data is a symlink that the
// kubelet renames over to point at a new timestamped folder. Events are
// debounced into one reload; a failed reload is retried with exponential
// backoff until the files are good; a periodic re-check of every file's
// content catches events the kernel dropped or never sent (network file
// systems).
//
// The Watcher knows nothing about TLS: it calls Options.Reload, which the
// daemon points at tlsctx.Manager.Reload so that watching, SQL and signals
// share one reload path and one set of timestamps.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configures a Watcher. Paths and Reload are required; zero
// durations take the defaults documented on each field.
type Options struct {
	// Paths returns the files and folders to watch: the config file and
	// every configured certificate, key and CA file and CA folder. It is
	// called at Start, after every reload and at every re-check, so paths
	// that a reload changed are followed. Empty strings are ignored. It is
	// called by Start and then from the Watcher's goroutine, never
	// concurrently with itself or with Reload.
	Paths func() []string
	// Reload performs one reload. It is called from the Watcher's
	// goroutine only, never concurrently with itself; ctx is cancelled by
	// Stop. A non-nil error schedules a retry with backoff.
	Reload func(ctx context.Context) error
	// Debounce is how long the folders must be quiet after an event
	// before the reload runs (default 200ms), so that a writer replacing
	// a certificate and its key causes one reload. A steady stream of
	// events delays the reload by at most 5×Debounce.
	Debounce time.Duration
	// Recheck is the period of the re-check that reloads when any watched
	// file's content, size or modification time changed since the last
	// reload or check, in case an event was missed (default 5m; negative
	// disables it).
	Recheck time.Duration
	// BackoffMin and BackoffMax bound the wait before retrying a failed
	// reload: it starts at BackoffMin (default 1s) and doubles up to
	// BackoffMax (default 1m) until a reload succeeds.
	BackoffMin, BackoffMax time.Duration
	// Logger receives watch errors, retries and re-check findings
	// (default: discard).
	Logger *slog.Logger
}

// Defaults for the zero values of Options.
const (
	DefaultDebounce   = 200 * time.Millisecond
	DefaultRecheck    = 5 * time.Minute
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = time.Minute
)

// Watcher reloads when watched files change. Create it with New, then call
// Start once and Stop once. Its methods are safe for concurrent use.
type Watcher struct {
	opts Options
	log  *slog.Logger
	fs   *fsnotify.Watcher

	// addWatch and removeWatch are seams: tests replace addWatch to
	// emulate a file system that sends no events.
	addWatch    func(string) error
	removeWatch func(string) error

	ctx    context.Context // cancelled by Stop; passed to Reload
	cancel context.CancelFunc

	mu      sync.Mutex // guards started and stopped
	started bool
	stopped bool
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when the loop has returned

	// Owned by the loop goroutine (and by Start before the loop runs).
	folders   map[string]*folder // the folders to watch and what in them matters
	addFailed map[string]string  // folder -> last Add error, to log each failure once
	last      [32]byte           // fingerprint of the paths at the last reload or check
	failing   bool               // the last reload failed; a retry is scheduled
	backoff   time.Duration      // wait before the next retry
}

// New checks opts and creates the fsnotify watcher. It fails when Paths or
// Reload is nil, a duration is inconsistent, or the operating system
// refuses a watcher (e.g. the inotify instance limit is reached).
func New(opts Options) (*Watcher, error) {
	if opts.Paths == nil {
		return nil, errors.New("watch: Options.Paths is nil")
	}
	if opts.Reload == nil {
		return nil, errors.New("watch: Options.Reload is nil")
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Recheck == 0 {
		opts.Recheck = DefaultRecheck
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = DefaultBackoffMin
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.BackoffMax < opts.BackoffMin {
		return nil, errors.New("watch: Options.BackoffMax is less than BackoffMin")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, errors.New("watch: cannot create a file system watcher: " + err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Watcher{
		opts:        opts,
		log:         log,
		fs:          fw,
		addWatch:    fw.Add,
		removeWatch: fw.Remove,
		ctx:         ctx,
		cancel:      cancel,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		folders:     map[string]*folder{},
		addFailed:   map[string]string{},
		backoff:     opts.BackoffMin,
	}, nil
}

// Start adds the watches, records the current content of every path as the
// baseline for the re-check and starts the watch loop. It does not reload.
// A folder that cannot be watched (it does not exist yet, permission
// denied) is logged and retried at every reload and re-check; the re-check
// covers its files meanwhile. Start after Start or Stop does nothing.
func (w *Watcher) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stopped {
		return
	}
	w.started = true
	paths := w.opts.Paths()
	w.sync(paths)
	w.last = fingerprint(paths)
	go w.loop()
}

// Stop stops the loop and waits for it to return, cancelling a reload in
// progress through its ctx, then releases the watches. It is safe to call
// more than once and without Start.
func (w *Watcher) Stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.stopped = true
	started := w.started
	w.mu.Unlock()

	close(w.stop)
	w.cancel()
	if started {
		<-w.done
	} else {
		close(w.done)
	}
	if err := w.fs.Close(); err != nil {
		w.log.Warn("closing the file system watcher", "error", err)
	}
}

// loop is the Watcher's one goroutine: it owns every timer and all state
// after Start, so nothing but started/stopped needs a lock.
func (w *Watcher) loop() {
	defer close(w.done)

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var firstEvent time.Time // start of the current burst; zero when none is pending

	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	var recheck <-chan time.Time
	if w.opts.Recheck > 0 {
		t := time.NewTicker(w.opts.Recheck)
		defer t.Stop()
		recheck = t.C
	}

	// kick (re)arms the debounce timer for an event at now, capping the
	// total delay of a burst at 5×Debounce.
	kick := func(now time.Time) {
		if firstEvent.IsZero() {
			firstEvent = now
		}
		d := w.opts.Debounce
		if rest := firstEvent.Add(5 * w.opts.Debounce).Sub(now); rest < d {
			d = max(rest, 0)
		}
		debounce.Reset(d)
	}
	// reload runs one reload and arms or disarms the retry timer.
	reload := func(why string) {
		firstEvent = time.Time{}
		debounce.Stop()
		if w.reload(why) {
			retry.Stop()
		} else {
			retry.Reset(w.nextBackoff())
		}
	}

	events, errs := w.fs.Events, w.fs.Errors
	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.relevant(ev) {
				w.log.Debug("watched file changed", "path", ev.Name, "op", ev.Op.String())
				kick(time.Now())
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: assume the worst and reload.
				w.log.Warn("file system events were dropped; reloading", "error", err)
				kick(time.Now())
				continue
			}
			w.log.Warn("file system watcher error", "error", err)
		case <-debounce.C:
			reload("change")
		case <-retry.C:
			reload("retry")
		case <-recheck:
			paths := w.opts.Paths()
			w.sync(paths)
			if w.failing {
				continue // a retry is already scheduled
			}
			if fp := fingerprint(paths); fp != w.last {
				w.log.Info("re-check found a changed file; reloading")
				reload("recheck")
			}
		}
	}
}

// reload calls Options.Reload and updates the re-check baseline and the
// watches. It reports whether the reload succeeded.
func (w *Watcher) reload(why string) bool {
	paths := w.opts.Paths()
	w.sync(paths) // a folder may have been replaced: watch the new one before reading
	// The baseline is taken before reading, so a write racing with the
	// reload shows up as a difference at the next re-check.
	before := fingerprint(paths)
	err := w.opts.Reload(w.ctx)
	if w.ctx.Err() != nil {
		return true // stopping: nothing to retry
	}
	if err != nil {
		w.failing = true
		w.log.Error("automatic reload failed; the previous certificates stay in use", "cause", why,
			"error", err, "retry_in", w.backoff)
		return false
	}
	if w.failing {
		w.log.Info("automatic reload succeeded after failures", "cause", why)
	}
	w.failing, w.backoff = false, w.opts.BackoffMin
	after := w.opts.Paths()
	w.sync(after) // the reload may have changed the configured paths
	if samePaths(paths, after) {
		w.last = before
	} else {
		w.last = fingerprint(after)
	}
	return true
}

// nextBackoff returns the wait before the next retry and doubles it for
// the one after, up to BackoffMax.
func (w *Watcher) nextBackoff() time.Duration {
	d := w.backoff
	w.backoff = min(2*w.backoff, w.opts.BackoffMax)
	return d
}

func samePaths(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
