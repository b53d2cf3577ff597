package cluster

import (
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseValidity(t *testing.T) {
	tests := []struct {
		in          string
		expected    time.Duration
		expectedErr string
	}{
		{"30d", 30 * 24 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"720h", 720 * time.Hour, ""},
		{" 90m ", 90 * time.Minute, ""},
		{"0d", 0, "must be positive"},
		{"-1h", 0, "must be positive"},
		{"30 days", 0, "want a duration like 30d"},
		{"d", 0, "want a duration like 30d"},
		{"", 0, "want a duration like 30d"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseValidity(tc.in)
			if parsedOK(t, err, tc.expectedErr) {
				assert.Equal(t, tc.expected, d)
			}
		})
	}
}

func TestMatchDN(t *testing.T) {
	issuer := dnFromName(pkix.Name{CommonName: "ca2, rotated", Organization: []string{"Example"}, Country: []string{"DE"}})
	tests := []struct {
		want        string
		match       bool
		expectedErr string
	}{
		{`CN=ca2\, rotated`, true, ""},
		{`cn=CA2\, ROTATED,o=example`, true, ""},
		{`O=Example,CN=ca2\, rotated,C=DE`, true, ""},
		{`/CN=ca2, rotated/O=Example`, true, ""},
		{`commonName = ca2\, rotated`, true, ""},
		{`CN=ca1`, false, ""},
		{`CN=ca2\, rotated,O=Other`, false, ""},
		{`CN=ca2\, rotated,OU=x`, false, ""},
		{`ca2`, false, "want a distinguished name"},
		{`CN=`, false, "want a distinguished name"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			want, err := parseDN(tc.want)
			if parsedOK(t, err, tc.expectedErr) {
				assert.Equal(t, tc.match, matchDN(want, issuer))
			}
		})
	}
}

func TestProofFailuresCompose(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Served{Serial: "0A", Fingerprint: "aa", NotAfter: now.Add(10 * 24 * time.Hour), Issuer: "CN=ca1,O=ssld",
		issuerDN: dnFromName(pkix.Name{CommonName: "ca1", Organization: []string{"ssld"}})}
	opts := Options{ExpectSerial: "0B", ExpectIssuer: "CN=ca2", MinValidity: 30 * 24 * time.Hour, RequireChange: true}
	r := &runner{opts: opts.withDefaults(), now: func() time.Time { return now }}
	r.expectIssuer, _ = parseDN(opts.ExpectIssuer)
	why := r.proofFailures([]Served{s}, []Served{{Fingerprint: "aa"}})
	require.Len(t, why, 4, "%q", why)
	assert.Contains(t, why[0], "serves serial 0A, expected B")
	assert.Contains(t, why[1], `issuer is "CN=ca1,O=ssld", expected "CN=ca2"`)
	assert.Contains(t, why[2], "valid until 2030-01-11T00:00:00Z, 10d from now, less than --min-validity 30d")
	assert.Contains(t, why[3], "same certificate as before the reload")

	// No reload (status): --require-change has nothing to compare.
	assert.Len(t, r.proofFailures([]Served{s}, nil), 3)
	// Everything satisfied.
	r.opts = Options{ExpectIssuer: "CN=ca1", MinValidity: 24 * time.Hour, RequireChange: true}.withDefaults()
	r.expectIssuer, _ = parseDN("CN=ca1")
	assert.Empty(t, r.proofFailures([]Served{s}, []Served{{Fingerprint: "bb"}}))
}

// TestProofFailuresEachCertificate: with two certificates, every check
// holds for each, a reason names the certificate, and several expected
// serials must each be served.
func TestProofFailuresEachCertificate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ec := Served{Serial: "0A", Fingerprint: "aa", NotAfter: now.Add(90 * 24 * time.Hour), KeyType: "ECDSA P-256"}
	rsa := Served{Serial: "0C", Fingerprint: "cc", NotAfter: now.Add(10 * 24 * time.Hour), KeyType: "RSA 2048"}
	r := &runner{opts: Options{MinValidity: 30 * 24 * time.Hour, RequireChange: true, ExpectSerial: "a, 0B"}.withDefaults(),
		now: func() time.Time { return now }}
	why := r.proofFailures([]Served{ec, rsa}, []Served{{Fingerprint: "bb"}, {Fingerprint: "cc"}})
	assert.Equal(t, []string{
		"certificate RSA 2048 (serial 0C): serves serial 0C, expected A or B",
		"serves no certificate with the expected serial B",
		"certificate RSA 2048 (serial 0C): valid until 2030-01-11T00:00:00Z, 10d from now, less than --min-validity 30d",
		"certificate RSA 2048 (serial 0C): serves the same certificate as before the reload (fingerprint cc); --require-change",
	}, why)
	r.opts = Options{ExpectSerial: "A,C", ExpectFingerprint: "AA, cc", RequireChange: true}.withDefaults()
	assert.Empty(t, r.proofFailures([]Served{ec, rsa}, []Served{{Fingerprint: "bb"}}))
}

// TestRoundDays: the durations in --min-validity reasons, rounded as a
// whole (a certificate 9 days 23h40m from expiry is "10d", not "9d24h").
func TestRoundDays(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in       time.Duration
		expected string
	}{
		{10*day - 20*time.Minute, "10d"},
		{9*day + 23*time.Hour, "9d23h"},
		{36 * time.Hour, "1d12h"},
		{30 * day, "30d"},
		{5*time.Hour + 1500*time.Millisecond, "5h0m2s"},
		{-2 * day, "-2d"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.expected, roundDays(tc.in), "%v", tc.in)
	}
}
