package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

// sdNotifyRecorder is a $NOTIFY_SOCKET for a child process: it records
// every datagram with the time it arrived.
type sdNotifyRecorder struct {
	path string
	mu   sync.Mutex
	msgs []sdNotifyMsg
	got  chan struct{} // one send (non-blocking) per datagram
}

type sdNotifyMsg struct {
	at   time.Time
	text string
}

func newSdNotifyRecorder(t *testing.T, dir string) *sdNotifyRecorder {
	t.Helper()
	r := &sdNotifyRecorder{path: filepath.Join(dir, "notify"), got: make(chan struct{}, 1)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, sdNotifyMsg{at: time.Now(), text: string(buf[:n])})
			r.mu.Unlock()
			select {
			case r.got <- struct{}{}:
			default:
			}
		}
	}()
	return r
}

// wait waits up to d for a datagram starting with prefix that arrived at or
// after from, and returns its arrival time.
func (r *sdNotifyRecorder) wait(t *testing.T, prefix string, from time.Time, d time.Duration) time.Time {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		for _, m := range r.msgs {
			if !m.at.Before(from) && strings.HasPrefix(m.text, prefix) {
				r.mu.Unlock()
				return m.at
			}
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			require.Failf(t, "no sd_notify datagram", "%q within %v; got %q", prefix, d, r.texts())
		}
	}
}

// count is how many datagrams starting with prefix arrived in [from, to).
func (r *sdNotifyRecorder) count(prefix string, from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if !m.at.Before(from) && m.at.Before(to) && strings.HasPrefix(m.text, prefix) {
			n++
		}
	}
	return n
}

func (r *sdNotifyRecorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, strings.SplitN(m.text, "\n", 2)[0])
	}
	return out
}

// TestSignalTermDuringSlowReload: a real `ssld serve` process
// (reload_timeout 60s) whose config is switched to an ssl_capath folder of
// 20,000 CA files, so that the reload SIGHUP (or, with watch: true, the
// watcher) starts reads for a long time (regular files only, as a huge CA
// bundle split by c_rehash would be; about 0.7 s on the 2-core VM). During
// that reload the process gets SIGTERM (after a storm of 200 more SIGHUPs in
// the SIGHUP case): it must exit 0 within 3 s of SIGTERM, the reload in
// progress must end cancelled ("context canceled", not completed), and the
// SIGHUPs must coalesce into one more reload that shutdown drops. A SIGHUP
// or watcher reload that shutdown does not cancel, or that the exit waits
// for, fails here.
func TestSignalTermDuringSlowReload(t *testing.T) {
	// signal: SIGHUP starts the slow reload; watch: the watcher does, on
	// the changed config file.
	for _, trigger := range []string{"signal", "watch"} {
		t.Run(trigger, func(t *testing.T) { testTermDuringSlowReload(t, trigger) })
	}
}

func testTermDuringSlowReload(t *testing.T, trigger string) {
	n := newChildNode(t, goodLeaf)
	// cas: one CA, what the process starts on; big: 20,000 files holding
	// it, every one opened, checked with fstat, read and parsed.
	for _, dir := range []string{"cas", "big"} {
		require.NoError(t, os.MkdirAll(filepath.Join(n.dir, dir), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(n.dir, dir, "ca.pem"), n.ca.CertPEM, 0o644))
	}
	// Each file differs by a comment line before its PEM block: identical
	// files are parsed once per reload, and this reload must stay slow.
	for i := 0; i < 20000; i++ {
		data := append([]byte(fmt.Sprintf("ca %05d\n", i)), n.ca.CertPEM...)
		require.NoError(t, os.WriteFile(filepath.Join(n.dir, "big", fmt.Sprintf("ca-%05d.pem", i)), data, 0o644))
	}
	config := func(capath string) []byte {
		return []byte(configYAML("metrics_listen: " + n.metrics + "\ncluster_listen: " + n.cluster +
			"\nssl_capath: " + capath + fmt.Sprintf("\nwatch: %v\nreload_timeout: 60s\n", trigger == "watch")))
	}
	require.NoError(t, os.WriteFile(n.config, config("cas"), 0o600))
	sd := newSdNotifyRecorder(t, n.dir)

	cmd := n.serveCmd(t)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sd.path)
	require.NoError(t, cmd.Start())
	started := time.Now()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	sd.wait(t, "READY=1", started, 15*time.Second)

	// The switch to the big folder, in one rename.
	require.NoError(t, pki.WriteFile(n.config, config("big"), 0o600))
	switched := time.Now()
	if trigger == "signal" {
		require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	}
	reloading := sd.wait(t, "RELOADING=1", switched, 10*time.Second)
	if trigger == "signal" {
		// The storm (only here: with the watcher's reload running, a SIGHUP
		// reload could take the reload slot first and make the watcher's
		// the one that waits).
		for i := 0; i < 200; i++ {
			require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
		}
	}
	time.Sleep(50 * time.Millisecond)
	term := time.Now()
	require.Zero(t, sd.count("READY=1", reloading, term),
		"the reload finished before SIGTERM, so this test proves nothing: make it slower (%v)", sd.texts())
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))

	select {
	case <-exited:
		err, took := waitErr, time.Since(term)
		t.Logf("exited %v after SIGTERM; the reload had run %v", took.Round(time.Millisecond), term.Sub(reloading).Round(time.Millisecond))
		require.NoError(t, err, "exit status\n%s", n.log.String())
		assert.Less(t, took, 3*time.Second)
	case <-time.After(3 * time.Second):
		require.Failf(t, "SIGTERM did not stop ssld within 3 s during a slow reload", "log:\n%s", n.log.String())
	}
	log := n.log.String()
	if testing.Verbose() {
		t.Log(log)
	}
	assert.Contains(t, log, "stopped")
	assert.Regexp(t, `level=ERROR msg="tls reload" result=failed .*trigger=`+trigger+` error="reload: did not finish before its deadline \(context canceled\)`, log,
		"the reload in progress was cut off by shutdown")
	assert.NotContains(t, log, "panic")
	// The 200 SIGHUPs while one reload ran coalesce into one more, which
	// shutdown drops instead of starting: one reload began (sd_notify
	// RELOADING=1) and one is in the log.
	assert.Equal(t, 1, sd.count("RELOADING=1", switched, time.Now()), "reloads started: %v", sd.texts())
	assert.Equal(t, 1, strings.Count(log, "trigger="+trigger), "reloads in the log")
	texts := sd.texts()
	stop := slices.Index(texts, "STOPPING=1")
	require.GreaterOrEqual(t, stop, 0, "STOPPING=1 sent: %q", texts)
	for _, m := range texts[stop+1:] {
		assert.False(t, strings.HasPrefix(m, "READY=1"), "READY=1 after STOPPING=1 (the cut-off reload must not announce readiness): %q", texts)
	}
}
