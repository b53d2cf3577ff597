package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestSignalTermDuringSlowReload: a real `ssld serve` process (watch: true,
// reload_timeout 60s) whose ssl_capath folder suddenly holds 20,000 CA
// files, so that the reload the watcher and SIGHUP start reads for a long
// time (seconds; regular files only, as a huge CA bundle split by
// c_rehash would be). During that reload the process gets a storm of 200
// SIGHUPs, then SIGTERM: it must exit 0 within 3 s of SIGTERM, the
// reload in progress must end cancelled ("context canceled", not
// completed), and the SIGHUP reloads must have coalesced instead of
// queueing. A SIGHUP handler that reloads on the signal loop, or that waits
// for the reload to finish at exit, fails here.
func TestSignalTermDuringSlowReload(t *testing.T) {
	// signal: SIGHUP starts the slow reload; watch: the watcher does, on
	// the new files in ssl_capath.
	for _, trigger := range []string{"signal", "watch"} {
		t.Run(trigger, func(t *testing.T) { testTermDuringSlowReload(t, trigger) })
	}
}

func testTermDuringSlowReload(t *testing.T, trigger string) {
	n := newDegradedNode(t, goodLeaf)
	capath := filepath.Join(n.dir, "cas")
	require.NoError(t, os.MkdirAll(capath, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(capath, "ca.pem"), n.ca.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(n.config, []byte(configYAML("metrics_listen: "+n.metrics+"\ncluster_listen: "+n.cluster+
		"\nssl_capath: cas\nwatch: true\nreload_timeout: 60s\n")), 0o600))
	sd := newSdNotifyRecorder(t, n.dir)

	cmd := exec.Command(ssldBinary(t), "serve", "--config", n.config, "--listen", n.addr, "--shutdown-grace", "100ms")
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sd.path)
	require.NoError(t, cmd.Start())
	started := time.Now()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	sd.wait(t, "READY=1", started, 15*time.Second)

	// 20,000 names for the CA (hard links, quick to make): every one is
	// opened, checked with fstat, read and parsed, for both channels.
	for i := 0; i < 20000; i++ {
		require.NoError(t, os.Link(filepath.Join(capath, "ca.pem"), filepath.Join(capath, fmt.Sprintf("ca-%05d.pem", i))))
	}
	filled := time.Now()
	if trigger == "signal" {
		require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	}
	reloading := sd.wait(t, "RELOADING=1", filled, 10*time.Second)
	for i := 0; i < 200; i++ {
		require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
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
	// 201 SIGHUPs while one reload ran: at most one more reload queued
	// (plus the watcher's), never one per signal.
	assert.LessOrEqual(t, sd.count("RELOADING=1", filled, time.Now()), 3, "%v", sd.texts())
	assert.Contains(t, sd.texts(), "STOPPING=1")
}
