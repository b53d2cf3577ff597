package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleReport() Report {
	na := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return Report{Command: "reload", Nodes: []NodeResult{
		{Addr: "10.0.0.2:3307", Role: RoleLeaf, Dialect: DialectSSLD, Status: StatusOK, Statement: "SSL_RELOAD",
			Before: Served{Serial: "0A", Fingerprint: "aa", NotAfter: na},
			After:  Served{Serial: "0B", Fingerprint: "bb", NotAfter: na.Add(time.Hour), KeyType: "ECDSA P-256"},
			AfterAll: []Served{{Serial: "0B", Fingerprint: "bb", NotAfter: na.Add(time.Hour), KeyType: "ECDSA P-256"},
				{Serial: "0C", Fingerprint: "cc", NotAfter: na.Add(2 * time.Hour), KeyType: "RSA 2048"}},
			Reported: "bb", Duration: 12 * time.Millisecond, Verified: true},
		{Addr: "10.0.0.1:3307", Role: RoleMaster, Dialect: DialectAuto, Status: StatusUnreachable,
			Error: "dial: connect: connection refused", Duration: time.Second, Retries: 2, NextStep: "start the node"},
	}}
}

func TestWriteJSONStable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, sampleReport()))
	const want = `{
  "command": "reload",
  "dry_run": false,
  "shard": "",
  "roles": [
    "leaf",
    "child",
    "master"
  ],
  "ok": false,
  "summary": {
    "ok": 1,
    "unreachable": 1
  },
  "nodes": [
    {
      "address": "10.0.0.2:3307",
      "role": "leaf",
      "dialect": "ssld",
      "status": "ok",
      "error": "",
      "statement": "SSL_RELOAD",
      "before": {
        "serial": "0A",
        "fingerprint": "aa",
        "not_after": "2030-01-02T03:04:05Z",
        "issuer": "",
        "key_type": ""
      },
      "after": {
        "serial": "0B",
        "fingerprint": "bb",
        "not_after": "2030-01-02T04:04:05Z",
        "issuer": "",
        "key_type": "ECDSA P-256"
      },
      "would_serve": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "reported_fingerprint": "bb",
      "files": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "duration_ms": 12,
      "retries": 0,
      "verified": true,
      "state": "",
      "next_step": "",
      "before_all": [],
      "after_all": [
        {
          "serial": "0B",
          "fingerprint": "bb",
          "not_after": "2030-01-02T04:04:05Z",
          "issuer": "",
          "key_type": "ECDSA P-256"
        },
        {
          "serial": "0C",
          "fingerprint": "cc",
          "not_after": "2030-01-02T05:04:05Z",
          "issuer": "",
          "key_type": "RSA 2048"
        }
      ]
    },
    {
      "address": "10.0.0.1:3307",
      "role": "master",
      "dialect": "auto",
      "status": "unreachable",
      "error": "dial: connect: connection refused",
      "statement": "",
      "before": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "after": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "would_serve": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "reported_fingerprint": "",
      "files": {
        "serial": "",
        "fingerprint": "",
        "not_after": "",
        "issuer": "",
        "key_type": ""
      },
      "duration_ms": 1000,
      "retries": 2,
      "verified": false,
      "state": "",
      "next_step": "start the node",
      "before_all": [],
      "after_all": []
    }
  ]
}
`
	assert.Equal(t, want, buf.String())

	buf.Reset()
	require.NoError(t, WriteJSON(&buf, Report{Command: "status"}))
	assert.Contains(t, buf.String(), `"nodes": []`)
	assert.Contains(t, buf.String(), `"ok": true`)
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, sampleReport()))
	out := buf.String()
	assert.Regexp(t, `10\.0\.0\.2:3307\s+leaf\s+ssld\s+ok\s+yes\s+0B\s+bb\s+2030-01-02\s+12ms\n`, out)
	assert.Regexp(t, `10\.0\.0\.1:3307\s+master\s+auto\s+unreachable\s+no\s+-\s+-\s+-\s+1s\n`+
		`    error: dial: connect: connection refused\n    next:  start the node\n`, out)
	assert.Contains(t, out, "reload: 2 nodes: 1 ok, 1 unreachable\n")

	// Text from nodes cannot drive the terminal.
	buf.Reset()
	rep := sampleReport()
	rep.Nodes[1].Error = "ERROR 1105: \x1b]0;owned\x07\x1b[2Jgone\xff"
	require.NoError(t, WriteTable(&buf, rep))
	assert.NotContains(t, buf.String(), "\x1b")
	assert.NotContains(t, buf.String(), "\x07")
	assert.Contains(t, buf.String(), `ERROR 1105: \x1b]0;owned\a\x1b[2Jgone\xff`)
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, expected string }{
		{"plain 'quoted' \"text\" C:\\x", "plain 'quoted' \"text\" C:\\x"},
		{"bell\a", `bell\a`},
		{"esc\x1b[31m", `esc\x1b[31m`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"né ✓", "né ✓"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.expected, Escape(tc.in), "%q", tc.in)
	}
}

func TestExitCode(t *testing.T) {
	assert.Equal(t, 0, ExitCode(nil))
	assert.Equal(t, 0, ExitCode([]NodeResult{{Status: StatusOK}, {Status: StatusUnchanged}}))
	for _, s := range []Outcome{StatusStale, StatusFailed, StatusUnreachable, StatusTimeout, StatusAuthFailed, StatusSkipped} {
		assert.Equal(t, 1, ExitCode([]NodeResult{{Status: StatusOK}, {Status: s}}), s)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		expected  Outcome
		retryable bool
		msg       string
	}{
		{"refused", &stepError{"dial", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, StatusUnreachable, true, "dial: dial tcp: connection refused"},
		{"reset", &stepError{"greeting", syscall.ECONNRESET}, StatusUnreachable, true, ""},
		{"eof", &stepError{"greeting", io.EOF}, StatusUnreachable, true, ""},
		{"deadline", &stepError{"greeting", fmt.Errorf("%w (x)", context.DeadlineExceeded)}, StatusTimeout, false, ""},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, StatusTimeout, false, ""},
		{"bad password", &stepError{"connect", &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}, Message: "Access denied for user 'admin'"}},
			StatusAuthFailed, false, "connect: ERROR 1045 (28000): Access denied for user 'admin'"},
		{"no super", &mysql.MySQLError{Number: 1227, Message: "need SUPER"}, StatusAuthFailed, false, ""},
		{"reload refused", &stepError{"SSL_RELOAD", &mysql.MySQLError{Number: 3889, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "bad cert"}},
			StatusFailed, false, "SSL_RELOAD: ERROR 3889 (HY000): bad cert"},
		{"too many", &serverError{Num: 1040, State: "08004", Msg: "Too many connections"}, StatusFailed, true, "ERROR 1040 (08004): Too many connections"},
		{"other", errors.New("boom"), StatusFailed, false, "boom"},
		{"cancelled", context.Canceled, StatusSkipped, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, msg, retry := classify(tc.err)
			assert.Equal(t, tc.expected, st)
			assert.Equal(t, tc.retryable, retry)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, msg)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestNormalizeExpect(t *testing.T) {
	o := Options{User: "u", ExpectSerial: "00:0a:BC", ExpectFingerprint: "AB:CD"}.withDefaults()
	assert.Equal(t, "ABC", o.ExpectSerial)
	assert.Equal(t, "abcd", o.ExpectFingerprint)
	assert.Equal(t, DefaultParallel, o.Parallel)
	assert.Equal(t, 1, Options{Rolling: true, Parallel: 8}.withDefaults().Parallel)
}
