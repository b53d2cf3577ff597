package tlsctx

// checkShape rejects settings changes that only a restart may apply: the
// cluster channel appearing or going (Settings.Serves); a channel's cert+key going from unset to set or
// back; its CA set going from none to some or back. Paths and the TLS
// policy (tls_version and the rest, see Policy) may change freely.
func checkShape(prev, next Settings, chans []Channel) error {
	restart := func(ch Channel, setting, what string) error {
		return &ReloadError{Channel: ch, Setting: setting, RestartRequired: true,
			Reason: what + "; this change requires a restart"}
	}
	if was, is := prev.Serves(ChannelCluster), next.Serves(ChannelCluster); was != is {
		// Under ClusterAuto a cluster_ssl_* setting appeared or went;
		// under ClusterOn/ClusterOff the embedder's listener did (ssld:
		// cluster_listen).
		keys := next.clusterKeys()
		what := "the cluster channel went from not served to served"
		if was {
			keys, what = prev.clusterKeys(), "the cluster channel went from served to not served"
		}
		setting := "cluster_listen"
		if len(keys) > 0 {
			setting = keys[0]
		}
		return restart(ChannelCluster, setting, what)
	}
	for _, ch := range chans {
		a, b := channelMaterial(prev, ch), channelMaterial(next, ch)
		if a.hasPair() != b.hasPair() {
			if b.hasPair() {
				return restart(ch, b.certSetting, "certificate and key went from unset to set (TLS off -> on)")
			}
			return restart(ch, a.certSetting, "certificate and key went from set to unset (TLS on -> off)")
		}
		if a.hasCA() != b.hasCA() {
			m, what := b, "CA went from none to some"
			if !b.hasCA() {
				m, what = a, "CA went from some to none"
			}
			setting := m.caSetting
			if m.ca == "" {
				setting = m.capathSetting
			}
			return restart(ch, setting, what)
		}
	}
	return nil
}
