package cluster

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostile is text a lying node could send: terminal escapes (C0 and C1),
// a bidi override, invalid UTF-8 and wide characters.
const hostile = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202egnp.exe\xff 証明書"

func longReport() Report {
	na := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("channel client: ssl_cert \"/etc/ssld/certs/a-very-long-path/server.crt\": private key does not match; ", 12)
	return Report{Command: "reload", Nodes: []NodeResult{
		{Addr: "10.0.0.2:3307", Role: RoleLeaf, Dialect: DialectSSLD, Status: StatusFailed, Statement: "SSL_RELOAD",
			Before: Served{Serial: strings.Repeat("AB", 20), Fingerprint: strings.Repeat("ab", 32), NotAfter: na},
			After:  Served{Serial: strings.Repeat("CD", 20), Fingerprint: strings.Repeat("cd", 32), NotAfter: na},
			Error:  "SSL_RELOAD: ERROR 3889 (HY000): " + long + hostile, NextStep: "run `ssld check` on the node", Duration: 1234 * time.Millisecond},
		{Addr: "db-leaf-0042.an-unusually-long-zone-name.eu-west-1.compute.internal.example.com:3306", Role: RoleLeaf,
			Dialect: DialectMariaDB, Status: StatusOK, After: Served{Serial: hostile + strings.Repeat("F", 300), Fingerprint: hostile}},
		{Addr: "10.0.0.1:3307", Role: RoleMaster, Dialect: DialectSSLD, Status: StatusSkipped,
			Error: "not attempted: 1 leaf failed (10.0.0.2:3307 failed)", NextStep: "fix the nodes named here"},
	}}
}

// TestTableWidth: whatever the nodes said (long errors, long addresses, a
// lying node's serial), every line of the table fits TableWidth columns,
// and nothing a node sent reaches the terminal raw. --wide is one line per
// node.
func TestTableWidth(t *testing.T) {
	var buf bytes.Buffer
	rep := longReport()
	require.NoError(t, WriteTable(&buf, rep))
	out := buf.String()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		assert.LessOrEqual(t, displayWidth(l), TableWidth, "%q", l)
	}
	assertNoRaw(t, out)
	assert.Regexp(t, `\n10\.0\.0\.2:3307\s+leaf\s+ssld\s+failed\s+no\s+`+strings.Repeat("CD", 20)+`\s+cdcdcdcdcdcdcdcd\s+2030-01-02\s+1\.234s\n`+
		`    error: SSL_RELOAD: ERROR 3889 \(HY000\): channel client:`, out)
	assert.Contains(t, out, "\n    next:  run `ssld check` on the node\n")
	assert.Contains(t, out, "\ndb-leaf-0042.an-unusually-long-zone-name.eu-west-1.compute.internal.example.com:3306\n", "a long address gets its own line")
	assert.Contains(t, out, "\n           ", "a long error goes on indented continuation lines")
	assert.Contains(t, out, `\x1b]0;owned\a\x1b[2J\u009b31m\u202egnp.exe\xff 証明書`)

	buf.Reset()
	rep.Wide = true
	require.NoError(t, WriteTable(&buf, rep))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	assert.Len(t, lines, 1+len(rep.Nodes)+1, "header, one line per node, summary")
	assertNoRaw(t, buf.String())
	assert.Regexp(t, `^10\.0\.0\.2:3307\s+leaf\s+ssld\s+failed\s+no\s+`+strings.Repeat("AB", 20)+`\s+`+strings.Repeat("CD", 20)+
		`\s+cdcdcdcdcdcdcdcd\s+2030-01-02T03:04:05Z\s+1\.234s\s+SSL_RELOAD: ERROR 3889.*next|run .ssld check. on the node$`, lines[1])
	assert.True(t, strings.HasSuffix(lines[1], "run `ssld check` on the node"), lines[1])
}

func assertNoRaw(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e", "\xff"} {
		assert.NotContains(t, out, bad)
	}
}

// TestJSONTerminalSafe: the JSON carries node text as the same values but
// with every rune a terminal could act on escaped, C1 controls and bidi
// overrides included (encoding/json leaves those raw).
func TestJSONTerminalSafe(t *testing.T) {
	var buf bytes.Buffer
	rep := longReport()
	require.NoError(t, WriteJSON(&buf, rep))
	assertNoRaw(t, buf.String())
	assert.Contains(t, buf.String(), `\u001b]0;owned\u0007\u001b[2J\u009b31m\u202egnp.exe\ufffd 証明書`)
	var doc struct {
		Nodes []struct {
			Error string `json:"error"`
			After struct{ Fingerprint string }
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	assert.Equal(t, strings.ToValidUTF8(hostile, "\ufffd"), doc.Nodes[1].After.Fingerprint, "same value once decoded")
	assert.Equal(t, []byte("\U0001F600"), []byte(string(terminalSafeJSON([]byte("\U0001F600")))), "printable runes stay")
	assert.Equal(t, `"\ud83b\udfff"`, string(terminalSafeJSON([]byte("\"\U0001EFFF\""))), "non-printable astral runes as surrogate pairs")
}

func TestParseCheckTLS(t *testing.T) {
	cols := []string{"Channel", "Status", "Serial", "Fingerprint_SHA256", "Not_after", "Issuer", "Changed", "Message"}
	fp := strings.Repeat("0a", 32)
	good := [][]string{{"client", "ready", "0A1B", fp, "2030-01-02 03:04:05.000000", "CN=ca", "NO", "the certificate is the one served now"}}
	rows, err := parseCheckTLS(cols, good)
	require.NoError(t, err)
	assert.Equal(t, fp, rows[0].files.Fingerprint)
	assert.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), rows[0].files.NotAfter)

	tests := []struct {
		name, expectedErr string
		row               []string
	}{
		{"escape in serial", "not hex", []string{"client", "ready", "\x1b[2J", fp, "", "", "", ""}},
		{"short fingerprint", "not hex", []string{"client", "ready", "0A", "abc", "", "", "", ""}},
		{"channel", `malformed answer: channel "\x1b`, []string{"\x1b]0;x", "ready", "", "", "", "", "", ""}},
		{"status", "status", []string{"client", "maybe", "", "", "", "", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCheckTLS(cols, [][]string{tc.row})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.expectedErr)
		})
	}
	_, err = parseCheckTLS(cols[:3], good)
	assert.ErrorContains(t, err, "no fingerprint_sha256 column")
}

// TestWouldFail: one reason per distinct message, channels named once,
// no "contexts remain in use" (nothing was reloaded), and the "valid, but
// all or nothing" rows left out when a real reason is there.
func TestWouldFail(t *testing.T) {
	msg := `Failed to set up SSL because of the following SSL library error: ssl_cert "/x/server.crt": private key does not match; the previous TLS contexts remain in use`
	got := wouldFail([]checkRow{
		{channel: "client", status: "would_fail", message: msg},
		{channel: "cluster", status: "would_fail", message: msg},
	})
	assert.Equal(t, `channels client, cluster: ssl_cert "/x/server.crt": private key does not match`, got)
	got = wouldFail([]checkRow{
		{channel: "client", status: "would_fail", message: msg},
		{channel: "cluster", status: "would_fail", message: "this channel's material is valid, but the reload is all or nothing and channel client fails"},
	})
	assert.Equal(t, `channel client: ssl_cert "/x/server.crt": private key does not match`, got)
	assert.Empty(t, wouldFail([]checkRow{{channel: "client", status: "ready"}}))
}

// TestNextSteps: every row that is not ok carries one next step, fitting
// its status.
func TestNextSteps(t *testing.T) {
	r := &runner{opts: Options{Timeout: 2 * time.Second}}
	tests := []struct {
		res      NodeResult
		expected string
	}{
		{NodeResult{Status: StatusUnreachable, Error: "dial: connection refused"}, "offline in the topology"},
		{NodeResult{Status: StatusTimeout, Error: "greeting: i/o timeout"}, "did not answer within --timeout 2s"},
		{NodeResult{Status: StatusTimeout, Statement: "SSL_RELOAD", Error: "SSL_RELOAD: context deadline exceeded"}, "--timeout 6s"},
		{NodeResult{Status: StatusFailed, Dialect: DialectSSLD, Statement: "SSL_RELOAD", Error: "SSL_RELOAD: ERROR 3889"}, "ssld check"},
		{NodeResult{Status: StatusFailed, Dialect: DialectMariaDB, Statement: "FLUSH SSL", Error: "FLUSH SSL: ERROR 1105"}, "error log"},
		{NodeResult{Status: StatusFailed, Error: "TLS handshake: certificate not verified, no login attempted"}, "--ssl-ca"},
		{NodeResult{Status: StatusWouldFail, Dialect: DialectSSLD}, "dry run again"},
		{NodeResult{Status: StatusStale, Error: "channel client: serves a but its files hold b"}, "ssld cluster reload"},
		{NodeResult{Status: StatusUnproven}, "reload --require-current"},
		{NodeResult{Status: StatusAuthFailed}, "SUPER"},
		{NodeResult{Status: StatusSkipped, Error: "not attempted: 1 leaf failed"}, "--continue-on-error"},
		{NodeResult{Status: StatusSkipped, State: "offline"}, "back online"},
	}
	for _, tc := range tests {
		assert.Contains(t, r.nextStep(tc.res), tc.expected, "%+v", tc.res)
	}
	assert.Empty(t, r.nextStep(NodeResult{Status: StatusOK}))
	assert.Empty(t, r.nextStep(NodeResult{Status: StatusUnchanged}))
}

// TestWouldFailSameReasonPerChannel: the node names the channel in each
// row's message; the runner says the reason once for both.
func TestWouldFailSameReasonPerChannel(t *testing.T) {
	msg := func(ch string) string {
		return "Failed to set up SSL because of the following SSL library error: channel " + ch +
			`: ssl_key "/n/server.key": private key does not match; the previous TLS contexts remain in use`
	}
	got := wouldFail([]checkRow{{channel: "client", status: "would_fail", message: msg("client")},
		{channel: "cluster", status: "would_fail", message: msg("cluster")}})
	assert.Equal(t, `channels client, cluster: ssl_key "/n/server.key": private key does not match`, got)
}
