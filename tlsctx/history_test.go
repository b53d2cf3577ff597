package tlsctx

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
)

// TestHistoryRecordsEveryLoad: start-up, ok, unchanged, failed (a
// mismatched pair) and a FOR CHANNEL reload, newest first, with the old
// and new serial and fingerprint of each channel.
func TestHistoryRecordsEveryLoad(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	f := newFixture(t)
	m := f.manager(WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))))
	first := m.Current(ChannelClient)

	h := m.History()
	require.Len(t, h, 1)
	assert.Equal(t, "startup", h[0].Trigger)
	assert.Equal(t, ResultOK, h[0].Result)
	assert.Equal(t, uint64(1), h[0].Generation)
	require.Len(t, h[0].Channels, 2)
	assert.Equal(t, ChannelClient, h[0].Channels[0].Channel)
	assert.Empty(t, h[0].Channels[0].OldSerial)
	assert.Equal(t, first.Serial(), h[0].Channels[0].NewSerial)

	serial := f.rotate("server")
	_, err := m.Reload(context.Background(), WithTrigger("sql"), WithUser("admin@localhost"))
	require.NoError(t, err)
	_, err = m.Reload(context.Background(), WithTrigger("signal"))
	require.NoError(t, err)
	// A certificate from another key than server.key: refused.
	f.write("server.crt", f.issue(pki.LeafOptions{}).CertPEM, 0o644)
	_, err = m.Reload(context.Background(), WithTrigger("watch"))
	require.Error(t, err)
	_, err = m.Reload(context.Background(), ForChannel(ChannelCluster), WithTrigger("api"))
	require.Error(t, err)

	h = m.History()
	require.Len(t, h, 5)
	assert.Equal(t, []string{"api", "watch", "signal", "sql admin@localhost", "startup"},
		[]string{h[0].Trigger, h[1].Trigger, h[2].Trigger, h[3].Trigger, h[4].Trigger}, "newest first")
	assert.Equal(t, []string{ResultFailed, ResultFailed, ResultUnchanged, ResultOK, ResultOK},
		[]string{h[0].Result, h[1].Result, h[2].Result, h[3].Result, h[4].Result})

	sql := h[3]
	assert.Equal(t, uint64(2), sql.Generation)
	assert.Empty(t, sql.Error)
	require.Len(t, sql.Channels, 2)
	for _, c := range sql.Channels {
		assert.Equal(t, first.Serial(), c.OldSerial)
		assert.Equal(t, first.Fingerprint(), c.OldFingerprint)
		assert.Equal(t, serial, c.NewSerial)
		assert.Equal(t, m.Current(ChannelClient).Fingerprint(), c.NewFingerprint)
		assert.NotEqual(t, c.OldFingerprint, c.NewFingerprint)
		assert.Empty(t, c.CAAdded)
		assert.Empty(t, c.CARemoved)
	}

	unchanged := h[2]
	assert.Equal(t, uint64(2), unchanged.Generation)
	assert.Equal(t, serial, unchanged.Channels[0].OldSerial)
	assert.Equal(t, serial, unchanged.Channels[0].NewSerial)

	refused := h[1]
	assert.Contains(t, refused.Error, "server.key")
	assert.Equal(t, uint64(2), refused.Generation)
	require.Len(t, refused.Channels, 2)
	assert.Equal(t, serial, refused.Channels[0].OldSerial, "nothing swapped")
	assert.Equal(t, serial, refused.Channels[0].NewSerial, "nothing swapped")

	// FOR CHANNEL records only that channel.
	require.Len(t, h[0].Channels, 1)
	assert.Equal(t, ChannelCluster, h[0].Channels[0].Channel)

	// A channel that is not served: refused before anything is read, and
	// recorded without a channel.
	_, err = m.Reload(context.Background(), ForChannel("bogus"), ForChannel("bogus"))
	require.Error(t, err)
	assert.Equal(t, ResultFailed, m.History()[0].Result)
	assert.Contains(t, m.History()[0].Error, "unknown channel")
	assert.Empty(t, m.History()[0].Channels)

	// The log line of the changed reload carries the same facts.
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, "trigger=\"sql admin@localhost\"")
	assert.Contains(t, out, "old_serial="+first.Serial())
	assert.Contains(t, out, "old_fingerprint="+first.Fingerprint())
	assert.Contains(t, out, "fingerprint="+m.Current(ChannelClient).Fingerprint())
}

// TestHistoryCAChanges: a CA added to and then removed from ssl_ca is
// reported by subject, in the history and on the log line.
func TestHistoryCAChanges(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	f := newFixture(t)
	m := f.manager(WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))))
	other := pkitest.MustCA(t, "other root")
	f.write("ca.crt", append(append([]byte{}, f.ca.CertPEM...), other.CertPEM...), 0o644)
	_, err := m.Reload(context.Background())
	require.NoError(t, err)
	f.write("ca.crt", f.ca.CertPEM, 0o644)
	_, err = m.Reload(context.Background())
	require.NoError(t, err)

	h := m.History()
	require.Len(t, h, 3)
	assert.Equal(t, []string{other.Cert.Subject.String()}, h[1].Channels[0].CAAdded)
	assert.Empty(t, h[1].Channels[0].CARemoved)
	assert.Equal(t, h[1].Channels[0].OldSerial, h[1].Channels[0].NewSerial, "the certificate did not change")
	assert.Equal(t, []string{other.Cert.Subject.String()}, h[0].Channels[0].CARemoved)
	assert.Empty(t, h[0].Channels[0].CAAdded)
	assert.Equal(t, ResultOK, h[0].Result)

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, `ca_added="[`+other.Cert.Subject.String()+`]"`)
	assert.Contains(t, out, `ca_removed="[`+other.Cert.Subject.String()+`]"`)
}

// TestHistoryBounded: the ring keeps the last 100 loads, newest first,
// and every field of an entry is bounded.
func TestHistoryBounded(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	long := strings.Repeat("é", 400) // 800 bytes
	for i := range 130 {
		_, err := m.Reload(context.Background(), WithTrigger(fmt.Sprint("t", i)), WithUser(long))
		require.NoError(t, err)
	}
	h := m.History()
	require.Len(t, h, HistorySize)
	assert.True(t, strings.HasPrefix(h[0].Trigger, "t129 "), h[0].Trigger[:10])
	assert.True(t, strings.HasPrefix(h[99].Trigger, "t30 "), h[99].Trigger[:10])
	for _, e := range h {
		assert.LessOrEqual(t, len(e.Trigger), historyTriggerBytes)
		assert.True(t, strings.HasSuffix(e.Trigger, "é"), "cut on a character boundary")
	}

	f.fail(fmt.Errorf("%s", strings.Repeat("x", 2000)))
	_, err := m.Reload(context.Background())
	require.Error(t, err)
	assert.Len(t, m.History()[0].Error, historyErrorBytes)
	assert.Len(t, m.History(), HistorySize)
}

// TestHistoryManyCAs: more CA changes than an entry keeps are summarised.
func TestHistoryManyCAs(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	pem := append([]byte{}, f.ca.CertPEM...)
	for i := range 20 {
		pem = append(pem, pkitest.MustCA(t, fmt.Sprint("extra ", i)).CertPEM...)
	}
	f.write("ca.crt", pem, 0o644)
	_, err := m.Reload(context.Background(), ForChannel(ChannelClient))
	require.NoError(t, err)
	added := m.History()[0].Channels[0].CAAdded
	require.Len(t, added, historyCASubjects+1)
	assert.Equal(t, "... and 4 more", added[historyCASubjects])
}

// TestHistoryConcurrentReaders: History is safe while reloads run.
func TestHistoryConcurrentReaders(t *testing.T) {
	f := newFixture(t)
	m := f.manager()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			_, _ = m.Reload(context.Background())
		}
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-done:
			assert.Len(t, m.History(), 21)
			return
		case <-deadline:
			t.Fatal("reloads did not finish")
		default:
			h := m.History()
			require.NotEmpty(t, h)
			assert.Equal(t, "startup", h[len(h)-1].Trigger)
		}
	}
}
