package tlsctx

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// HistorySize is how many loads History keeps: the start-up load and the
// last reload attempts, the oldest dropped first.
const HistorySize = 100

// Bounds of one HistoryEntry, so that the history stays bounded in bytes.
const (
	historyErrorBytes   = 512 // MySQL's MYSQL_ERRMSG_SIZE
	historyTriggerBytes = 300 // trigger plus user@host (MySQL: 32 + 255)
	historySubjectBytes = 256
	historyCASubjects   = 16 // per direction; the rest is summarised
)

// HistoryEntry is one load of TLS material: the start-up load or one
// Reload call (ok, unchanged or failed, refused ones included). CheckTLS is
// not a load and is not recorded. Every string is bounded.
type HistoryEntry struct {
	Time       time.Time
	Trigger    string // "startup", "sql admin@localhost", "signal", "watch", "api"
	Result     string // ResultOK, ResultUnchanged or ResultFailed
	Error      string // "" unless Result is ResultFailed; at most 512 bytes
	Generation uint64 // the generation live after the load
	// Channels are the channels the load was asked for (only those of a
	// FOR CHANNEL reload); empty when it failed before a channel was
	// known to be served (an unknown channel).
	Channels []ChannelChange
}

// ChannelChange is what one load did to one channel's certificate and CA
// set. Old and new are equal when nothing was swapped (unchanged, failed).
type ChannelChange struct {
	Channel Channel
	// The serials and SHA-256 fingerprints of the certificates served
	// before and after: "" when TLS was or is off; with several
	// certificates, each one's in the order of ssl_cert, joined by ",".
	OldSerial, NewSerial           string
	OldFingerprint, NewFingerprint string
	// CAAdded and CARemoved are the subjects of the CA certificates that
	// appeared in or left the channel's CA set, at most 16 each; a last
	// element "... and N more" stands for the rest.
	CAAdded, CARemoved []string
}

// history is a ring of the last HistorySize entries, safe for concurrent
// use (reloads that fail before taking the reload slot record too).
type history struct {
	mu   sync.Mutex
	ring []HistoryEntry
	next int // where the next entry goes once the ring is full
}

func (h *history) add(e HistoryEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) < HistorySize {
		h.ring = append(h.ring, e)
		return
	}
	h.ring[h.next] = e
	h.next = (h.next + 1) % HistorySize
}

// History returns the recorded loads, newest first: the start-up load and
// the last reload attempts, at most HistorySize. The slice is a copy.
func (m *Manager) History() []HistoryEntry {
	h := &m.history
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HistoryEntry, 0, len(h.ring))
	for i := len(h.ring) - 1; i >= 0; i-- {
		out = append(out, h.ring[(h.next+i)%len(h.ring)])
	}
	return out
}

// record adds one load to the history. old and cur are the snapshots
// before and after (equal when nothing was swapped).
func (m *Manager) record(at time.Time, trigger, result string, err error, gen uint64, chans []Channel, old, cur map[Channel]*Snapshot) {
	e := HistoryEntry{Time: at, Trigger: cut(trigger, historyTriggerBytes), Result: result, Generation: gen}
	if err != nil {
		e.Error = cut(err.Error(), historyErrorBytes)
	}
	for _, ch := range chans {
		if !slices.Contains(m.channels, ch) || len(e.Channels) == len(allChannels) {
			continue // not a served channel: nothing of it was loaded
		}
		if slices.ContainsFunc(e.Channels, func(c ChannelChange) bool { return c.Channel == ch }) {
			continue
		}
		e.Channels = append(e.Channels, channelChange(ch, old[ch], cur[ch]))
	}
	m.history.add(e)
}

func channelChange(ch Channel, old, cur *Snapshot) ChannelChange {
	c := ChannelChange{Channel: ch, OldSerial: old.serials(), OldFingerprint: old.fingerprints(),
		NewSerial: cur.serials(), NewFingerprint: cur.fingerprints()}
	if old != cur {
		c.CAAdded = caDiff(cur, old)
		c.CARemoved = caDiff(old, cur)
	}
	return c
}

// serials is the serial of every certificate of s, joined by ","; ""
// when TLS is off.
func (s *Snapshot) serials() string {
	var out []string
	for _, c := range s.Served() {
		out = append(out, c.Serial())
	}
	return strings.Join(out, ",")
}

// fingerprints is the SHA-256 fingerprint of every certificate of s,
// joined by ","; "" when TLS is off.
func (s *Snapshot) fingerprints() string {
	var out []string
	for _, c := range s.Served() {
		out = append(out, c.Fingerprint())
	}
	return strings.Join(out, ",")
}

// caDiff lists the subjects of the CA certificates of a that b lacks.
func caDiff(a, b *Snapshot) []string {
	if a == nil {
		return nil
	}
	in := map[string]bool{}
	if b != nil {
		for _, c := range b.caCerts {
			in[string(c.cert.Raw)] = true
		}
	}
	var out []string
	n := 0
	for _, c := range a.caCerts {
		if in[string(c.cert.Raw)] {
			continue
		}
		n++
		if n <= historyCASubjects {
			out = append(out, cut(c.cert.Subject.String(), historySubjectBytes))
		}
	}
	if n > historyCASubjects {
		out = append(out, "... and "+strconv.Itoa(n-historyCASubjects)+" more")
	}
	return out
}

// cut returns s cut to at most n bytes on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
