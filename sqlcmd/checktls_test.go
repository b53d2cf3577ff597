package sqlcmd

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/pkitest"
	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// TestCheckTLS drives CHECK TLS against a real tlsctx.Manager: new files
// are reported ready with the would-be certificate, a mismatched pair
// would_fail with the reload's reason, and neither moves the served
// certificate, the generation or the reload timestamps.
func TestCheckTLS(t *testing.T) {
	rt, x, admin := realEnv(t, "check CA")
	first, write, ca, certPath := rt.First, rt.Write, rt.CA, rt.CertPath
	var err error
	bookkeeping := func() []any {
		r := run(t, x, admin, "SELECT @@ssl_last_reload_attempt_time, @@ssl_last_successful_reload_time, @@ssl_reload_generation, @@ssl_server_serial")
		return r.Rows[0]
	}
	run(t, x, admin, "SSL_RELOAD") // timestamps set once, so "did not move" means something
	before := bookkeeping()

	// Unchanged files: ready, Changed NO.
	res := run(t, x, admin, "CHECK TLS")
	require.Len(t, res.Rows, 2)
	assert.Equal(t, []any{"client", CheckReady, tlsctx.FormatSerial(first.Cert.SerialNumber)}, res.Rows[0][:3])
	assert.Equal(t, "NO", res.Rows[0][6])

	// New files: ready with the would-be serial and not_after.
	second := write("second")
	res = run(t, x, admin, "check tls for channel client;")
	require.Len(t, res.Rows, 1)
	assert.Equal(t, "Channel", res.Columns[0].Name)
	assert.Equal(t, CheckReady, res.Rows[0][1])
	assert.Equal(t, tlsctx.FormatSerial(second.Cert.SerialNumber), res.Rows[0][2])
	assert.Equal(t, sysvars.FormatTime(second.Cert.NotAfter), res.Rows[0][4])
	assert.Equal(t, "CN=check CA,O=ssld", res.Rows[0][5])
	assert.Equal(t, "YES", res.Rows[0][6])
	assert.Equal(t, before, bookkeeping(), "CHECK TLS swaps nothing and records nothing")

	// A mismatched pair: would_fail with the reason SSL_RELOAD would give.
	other := pkitest.MustIssue(t, ca, pki.LeafOptions{CN: "other"})
	require.NoError(t, pki.WriteFile(certPath, other.CertPEM, 0o644))
	res = run(t, x, admin, "CHECK TLS")
	require.Len(t, res.Rows, 2)
	for _, row := range res.Rows {
		assert.Equal(t, CheckWouldFail, row[1], row)
		assert.Nil(t, row[2])
	}
	// The reason once, as a dry run says it: no "remain in use" in a run
	// that changes nothing; the cluster channel reads the same ssl_* files
	// and points at the client row.
	assert.Regexp(t, "^"+regexp.QuoteMeta("a reload would fail: ssl_key "+strconv.Quote(rt.KeyPath)+
		": private key does not match the certificate in ssl_cert "+strconv.Quote(certPath))+` \(read \d+ times\)$`, res.Rows[0][7])
	assert.Equal(t, "a reload would fail: the same reason as channel client", res.Rows[1][7])
	for _, row := range res.Rows {
		assert.NotContains(t, row[7], "remain in use")
	}
	assert.Equal(t, before, bookkeeping())
	assert.Empty(t, run(t, x, admin, "SELECT @@ssl_last_reload_error").Rows[0][0])

	// SUPER is required; CHECK TABLE is not ours; bad channel is 1149.
	_, err = x.Run(context.Background(), &Session{User: "monitor"}, "CHECK TLS")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, mysql.ERSpecifiedAccessDenied, e.Num)
	for q, num := range map[string]int{"CHECK TABLE t": mysql.ERNotSupportedYet, "CHECK TLS FOR CHANNEL x": mysql.ERSyntaxError,
		"CHECK TLS now": mysql.ERParseError} {
		_, err = x.Run(context.Background(), admin, q)
		require.True(t, errors.As(err, &e), q)
		assert.Equal(t, num, e.Num, q)
	}

	// Without a Validator (a plain Reloader): a clear error.
	_, err = NewExecutor(&Env{}).Run(context.Background(), admin, "CHECK TLS")
	require.True(t, errors.As(err, &e))
	assert.True(t, strings.Contains(e.Message, "not configured"), e.Message)
}

// TestClientOnlyChannel: a node that does not serve the cluster channel
// (no cluster_listen) reports the client channel alone in SHOW SSL STATUS
// and CHECK TLS, and a statement naming the cluster channel is 1210, as
// an unknown channel is, with no reload attempt recorded.
func TestClientOnlyChannel(t *testing.T) {
	rt := tlstest.New(t, "client-only CA", true, tlstest.ClientOnly)
	reg := sysvars.NewRegistry()
	require.NoError(t, sysvars.AddTLS(reg, rt.M))
	x := NewExecutor(&Env{Reloader: rt.M, Certs: rt.M, Vars: reg})
	admin := &Session{User: "admin", Privileges: []string{"SUPER"}}

	st := run(t, x, admin, "SHOW SSL STATUS")
	require.Len(t, st.Rows, 1)
	assert.Equal(t, "client", st.Rows[0][0])
	res := run(t, x, admin, "CHECK TLS")
	require.Len(t, res.Rows, 1)
	assert.Equal(t, []any{"client", CheckReady}, res.Rows[0][:2])
	require.NoError(t, os.WriteFile(rt.CertPath, []byte("not a certificate"), 0o644))
	res = run(t, x, admin, "CHECK TLS")
	require.Len(t, res.Rows, 1)
	assert.Equal(t, CheckWouldFail, res.Rows[0][1])
	assert.Equal(t, `a reload would fail: ssl_cert "`+rt.CertPath+`": no PEM data found`, res.Rows[0][7])

	for _, q := range []string{"CHECK TLS FOR CHANNEL cluster", "ALTER INSTANCE RELOAD TLS FOR CHANNEL cluster"} {
		_, err := x.Run(context.Background(), admin, q)
		var e *Error
		require.True(t, errors.As(err, &e), q)
		assert.Equal(t, mysql.ERWrongArguments, e.Num, q)
		assert.Contains(t, e.Message, "this node does not serve the cluster channel (cluster_listen is not set)", q)
	}
	assert.Empty(t, run(t, x, admin, "SELECT @@ssl_last_reload_attempt_time").Rows[0][0], "no attempt recorded")
	for _, v := range []string{"cluster_ssl_cert", "cluster_ssl_key", "cluster_ssl_ca", "cluster_ssl_capath"} {
		assert.Empty(t, run(t, x, admin, "SELECT @@"+v).Rows[0][0], v)
	}
}
