package cluster

import (
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The proof checks: what a node serves after its reload (or, for status
// runs, now) must pass every check that was asked for; each one that fails
// is a reason in the row, and the node is stale.

// ParseValidity parses a --min-validity duration: Go durations ("720h",
// "90m") plus whole or fractional days with a "d" suffix, alone or in front
// of a Go duration ("30d", "1.5d", "1d12h"). It must be positive.
func ParseValidity(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("%q: want a duration like 30d, 720h or 1d12h", s)
	}
	var d time.Duration
	rest := in
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q: want a duration like 30d, 720h or 1d12h", s)
		}
		d = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	if rest != "" {
		x, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration like 30d, 720h or 1d12h", s)
		}
		d += x
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}

// rdn is one attribute of a distinguished name, normalised for comparison.
type rdn struct{ typ, value string }

// dnAttrNames maps the long and OID forms to the short names pkix uses.
var dnAttrNames = map[string]string{
	"commonname": "cn", "2.5.4.3": "cn",
	"organizationname": "o", "organization": "o", "2.5.4.10": "o",
	"organizationalunitname": "ou", "organizationalunit": "ou", "2.5.4.11": "ou",
	"countryname": "c", "country": "c", "2.5.4.6": "c",
	"stateorprovincename": "st", "s": "st", "2.5.4.8": "st",
	"localityname": "l", "locality": "l", "2.5.4.7": "l",
	"serialnumber": "serialnumber", "2.5.4.5": "serialnumber",
	"streetaddress": "street", "2.5.4.9": "street",
	"postalcode": "postalcode", "2.5.4.17": "postalcode",
}

// parseDN parses a distinguished name as RFC 4514 ("CN=ca2,O=Example") or
// as OpenSSL prints it ("/CN=ca2/O=Example", "CN = ca2, O = Example").
// Backslash escapes are honoured. The result is sorted: two names match
// when they hold the same attributes, whatever the order.
func parseDN(s string) ([]rdn, error) {
	s = strings.TrimSpace(s)
	sep := ','
	if strings.HasPrefix(s, "/") {
		sep, s = '/', s[1:]
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case rune(c) == sep || (sep == ',' && c == '+'):
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	var out []rdn
	for _, p := range parts {
		typ, val, ok := strings.Cut(p, "=")
		typ, val = strings.ToLower(strings.TrimSpace(typ)), strings.TrimSpace(val)
		if !ok || typ == "" || val == "" {
			return nil, fmt.Errorf("%q: want a distinguished name like CN=ca2,O=Example", s)
		}
		if short, ok := dnAttrNames[typ]; ok {
			typ = short
		}
		out = append(out, rdn{typ, strings.ToLower(val)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].typ != out[j].typ {
			return out[i].typ < out[j].typ
		}
		return out[i].value < out[j].value
	})
	return out, nil
}

// ParseDN checks a distinguished name for --expect-issuer.
func ParseDN(s string) error {
	_, err := parseDN(s)
	return err
}

// dnFromName normalises a certificate's name like parseDN does.
func dnFromName(n pkix.Name) []rdn {
	out, err := parseDN(n.String())
	if err != nil {
		return nil
	}
	return out
}

// matchDN reports whether every attribute of want is in have: "CN=ca2"
// matches an issuer "CN=ca2,O=Example", "CN=ca2,O=Other" does not. Values
// compare case-insensitively, as X.500 matching does for the usual string
// types.
func matchDN(want, have []rdn) bool {
	if len(want) == 0 {
		return false
	}
	used := make([]bool, len(have))
next:
	for _, w := range want {
		for i, h := range have {
			if !used[i] && h == w {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}

// proofFailures lists every check that the certificates of all fail (the
// certificates a node serves, first the one an ordinary client gets).
// before is what was served before the reload (nil when there was no
// reload: status runs). With several certificates, each check holds for
// each one, and a reason names the certificate it is about: one stale
// certificate makes the node stale.
func (r *runner) proofFailures(all []Served, before []Served) []string {
	var why []string
	name := func(s Served) string {
		if len(all) < 2 {
			return ""
		}
		return fmt.Sprintf("certificate %s (serial %s): ", s.KeyType, s.Serial)
	}
	if want := splitList(r.opts.ExpectSerial); len(want) > 0 {
		var have []string
		for _, s := range all {
			have = append(have, strings.TrimLeft(s.Serial, "0"))
			if !slices.Contains(want, strings.TrimLeft(s.Serial, "0")) {
				why = append(why, fmt.Sprintf("%sserves serial %s, expected %s", name(s), s.Serial, strings.Join(want, " or ")))
			}
		}
		for _, w := range want {
			if len(want) > 1 && !slices.Contains(have, w) {
				why = append(why, fmt.Sprintf("serves no certificate with the expected serial %s", w))
			}
		}
	}
	if want := splitList(r.opts.ExpectFingerprint); len(want) > 0 {
		var have []string
		for _, s := range all {
			have = append(have, s.Fingerprint)
			if !slices.Contains(want, s.Fingerprint) {
				var shorts []string
				for _, w := range want {
					shorts = append(shorts, short(w))
				}
				why = append(why, fmt.Sprintf("%sserves fingerprint %s, expected %s", name(s), short(s.Fingerprint), strings.Join(shorts, " or ")))
			}
		}
		for _, w := range want {
			if len(want) > 1 && !slices.Contains(have, w) {
				why = append(why, fmt.Sprintf("serves no certificate with the expected fingerprint %s", short(w)))
			}
		}
	}
	for _, s := range all {
		if r.expectIssuer != nil && !matchDN(r.expectIssuer, s.issuerDN) {
			why = append(why, fmt.Sprintf("%sissuer is %q, expected %q", name(s), s.Issuer, r.opts.ExpectIssuer))
		}
		if mv := r.opts.MinValidity; mv > 0 && !s.NotAfter.IsZero() {
			left := s.NotAfter.Sub(r.now())
			if left < mv {
				why = append(why, fmt.Sprintf("%svalid until %s, %s from now, less than --min-validity %s",
					name(s), s.NotAfter.UTC().Format(time.RFC3339), roundDays(left), roundDays(mv)))
			}
		}
		if r.opts.RequireChange && before != nil && slices.ContainsFunc(before, func(b Served) bool { return b.Fingerprint == s.Fingerprint }) {
			why = append(why, fmt.Sprintf("%sserves the same certificate as before the reload (fingerprint %s); --require-change",
				name(s), short(s.Fingerprint)))
		}
	}
	return why
}

// splitList splits a comma-separated --expect-* value; nil when empty.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// roundDays prints a duration in days and hours, the scale of certificate
// lifetimes.
func roundDays(d time.Duration) string {
	if d < 0 {
		return "-" + roundDays(-d)
	}
	if d < 24*time.Hour {
		return d.Round(time.Second).String()
	}
	// Round the whole duration, not the remainder: 9 days and 23h40m is
	// "10d", never "9d24h".
	d = d.Round(time.Hour)
	days, hours := d/(24*time.Hour), d%(24*time.Hour)/time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}
