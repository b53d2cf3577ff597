package tlsctx

import (
	"errors"
	"strconv"
	"strings"
)

// ErrOutsideValidity is wrapped by the *ReloadError of a certificate that is
// expired or not yet valid (errors.Is). Renewing the file is the whole fix,
// which is why `ssld check --allow-expired` (the systemd unit's start check)
// lets a node with nothing else wrong start degraded.
var ErrOutsideValidity = errors.New("certificate outside its validity window")

// ErrChannelNotServed is wrapped by the *ReloadError of a Reload or
// Validate that asks (ForChannel) for a channel the Manager does not serve:
// the cluster channel when neither a cluster listener nor a cluster_ssl_*
// setting is configured (see Settings.Serves). Like an unknown channel,
// such a request changes nothing and records no attempt.
var ErrChannelNotServed = errors.New("channel not served")

// ReloadError is the error New and Reload return. It names the channel, the
// setting (e.g. "ssl_cert", "cluster_ssl_ca", "tls_version", "config"), the
// file when there is one, and the reason. RestartRequired is true when the
// new settings change the shape of the configuration in a way only a
// restart may apply; the live snapshots are kept either way.
type ReloadError struct {
	Channel         Channel // "" when the error is not about one channel
	Setting         string
	File            string
	Reason          string
	RestartRequired bool
	Err             error // underlying error, may be nil
}

// Error formats the error as
// `channel client: ssl_cert "/etc/ssld/server.crt": certificate expired at ...`.
func (e *ReloadError) Error() string {
	var b strings.Builder
	if e.Channel != "" {
		b.WriteString("channel ")
		b.WriteString(string(e.Channel))
		b.WriteString(": ")
	}
	b.WriteString(e.Setting)
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.File))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *ReloadError) Unwrap() error { return e.Err }
