package tlsctx

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
)

type recorder struct {
	mu     sync.Mutex
	events []ReloadEvent
}

func (r *recorder) observe(ev ReloadEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) take() []ReloadEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// one takes the events and requires that there is exactly one.
func (r *recorder) one(t *testing.T) ReloadEvent {
	t.Helper()
	ev := r.take()
	require.Len(t, ev, 1)
	return ev[0]
}

func TestObserver(t *testing.T) {
	f := newFixture(t)
	var rec recorder
	m := f.manager(WithObserver(rec.observe))
	assert.Empty(t, rec.take(), "the initial load is not reported")
	ctx := context.Background()

	_, err := m.Reload(ctx, WithTrigger("sql"))
	require.NoError(t, err)
	ev := rec.one(t)
	assert.Equal(t, "sql", ev.Trigger)
	assert.Equal(t, ResultUnchanged, ev.Result)
	assert.NoError(t, ev.Err)
	assert.Equal(t, uint64(1), ev.Generation)
	assert.Equal(t, []Channel{ChannelClient, ChannelCluster}, ev.Channels)

	f.writeLeaf("server", f.issue(pki.LeafOptions{}))
	_, err = m.Reload(ctx, WithTrigger("watch"), ForChannel(ChannelClient))
	require.NoError(t, err)
	ev = rec.one(t)
	assert.Equal(t, ReloadEvent{Trigger: "watch", Result: ResultOK, Duration: ev.Duration, Generation: 2, Channels: []Channel{ChannelClient}}, ev)

	f.write("server.crt", []byte("garbage"), 0o644)
	_, err = m.Reload(ctx, WithTrigger("signal"))
	require.Error(t, err)
	ev = rec.one(t)
	assert.Equal(t, ResultFailed, ev.Result)
	assert.Equal(t, "signal", ev.Trigger)
	assert.Equal(t, uint64(2), ev.Generation)
	var re *ReloadError
	require.True(t, errors.As(ev.Err, &re))
	assert.Equal(t, "ssl_cert", re.Setting)

	// Calls that fail before they start are reported too.
	_, err = m.Reload(ctx, ForChannel("bogus"))
	require.Error(t, err)
	ev = rec.one(t)
	assert.Equal(t, ResultFailed, ev.Result)
	assert.Equal(t, "api", ev.Trigger)

	// Mutating the event's Channels must not affect the Manager.
	_, _ = m.Reload(ctx)
	ev = rec.one(t)
	ev.Channels[0] = "mutated"
	_, _ = m.Reload(ctx)
	assert.Equal(t, ChannelClient, rec.one(t).Channels[0])
}

// TestAddObserver: an observer added after New sees the reloads that start
// after it is added, after the WithObserver one, each with its own copy of
// the channel list.
func TestAddObserver(t *testing.T) {
	f := newFixture(t)
	var first, later recorder
	m := f.manager(WithObserver(first.observe))
	ctx := context.Background()
	_, err := m.Reload(ctx, WithTrigger("sql"))
	require.NoError(t, err)
	first.one(t)

	var order []string
	m.AddObserver(func(ev ReloadEvent) {
		order = append(order, "added")
		ev.Channels[0] = "changed by an observer"
		later.observe(ev)
	})
	m.AddObserver(func(ev ReloadEvent) { order = append(order, "added second:"+string(ev.Channels[0])) })
	assert.Empty(t, later.take(), "reloads before AddObserver are not replayed")
	_, err = m.Reload(ctx, WithTrigger("signal"))
	require.NoError(t, err)
	assert.Equal(t, "signal", first.one(t).Trigger)
	assert.Equal(t, "signal", later.one(t).Trigger)
	assert.Equal(t, []string{"added", "added second:client"}, order, "in order of registration, each with its own channel list")
}
