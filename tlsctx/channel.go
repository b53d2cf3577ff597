package tlsctx

import (
	"fmt"
	"strings"
)

// Channel names one set of TLS material the Manager holds.
type Channel string

const (
	// ChannelClient is the server certificate on the client-facing listener;
	// ssl_ca / ssl_capath verify client certificates.
	ChannelClient Channel = "client"
	// ChannelCluster is intra-cluster mutual TLS: the cluster listener and
	// the client side used to dial other nodes.
	ChannelCluster Channel = "cluster"
)

// allChannels is the order in which channels are built, logged and reported.
var allChannels = []Channel{ChannelClient, ChannelCluster}

// ParseChannel maps a channel name to a Channel. It accepts "client",
// "cluster" and MySQL's "mysql_main" and "mysql_admin" (both map to the
// client channel), case-insensitively. Any other name is an error. It is a
// pure function, safe for concurrent use.
func ParseChannel(s string) (Channel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "client", "mysql_main", "mysql_admin":
		return ChannelClient, nil
	case "cluster":
		return ChannelCluster, nil
	default:
		return "", fmt.Errorf("unknown TLS channel '%s' (want client, cluster, mysql_main or mysql_admin)", s)
	}
}

func (c Channel) valid() bool { return c == ChannelClient || c == ChannelCluster }
