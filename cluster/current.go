package cluster

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ssld/ssld/sysvars"
)

// The --require-current proof: a node serves exactly what its own files
// hold now. On ssld nodes CHECK TLS (the reload's validation, nothing
// swapped) says per channel what the files hold, SHOW SSL STATUS what each
// channel serves, and the fresh handshake what a new client of the client
// channel really gets; all must agree. It holds on any rerun: a node
// reloaded by an earlier run still passes, a node whose files changed
// since its last reload fails with both fingerprints.

// checkRow is one validated row of CHECK TLS.
type checkRow struct {
	channel, status string
	files           Served // what the channel's files hold ("" fields: TLS off or would_fail)
	message         string
}

var (
	hexFingerprint = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexSerial      = regexp.MustCompile(`^[0-9A-Fa-f:]{1,128}$`)
	channelName    = regexp.MustCompile(`^[a-z_]{1,32}$`)
)

// maxNodeText bounds a message a node supplies (MySQL's MYSQL_ERRMSG_SIZE).
const maxNodeText = 512

// boundText cuts s to at most n bytes on a rune boundary, marking the cut.
func boundText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8RuneStart(s[i]) {
		i--
	}
	return s[:i] + "… (cut at " + fmt.Sprint(n) + " bytes)"
}

func utf8RuneStart(b byte) bool { return b&0xc0 != 0x80 }

// parseCheckTLS validates CHECK TLS's answer: the columns by name, a
// channel name, a known status, a 64-digit fingerprint and a hex serial
// where there is a certificate. Anything else is an error: what a lying
// node sends is refused, not printed.
func parseCheckTLS(cols []string, rows [][]string) ([]checkRow, error) {
	idx := map[string]int{}
	for i, c := range cols {
		idx[strings.ToLower(c)] = i
	}
	for _, c := range []string{"channel", "status", "serial", "fingerprint_sha256", "not_after", "issuer", "message"} {
		if _, ok := idx[c]; !ok {
			return nil, fmt.Errorf("%s: the node's answer has no %s column", PreflightStatement, c)
		}
	}
	var out []checkRow
	for _, row := range rows {
		cr := checkRow{channel: row[idx["channel"]], status: row[idx["status"]], message: boundText(row[idx["message"]], maxNodeText)}
		if !channelName.MatchString(cr.channel) {
			return nil, fmt.Errorf("%s: malformed answer: channel %q", PreflightStatement, boundText(cr.channel, 64))
		}
		switch cr.status {
		case "ready", "would_fail":
		default:
			return nil, fmt.Errorf("%s: malformed answer: channel %s: status %q", PreflightStatement, cr.channel, boundText(cr.status, 64))
		}
		fp, serial := strings.ToLower(row[idx["fingerprint_sha256"]]), row[idx["serial"]]
		if cr.status == "ready" && (fp != "" || serial != "") {
			if !hexFingerprint.MatchString(fp) || !hexSerial.MatchString(serial) {
				return nil, fmt.Errorf("%s: malformed answer: channel %s: the serial or fingerprint is not hex", PreflightStatement, cr.channel)
			}
			cr.files = Served{Serial: serial, Fingerprint: fp, Issuer: boundText(row[idx["issuer"]], maxNodeText)}
			cr.files.issuerDN, _ = parseDN(cr.files.Issuer)
			if t, err := time.Parse(sysvars.TimeFormat, row[idx["not_after"]]); err == nil {
				cr.files.NotAfter = t.UTC()
			}
		}
		out = append(out, cr)
	}
	return out, nil
}

// servedChannels reads SHOW SSL STATUS: channel -> the fingerprints
// served, one per certificate in the node's order (one "" for a channel
// without TLS).
func servedChannels(ctx context.Context, conn *sqlConn) (map[string][]string, error) {
	cols, rows, err := conn.query(ctx, "SHOW SSL STATUS", nodeStateLimit)
	if err != nil {
		return nil, &stepError{"SHOW SSL STATUS", err}
	}
	ci, fi := -1, -1
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "channel":
			ci = i
		case "fingerprint_sha256":
			fi = i
		}
	}
	if ci < 0 || fi < 0 {
		return nil, fmt.Errorf("SHOW SSL STATUS: the node's answer has no Channel and Fingerprint_SHA256 columns")
	}
	out := map[string][]string{}
	for _, row := range rows {
		ch, fp := row[ci], strings.ToLower(row[fi])
		if !channelName.MatchString(ch) || (fp != "" && !hexFingerprint.MatchString(fp)) {
			return nil, fmt.Errorf("SHOW SSL STATUS: malformed answer for channel %q", boundText(ch, 64))
		}
		out[ch] = append(out[ch], fp)
	}
	return out, nil
}

// currentProof checks, on an ssld node, that every channel serves what its
// files hold now, every certificate of it; served is what the fresh
// handshakes got. It returns the reasons the node is stale, or a failure:
// the files do not load (status failed), or the node's answers could not
// be read.
func (r *runner) currentProof(ctx context.Context, conn *sqlConn, res *NodeResult, served []Served) (stale []string, fail error) {
	cols, rows, err := conn.query(ctx, PreflightStatement, nodeStateLimit)
	if err != nil {
		return nil, &stepError{PreflightStatement + " (--require-current)", err}
	}
	checks, err := parseCheckTLS(cols, rows)
	if err != nil {
		return nil, err
	}
	live, err := servedChannels(ctx, conn)
	if err != nil {
		return nil, err
	}
	if fails := wouldFail(checks); fails != "" {
		return nil, &currentError{"--require-current: the node could not load its files now, so what it serves is not " +
			"what they hold: " + fails}
	}
	if len(checks) == 0 {
		return nil, &currentError{"--require-current: " + PreflightStatement + " reported no channel"}
	}
	// CHECK TLS has one row per certificate: the files of each channel.
	var order []string
	files := map[string][]Served{}
	for _, c := range checks {
		if _, ok := files[c.channel]; !ok {
			order = append(order, c.channel)
		}
		files[c.channel] = append(files[c.channel], c.files)
	}
	for _, ch := range order {
		held := files[ch]
		var heldFPs []string
		for _, f := range held {
			heldFPs = append(heldFPs, f.Fingerprint)
		}
		if ch == "client" {
			res.Files = held[0]
		}
		fps, ok := live[ch]
		switch {
		case !ok:
			stale = append(stale, fmt.Sprintf("channel %s: its files hold %s but SHOW SSL STATUS lists no such channel",
				ch, dash(held[0].Fingerprint)))
			continue
		case !slices.Equal(fps, heldFPs):
			for i, f := range held {
				if i < len(fps) && fps[i] == f.Fingerprint {
					continue
				}
				servedFP := ""
				if i < len(fps) {
					servedFP = fps[i]
				}
				stale = append(stale, fmt.Sprintf("channel %s: %sserves %s but its files hold %s (serial %s): they changed since its last reload",
					ch, position(i, len(held)), dash(servedFP), dash(f.Fingerprint), dash(f.Serial)))
			}
			if len(fps) > len(held) {
				stale = append(stale, fmt.Sprintf("channel %s: serves %d certificates but its files hold %d: they changed since its last reload",
					ch, len(fps), len(held)))
			}
			continue
		}
		if ch != "client" {
			continue
		}
		// Every certificate a new handshake got is one the files hold.
		for _, s := range served {
			if !slices.Contains(heldFPs, s.Fingerprint) {
				stale = append(stale, fmt.Sprintf("channel client: a new handshake gets %s but its files hold %s (the node reports %s served)",
					dash(s.Fingerprint), dash(strings.Join(heldFPs, ", ")), dash(strings.Join(fps, ", "))))
			}
		}
	}
	return stale, nil
}

// position names certificate i of n ("certificate 2: "), "" when n is 1.
func position(i, n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf("certificate %d: ", i+1)
}

// currentError is a --require-current proof that could not be made
// because of the node's own state (its files do not load).
type currentError struct{ msg string }

func (e *currentError) Error() string { return e.msg }

// wouldFail summarises the would_fail rows of CHECK TLS: one reason per
// distinct message, naming every channel that has it; the rows that only
// say "valid, but the reload is all or nothing" are left out when another
// row gives the real reason. "" when every channel is ready.
func wouldFail(checks []checkRow) string {
	var order []string
	chans := map[string][]string{}
	allOrNothing := 0
	for _, c := range checks {
		if c.status != "would_fail" {
			continue
		}
		// The node's message often names the channel itself: the group
		// below names it once.
		msg := strings.TrimPrefix(reloadReason(c.message), "channel "+c.channel+": ")
		if strings.Contains(msg, "all or nothing") {
			allOrNothing++
			continue
		}
		if _, ok := chans[msg]; !ok {
			order = append(order, msg)
		}
		chans[msg] = append(chans[msg], c.channel)
	}
	if len(order) == 0 && allOrNothing > 0 {
		for _, c := range checks {
			if c.status == "would_fail" {
				return "channel " + c.channel + ": " + reloadReason(c.message)
			}
		}
	}
	var parts []string
	for _, m := range order {
		word := "channel "
		if len(chans[m]) > 1 {
			word = "channels "
		}
		parts = append(parts, word+strings.Join(chans[m], ", ")+": "+m)
	}
	return strings.Join(parts, "; ")
}

// reloadReason is a node's reload error without the words about the
// contexts it keeps: in a dry run or a proof nothing was reloaded, so
// "the previous TLS contexts remain in use" says nothing, and the
// "Failed to set up SSL because of the following SSL library error:"
// preamble hides the reason behind 60 characters.
func reloadReason(msg string) string {
	msg = strings.TrimSpace(msg)
	for _, p := range []string{"Failed to set up SSL because of the following SSL library error: ", "Failed to reload TLS: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	for _, s := range []string{"; the previous TLS contexts remain in use", "; TLS stays off until a reload succeeds"} {
		msg = strings.TrimSuffix(msg, s)
	}
	return msg
}
