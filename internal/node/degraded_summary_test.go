package node

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ssld/ssld/tlsctx"
)

// TestDegradedSummary: the degraded-start message names the channels that
// are down and the listener each one leaves refusing, and the channel that
// still serves; a node without the cluster channel never speaks of it.
func TestDegradedSummary(t *testing.T) {
	client, cluster := tlsctx.ChannelClient, tlsctx.ChannelCluster
	cases := []struct {
		name     string
		served   []tlsctx.Channel
		down     []tlsctx.Channel
		expected string
	}{
		{"client only, down", []tlsctx.Channel{client}, []tlsctx.Channel{client},
			"TLS is off on channel client: the listen port refuses every connection"},
		{"both served, client down", []tlsctx.Channel{client, cluster}, []tlsctx.Channel{client},
			"TLS is off on channel client: the listen port refuses every connection (channel cluster is up: the cluster_listen port serves)"},
		{"both served, cluster down", []tlsctx.Channel{client, cluster}, []tlsctx.Channel{cluster},
			"TLS is off on channel cluster: the cluster_listen port refuses every connection (channel client is up: the listen port serves)"},
		{"both down", []tlsctx.Channel{client, cluster}, []tlsctx.Channel{client, cluster},
			"TLS is off on channels client, cluster: the listen and cluster_listen ports refuse every connection"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.expected, DegradedSummary(tlsctx.Status{Channels: tc.served, Unavailable: tc.down}))
		})
	}
}
