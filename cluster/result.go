package cluster

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ssld/ssld/tlsctx"
)

// Outcome is the status of one node (NodeResult.Status).
type Outcome string

const (
	// StatusOK: the node reloaded and now serves a different certificate
	// (matching --expect-* when given). For status and dry runs: the node
	// answered and serves what it reports.
	StatusOK Outcome = "ok"
	// StatusUnchanged: the reload succeeded and the node serves the same
	// certificate as before because its files did not change.
	StatusUnchanged Outcome = "unchanged"
	// StatusStale: the reload said OK but the node still serves its old
	// certificate while its files changed (ssld nodes report the
	// fingerprint they loaded), or what it serves does not match --expect-*.
	StatusStale Outcome = "stale"
	// StatusFailed: the node refused the reload (its error is in Error) or
	// anything else went wrong (TLS verification, protocol).
	StatusFailed Outcome = "failed"
	// StatusUnreachable: the connection was refused, reset or not routable.
	StatusUnreachable Outcome = "unreachable"
	// StatusTimeout: a dial, handshake or query took longer than the timeout.
	StatusTimeout Outcome = "timeout"
	// StatusAuthFailed: the node rejected the user or password, or the user
	// lacks the privilege to reload.
	StatusAuthFailed Outcome = "auth_failed"
	// StatusReady (dry run, ssld nodes): the node validated its files the
	// way SSL_RELOAD would and a reload would succeed; WouldServe is what
	// it would then serve.
	StatusReady Outcome = "ready"
	// StatusWouldFail (dry run, ssld nodes): a reload would fail (the
	// node's reason is in Error), or would serve a certificate that fails
	// a proof check.
	StatusWouldFail Outcome = "would_fail"
	// StatusSkipped: not attempted (a node of an earlier phase failed, a
	// rolling run stopped earlier, --max-failures was reached, the run was
	// cancelled, or the cluster reports the node not online).
	StatusSkipped Outcome = "skipped"
	// StatusUnproven (status --require-current, dialects without CHECK
	// TLS): the node cannot show what its files hold, so nothing proves it
	// serves them. A reload --require-current proves it by reloading.
	StatusUnproven Outcome = "unproven"
)

// Good reports whether s counts as success for the exit code.
func (s Outcome) Good() bool { return s == StatusOK || s == StatusUnchanged || s == StatusReady }

// Served is what a node served on one fresh TLS handshake.
type Served struct {
	Serial      string    // the leaf's serial as openssl prints it (tlsctx.FormatSerial)
	Fingerprint string    // lower-case hex SHA-256 of the leaf DER
	NotAfter    time.Time // the leaf's expiry
	Issuer      string    // the leaf's issuer DN, RFC 4514 ("CN=ca2,O=Example")
	KeyType     string    // the leaf's key: "ECDSA P-256", "RSA 2048", ...

	issuerDN []rdn // Issuer, normalised for --expect-issuer
}

// ServedBy describes a leaf certificate.
func ServedBy(leaf *x509.Certificate) Served {
	sum := sha256.Sum256(leaf.Raw)
	return Served{
		Serial:      tlsctx.FormatSerial(leaf.SerialNumber),
		Fingerprint: hex.EncodeToString(sum[:]),
		NotAfter:    leaf.NotAfter.UTC(),
		Issuer:      leaf.Issuer.String(),
		KeyType:     tlsctx.KeyType(leaf),
		issuerDN:    dnFromName(leaf.Issuer),
	}
}

// MarshalJSON writes {"serial","fingerprint","not_after","issuer","key_type"};
// not_after is RFC 3339 UTC, and every field is "" when nothing was read.
func (s Served) MarshalJSON() ([]byte, error) {
	na := ""
	if !s.NotAfter.IsZero() {
		na = s.NotAfter.UTC().Format(time.RFC3339)
	}
	return json.Marshal(struct {
		Serial      string `json:"serial"`
		Fingerprint string `json:"fingerprint"`
		NotAfter    string `json:"not_after"`
		Issuer      string `json:"issuer"`
		KeyType     string `json:"key_type"`
	}{s.Serial, s.Fingerprint, na, s.Issuer, s.KeyType})
}

// NodeResult is one node's row.
type NodeResult struct {
	Addr    string
	Role    Role
	Dialect Dialect // resolved; "auto" when the node was never reached
	Status  Outcome
	// Error is the node's own error text (e.g. "ERROR 3889 (HY000): ...") or
	// what went wrong talking to it; "" on success. Never holds a password.
	Error string
	// Statement is the reload statement run; for a dry run, CHECK TLS on
	// ssld nodes and the reload statement it would run on the others.
	Statement string
	// Before and After are what fresh TLS handshakes read before the reload
	// and after it. Status and dry runs fill Before only.
	Before, After Served
	// BeforeAll and AfterAll are every distinct certificate the probes
	// were served (Before and After first): the one an ordinary client
	// gets and, on a node serving an ECDSA and an RSA certificate, the one
	// an RSA-only client gets. Every proof check holds for each.
	BeforeAll, AfterAll []Served
	// WouldServe is, for a dry run on an ssld node, the certificate its
	// files hold now: what it would serve after a reload (from the node's
	// own validation). Empty otherwise.
	WouldServe Served
	// Reported is the fingerprint the node itself reports as loaded
	// (ssl_server_fingerprint; ssld nodes only), read after the reload.
	Reported string
	// Files is, with RequireCurrent on an ssld node, the client channel's
	// certificate as the node's files hold it now (CHECK TLS).
	Files Served
	// NextStep is what the operator should do about a row that is not ok
	// ("" for ok, unchanged and ready rows).
	NextStep string
	Duration time.Duration
	// Retries counts the retries (after backoff) this node needed.
	Retries int
	// State is the node's state as the cluster reported it ("" = online
	// or not reported). A node skipped because it is not online is not a
	// failure (see Failed).
	State string
	// Verified is true when the node's certificate verified (chain, and the
	// name where that is checked); false with InsecureSkipVerify, and for a
	// node never reached or whose certificate did not verify.
	Verified bool
}

type nodeJSON struct {
	Address    string   `json:"address"`
	Role       Role     `json:"role"`
	Dialect    Dialect  `json:"dialect"`
	Status     Outcome  `json:"status"`
	Error      string   `json:"error"`
	Statement  string   `json:"statement"`
	Before     Served   `json:"before"`
	After      Served   `json:"after"`
	WouldServe Served   `json:"would_serve"`
	Reported   string   `json:"reported_fingerprint"`
	Files      Served   `json:"files"`
	DurationMS int64    `json:"duration_ms"`
	Retries    int      `json:"retries"`
	Verified   bool     `json:"verified"`
	State      string   `json:"state"`
	NextStep   string   `json:"next_step"`
	BeforeAll  []Served `json:"before_all"`
	AfterAll   []Served `json:"after_all"`
}

// MarshalJSON writes the documented, stable row shape (docs/cluster.md):
// every key is always present, in a fixed order.
func (r NodeResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(nodeJSON{
		Address: r.Addr, Role: r.Role, Dialect: r.Dialect, Status: r.Status, Error: r.Error,
		Statement: r.Statement, Before: r.Before, After: r.After, WouldServe: r.WouldServe, Reported: r.Reported,
		Files: r.Files, DurationMS: r.Duration.Milliseconds(), Retries: r.Retries,
		Verified: r.Verified, State: r.State, NextStep: r.NextStep,
		BeforeAll: nonNil(r.BeforeAll), AfterAll: nonNil(r.AfterAll),
	})
}

// nonNil is list, or an empty one: the JSON key is always an array.
func nonNil(list []Served) []Served {
	if list == nil {
		return []Served{}
	}
	return list
}

// Report is the whole output of a run, as the CLI prints it.
type Report struct {
	Command string // "reload" or "status"
	DryRun  bool
	Shard   Shard  // the slice this run worked on (zero = the whole topology)
	Roles   []Role // the roles this run worked on (nil = all)
	// Wide makes WriteTable print one line per node (see WriteTable).
	Wide  bool
	Nodes []NodeResult
}

// Failed reports whether r counts against the run: any status but ok,
// unchanged and ready, except a node skipped because the cluster reports
// it offline, detached, ... (not a member right now: nothing to reload).
func (r NodeResult) Failed() bool {
	if r.Status.Good() {
		return false
	}
	return !(r.Status == StatusSkipped && !Online(r.State))
}

// Failures counts the nodes that failed (see Failed).
func Failures(rs []NodeResult) int {
	n := 0
	for _, r := range rs {
		if r.Failed() {
			n++
		}
	}
	return n
}

// ExitCode is 0 when no node failed (see Failed), else 1. (2, for usage
// and topology errors, is decided before a Report exists.)
func ExitCode(rs []NodeResult) int {
	if Failures(rs) > 0 {
		return 1
	}
	return 0
}

// Summary counts the nodes per status.
func Summary(rs []NodeResult) map[Outcome]int {
	m := map[Outcome]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// WriteJSON writes rep as one indented JSON document:
//
//	{"command":"reload","dry_run":false,"ok":true,"summary":{"ok":4},"nodes":[...]}
//
// Map keys are sorted by encoding/json, so the output is stable.
func WriteJSON(w io.Writer, rep Report) error {
	nodes := rep.Nodes
	if nodes == nil {
		nodes = []NodeResult{}
	}
	roles := rep.Roles
	if len(roles) == 0 {
		roles = []Role{RoleLeaf, RoleChild, RoleMaster}
	}
	doc := struct {
		Command string          `json:"command"`
		DryRun  bool            `json:"dry_run"`
		Shard   string          `json:"shard"`
		Roles   []Role          `json:"roles"`
		OK      bool            `json:"ok"`
		Summary map[Outcome]int `json:"summary"`
		Nodes   []NodeResult    `json:"nodes"`
	}{rep.Command, rep.DryRun, rep.Shard.String(), roles, ExitCode(nodes) == 0, Summary(nodes), nodes}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := w.Write(terminalSafeJSON(buf.Bytes()))
	return err
}

// terminalSafeJSON rewrites every rune of a JSON document that a terminal
// could act on and encoding/json leaves raw (DEL, the C1 controls such as
// U+009B CSI, bidi overrides, U+FEFF, ...) as a \uXXXX escape. The
// document decodes to the same values; printed with cat it moves no
// cursor and retitles no window. encoding/json already escapes the C0
// controls and replaces invalid UTF-8.
func terminalSafeJSON(b []byte) []byte {
	clean := true
	for _, c := range b {
		if c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+64)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r < 0x7f || (r != utf8.RuneError && unicode.IsPrint(r)) {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, "\\u%04x\\u%04x", r1, r2)
		} else {
			out = fmt.Appendf(out, "\\u%04x", r)
		}
		i += n
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

// oneLine is s on one line, escaped for a terminal (see Escape).
func oneLine(s string) string { return Escape(strings.Join(strings.Fields(s), " ")) }

// Printable is text a node returned (or an error about it) as one line for
// a terminal or a log: escaped, on one line, "-" when empty.
func Printable(s string) string { return dash(oneLine(s)) }

// Escape makes text that came from a node (error messages, host names)
// safe to print on a terminal: control characters, invalid UTF-8 and other
// non-printable runes become Go escapes (\x1b, \u200b), everything else,
// quotes and backslashes included, is kept as it is. JSON output needs no
// such step: encoding/json escapes control characters itself.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case !unicode.IsPrint(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
