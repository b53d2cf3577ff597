package watch

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/testenv"
)

const (
	testDebounce = 100 * time.Millisecond
	bound        = 5 * time.Second // every wait for an event-driven reload
)

// settle waits long enough for a stray second debounced reload to happen:
// three debounce periods of quiet.
func settle() { time.Sleep(3 * testDebounce) }

func TestReloadOnChange(t *testing.T) {
	for _, l := range layouts(t) {
		t.Run(l.name(), func(t *testing.T) {
			l.write(t, []byte("cert 1"), []byte("key 1"))
			rec := &recorder{path: l.cert()}
			start(t, Options{Paths: staticPaths(l.cert(), l.key()), Reload: rec.reload,
				Debounce: testDebounce, Recheck: -1})

			// Twice: the second write proves the watches survived the
			// first rename or ..data swap.
			for i, content := range []string{"cert 2", "cert 3"} {
				l.write(t, []byte(content), []byte("key"))
				testenv.Eventually(t, bound, func() bool { return rec.count() > i }, "no reload after write #%d", i+1)
				settle()
				assert.Equal(t, i+1, rec.count(), "one debounced reload per write of cert and key")
				assert.Equal(t, content, rec.lastSeen(), "the reload ran after the write finished")
			}
		})
	}
}

func TestIgnoresUnrelatedFiles(t *testing.T) {
	dir := t.TempDir()
	l := renameLayout(dir)
	l.write(t, []byte("c"), []byte("k"))
	rec := &recorder{path: l.cert()}
	start(t, Options{Paths: staticPaths(l.cert(), l.key()), Reload: rec.reload, Debounce: testDebounce, Recheck: -1})

	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644))
	require.NoError(t, os.Chmod(l.cert(), 0o640)) // chmod alone is ignored
	settle()
	assert.Equal(t, 0, rec.count())

	// The same folder still works for the files that matter.
	l.write(t, []byte("c2"), []byte("k2"))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 1 }, "no reload")
}

func TestCAFolder(t *testing.T) {
	dir := t.TempDir()
	capath := filepath.Join(dir, "cas")
	require.NoError(t, os.Mkdir(capath, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(capath, "a.pem"), []byte("a"), 0o644))
	rec := &recorder{path: filepath.Join(capath, "a.pem")}
	start(t, Options{Paths: staticPaths(capath), Reload: rec.reload, Debounce: testDebounce, Recheck: -1})

	// Any new file in a CA folder counts.
	require.NoError(t, os.WriteFile(filepath.Join(capath, "b.pem"), []byte("b"), 0o644))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 1 }, "no reload after adding a CA")

	// Replacing the whole folder is seen, and the new one is watched.
	fresh := filepath.Join(dir, "cas.new")
	require.NoError(t, os.Mkdir(fresh, 0o755))
	require.NoError(t, os.RemoveAll(capath))
	require.NoError(t, os.Rename(fresh, capath))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 2 }, "no reload after replacing the folder")
	settle()
	require.NoError(t, os.WriteFile(filepath.Join(capath, "c.pem"), []byte("c"), 0o644))
	testenv.Eventually(t, bound, func() bool { return rec.count() >= 3 }, "the replaced folder is not watched")
}

func TestFailedReloadIsRetriedWithBackoff(t *testing.T) {
	l := renameLayout(t.TempDir())
	l.write(t, []byte("c"), []byte("k"))
	rec := &recorder{path: l.cert(), failures: 4}
	const minB, maxB = 40 * time.Millisecond, 100 * time.Millisecond
	start(t, Options{Paths: staticPaths(l.cert(), l.key()), Reload: rec.reload, Debounce: testDebounce,
		Recheck: -1, BackoffMin: minB, BackoffMax: maxB})

	l.write(t, []byte("c2"), []byte("k2"))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 5 }, "4 failures then a success: got %d calls", rec.count())
	time.Sleep(3 * maxB)
	assert.Equal(t, 5, rec.count(), "no retries after the success")

	rec.mu.Lock()
	defer rec.mu.Unlock()
	// Waits 40, 80, 100 (capped), 100ms; allow for timer slack below.
	want := []time.Duration{minB, 2 * minB, maxB, maxB}
	for i, w := range want {
		gap := rec.times[i+1].Sub(rec.times[i])
		assert.GreaterOrEqual(t, gap, w-5*time.Millisecond, "wait before retry %d", i+1)
		assert.Less(t, gap, w+time.Second, "wait before retry %d", i+1)
	}
}

func TestRecheckCatchesMissedEvents(t *testing.T) {
	l := renameLayout(t.TempDir())
	l.write(t, []byte("c"), []byte("k"))
	rec := &recorder{path: l.cert()}
	w, err := New(Options{Paths: staticPaths(l.cert(), l.key()), Reload: rec.reload,
		Debounce: testDebounce, Recheck: 50 * time.Millisecond})
	require.NoError(t, err)
	w.addWatch = func(string) error { return nil } // a file system that sends no events
	w.Start()
	t.Cleanup(w.Stop)

	time.Sleep(4 * 50 * time.Millisecond)
	assert.Equal(t, 0, rec.count(), "unchanged files are not reloaded by the re-check")

	l.write(t, []byte("c2"), []byte("k2"))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 1 }, "the re-check did not reload")
	assert.Equal(t, "c2", rec.lastSeen())
	time.Sleep(4 * 50 * time.Millisecond)
	assert.Equal(t, 1, rec.count(), "the re-check reloads a change once")
}

func TestPathsAreReevaluatedAfterReload(t *testing.T) {
	a, b := renameLayout(t.TempDir()), renameLayout(t.TempDir())
	a.write(t, []byte("a"), []byte("a"))
	b.write(t, []byte("b"), []byte("b"))
	var mu sync.Mutex
	paths := []string{a.cert(), a.key()}
	rec := &recorder{path: a.cert()}
	start(t, Options{
		Paths: func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), paths...)
		},
		Reload:   rec.reload,
		Debounce: testDebounce, Recheck: -1,
	})

	// The config now points at b; the reload after a's change picks it up.
	mu.Lock()
	paths = []string{b.cert(), b.key()}
	mu.Unlock()
	a.write(t, []byte("a2"), []byte("a2"))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 1 }, "no reload")
	settle()

	b.write(t, []byte("b2"), []byte("b2"))
	testenv.Eventually(t, bound, func() bool { return rec.count() == 2 }, "the new path is not watched")
	settle()
	a.write(t, []byte("a3"), []byte("a3"))
	settle()
	assert.Equal(t, 2, rec.count(), "the old path is no longer watched")
}

func TestStopIsPromptAndLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	l := renameLayout(t.TempDir())
	l.write(t, []byte("c"), []byte("k"))
	inReload := make(chan struct{})
	w, err := New(Options{
		Paths: staticPaths(l.cert(), l.key()),
		Reload: func(ctx context.Context) error {
			close(inReload)
			<-ctx.Done() // a reload stuck on a slow disk, until Stop
			return ctx.Err()
		},
		Debounce: testDebounce,
	})
	require.NoError(t, err)
	w.Start()
	l.write(t, []byte("c2"), []byte("k2"))
	select {
	case <-inReload:
	case <-time.After(bound):
		t.Fatal("no reload")
	}

	stopWithin(t, w, time.Second, "Stop")
	w.Stop() // idempotent

	testenv.Eventually(t, bound, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines: %d before, %d after Stop", before, runtime.NumGoroutine())
}

// TestStopWithoutStart: Stop returns at once without Start, and a Start
// after Stop neither watches nor re-checks: a change that a running watcher
// would reload within a few re-check periods is left alone.
func TestStopWithoutStart(t *testing.T) {
	l := renameLayout(t.TempDir())
	l.write(t, []byte("c"), []byte("k"))
	rec := &recorder{path: l.cert()}
	before := runtime.NumGoroutine()
	w, err := New(Options{Paths: staticPaths(l.cert(), l.key()), Reload: rec.reload,
		Debounce: testDebounce, Recheck: 20 * time.Millisecond})
	require.NoError(t, err)

	stopWithin(t, w, time.Second, "Stop without Start")
	w.Start() // after Stop: does nothing
	l.write(t, []byte("c2"), []byte("k2"))
	time.Sleep(testDebounce + 10*20*time.Millisecond)
	assert.Equal(t, 0, rec.count(), "a Start after Stop must not watch or re-check")
	w.Stop()
	testenv.Eventually(t, bound, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines: %d before, %d after Stop", before, runtime.NumGoroutine())
}

func TestNewRejectsBadOptions(t *testing.T) {
	reload := func(context.Context) error { return nil }
	cases := []struct {
		name        string
		opts        Options
		expectedErr string
	}{
		{"no paths", Options{Reload: reload}, "Options.Paths is nil"},
		{"no reload", Options{Paths: staticPaths()}, "Options.Reload is nil"},
		{"backoff", Options{Paths: staticPaths(), Reload: reload, BackoffMin: time.Minute, BackoffMax: time.Second}, "BackoffMax is less than BackoffMin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			require.ErrorContains(t, err, tc.expectedErr)
		})
	}
}

func TestFolders(t *testing.T) {
	l := newK8sLayout(t.TempDir())
	l.write(t, []byte("c"), []byte("k"))
	f := folders([]string{l.cert(), ""})
	root := f[l.vol.Dir]
	require.NotNil(t, root)
	assert.Equal(t, map[string]bool{"tls.crt": true, "..data": true}, root.names)
	resolved, err := filepath.EvalSymlinks(l.cert())
	require.NoError(t, err)
	require.NotNil(t, f[filepath.Dir(resolved)], "the resolved target's folder is watched too")
	assert.Len(t, f, 2)
}

// stopWithin calls w.Stop and fails t if it has not returned within d.
func stopWithin(t *testing.T, w *Watcher, d time.Duration, what string) {
	t.Helper()
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}
