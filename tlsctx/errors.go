package tlsctx

import (
	"strconv"
	"strings"
)

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
