package cluster

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// TableWidth is the width the table fits in, whatever the nodes said: the
// error and the next step of a row go on their own indented lines, wrapped
// to it, and an address too long for its column gets a line of its own.
const TableWidth = 160

// maxTableSerial is the widest serial the narrow table prints in full: 20
// octets, the most RFC 5280 allows. Longer ones (only a node that lies
// sends them) are cut with "…"; the JSON and --wide keep them whole.
const maxTableSerial = 40

// WriteTable writes one row per node and a summary line. The table fits
// TableWidth columns: each row's error and next step are on their own
// indented lines below it; fingerprints are shortened to 16 hex digits,
// NOT AFTER is a date. With rep.Wide every node is one line (no width
// bound) with the full serials, the time of NOT AFTER and the error and
// next step last. Every text a node supplied is escaped (see Escape).
func WriteTable(w io.Writer, rep Report) error {
	var lines []string
	if rep.Wide {
		lines = wideTable(rep)
	} else {
		lines = narrowTable(rep)
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, strings.TrimRight(l, " ")+"\n"); err != nil {
			return err
		}
	}
	sum := Summary(rep.Nodes)
	var parts []string
	for _, s := range []Outcome{StatusOK, StatusUnchanged, StatusReady, StatusWouldFail, StatusStale, StatusUnproven, StatusFailed,
		StatusUnreachable, StatusTimeout, StatusAuthFailed, StatusSkipped} {
		if sum[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", sum[s], s))
		}
	}
	what := rep.Command
	if rep.DryRun {
		what += " (dry run: nothing reloaded)"
	}
	if !rep.Shard.All() {
		what += " shard " + rep.Shard.String()
	}
	_, err := fmt.Fprintf(w, "%s: %d nodes: %s\n", what, len(rep.Nodes), strings.Join(parts, ", "))
	return err
}

// shown is what the table's SERIAL/FINGERPRINT/NOT AFTER columns describe
// for row r: after the reload; for status and dry runs what is served now,
// or for a ready dry-run node what a reload would serve.
func shown(rep Report, r NodeResult) Served {
	switch {
	case rep.DryRun && r.WouldServe.Fingerprint != "":
		return r.WouldServe
	case rep.Command == "status" || rep.DryRun:
		return r.Before
	}
	return r.After
}

// cells are the columns of one row of the narrow table.
func narrowCells(rep Report, r NodeResult) []string {
	s := shown(rep, r)
	na := "-"
	if !s.NotAfter.IsZero() {
		na = s.NotAfter.UTC().Format(time.DateOnly)
	}
	return []string{Escape(r.Addr), Escape(string(r.Role)), Escape(string(r.Dialect)), Escape(string(r.Status)), yesNo(r.Verified),
		cut(dash(Escape(s.Serial)), maxTableSerial), cut(dash(Escape(short(s.Fingerprint))), 16), na, durationText(r.Duration)}
}

var narrowHeader = []string{"ADDRESS", "ROLE", "DIALECT", "STATUS", "VERIFIED", "SERIAL", "FINGERPRINT", "NOT AFTER", "DURATION"}

func narrowTable(rep Report) []string {
	rows := make([][]string, len(rep.Nodes))
	widths := make([]int, len(narrowHeader))
	for c, h := range narrowHeader {
		widths[c] = displayWidth(h)
	}
	for i, r := range rep.Nodes {
		rows[i] = narrowCells(rep, r)
		for c, v := range rows[i] {
			widths[c] = max(widths[c], displayWidth(v))
		}
	}
	// The columns after the address are bounded (roles, statuses, 40
	// serial digits, 16 fingerprint digits, a date); the address is not.
	// An address that would push the row past TableWidth goes on a line of
	// its own, and the row below it starts with an empty address cell.
	rest := 0
	for _, wd := range widths[1:] {
		rest += wd + 2
	}
	addrMax := max(TableWidth-rest, len("ADDRESS"))
	widths[0] = len("ADDRESS")
	for _, row := range rows {
		if w := displayWidth(row[0]); w <= addrMax {
			widths[0] = max(widths[0], w)
		}
	}
	const indent = "    "
	out := []string{joinCells(narrowHeader, widths)}
	for i, r := range rep.Nodes {
		cells := rows[i]
		if displayWidth(cells[0]) > widths[0] {
			out = append(out, wrap("", cells[0], TableWidth)...)
			cells = append([]string{""}, cells[1:]...)
		}
		out = append(out, joinCells(cells, widths))
		if r.Error != "" {
			out = append(out, wrap(indent+"error: ", oneLine(r.Error), TableWidth)...)
		}
		if r.NextStep != "" {
			out = append(out, wrap(indent+"next:  ", oneLine(r.NextStep), TableWidth)...)
		}
	}
	return out
}

var wideHeader = []string{"ADDRESS", "ROLE", "DIALECT", "STATUS", "VERIFIED", "SERIAL BEFORE", "SERIAL AFTER", "FINGERPRINT AFTER",
	"NOT AFTER", "DURATION", "ERROR", "NEXT STEP"}

func wideTable(rep Report) []string {
	rows := [][]string{wideHeader}
	for _, r := range rep.Nodes {
		s := shown(rep, r)
		na := "-"
		if !s.NotAfter.IsZero() {
			na = s.NotAfter.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{Escape(r.Addr), Escape(string(r.Role)), Escape(string(r.Dialect)), Escape(string(r.Status)),
			yesNo(r.Verified), dash(Escape(r.Before.Serial)), dash(Escape(s.Serial)), dash(Escape(short(s.Fingerprint))), na,
			durationText(r.Duration), dash(oneLine(r.Error)), dash(oneLine(r.NextStep))})
	}
	widths := make([]int, len(wideHeader))
	for _, row := range rows {
		for c, v := range row {
			widths[c] = max(widths[c], displayWidth(v))
		}
	}
	out := make([]string, len(rows))
	for i, row := range rows {
		out[i] = joinCells(row, widths)
	}
	return out
}

func durationText(d time.Duration) string { return d.Round(time.Millisecond).String() }

// joinCells pads each cell to its column's width, two spaces apart.
func joinCells(cells []string, widths []int) string {
	var b strings.Builder
	for c, v := range cells {
		b.WriteString(v)
		if c < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", max(widths[c]-displayWidth(v), 0)+2))
		}
	}
	return b.String()
}

// wrap breaks text into lines of at most width columns, the first starting
// with prefix and the others indented as deep. Words longer than a line
// (a long fingerprint, a path) are cut.
func wrap(prefix, text string, width int) []string {
	pad := strings.Repeat(" ", displayWidth(prefix))
	room := max(width-len(pad), 20)
	var out []string
	line, lw := prefix, 0
	flush := func() {
		out = append(out, line)
		line, lw = pad, 0
	}
	for _, word := range strings.Fields(text) {
		for displayWidth(word) > room {
			if lw > 0 {
				flush()
			}
			head, tail := splitWidth(word, room)
			line += head
			lw = room
			flush()
			word = tail
		}
		ww := displayWidth(word)
		if lw > 0 && lw+1+ww > room {
			flush()
		}
		if lw > 0 {
			line += " "
			lw++
		}
		line += word
		lw += ww
	}
	if lw > 0 || len(out) == 0 {
		out = append(out, line)
	}
	return out
}

// splitWidth splits s after at most width columns.
func splitWidth(s string, width int) (string, string) {
	w := 0
	for i, r := range s {
		rw := runeWidth(r)
		if w+rw > width {
			return s[:i], s[i:]
		}
		w += rw
	}
	return s, ""
}

// cut shortens s to at most width columns, ending in "…" when cut.
func cut(s string, width int) string {
	if displayWidth(s) <= width {
		return s
	}
	head, _ := splitWidth(s, width-1)
	return head + "…"
}

// displayWidth is how many terminal columns s takes: East Asian wide and
// fullwidth runes take two. s is escaped text (no control characters).
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r < 0x1100:
		return 1
	case r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf && r != 0x303f, r >= 0xac00 && r <= 0xd7a3,
		r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60,
		r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f, r >= 0x1f900 && r <= 0x1f9ff,
		r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}
