package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/config"
)

// TestDescriptorReserveGate: releasing the reserve pauses the accept gate
// until the reserve is refilled (the reload observer) or closed (shutdown,
// which must not leave the listeners paused); a second release while
// released frees nothing.
func TestDescriptorReserveGate(t *testing.T) {
	r := newDescriptorReserve()
	defer r.close()
	require.Len(t, r.fds, descriptorsReserved)
	assert.False(t, r.acceptGate().Paused())
	require.True(t, r.release())
	assert.True(t, r.acceptGate().Paused(), "released: no accept")
	assert.False(t, r.release(), "nothing left to release")
	r.refill()
	assert.False(t, r.acceptGate().Paused(), "refilled: accepting again")
	assert.Len(t, r.fds, descriptorsReserved)
	require.True(t, r.release())
	r.close()
	assert.False(t, r.acceptGate().Paused(), "closed: accepting again")
	var nilReserve *descriptorReserve
	assert.False(t, nilReserve.release())
	assert.Nil(t, nilReserve.acceptGate())
}

// TestDescriptorBudget: the descriptors a node may hold with every
// listener at its limit, plus a reload's (TestDescriptorBudgetQuiet, e2e:
// a node whose limit covers them says nothing at start-up).
func TestDescriptorBudget(t *testing.T) {
	c := &config.File{MaxConnections: 151, Socket: "s", ClusterListen: "c", MetricsListen: "m"}
	need, parts := descriptorBudget(c)
	assert.Equal(t, 16+16+8+152+152+32+32, need)
	for _, part := range []string{"152 for listen (max_connections + 1)", "152 for cluster_listen", "32 for socket", "32 for metrics_listen",
		"16 for a reload and 8 held in reserve for one"} {
		assert.Contains(t, parts, part)
	}
	need, _ = descriptorBudget(&config.File{MaxConnections: 10})
	assert.Equal(t, 16+16+8+11, need)

}
