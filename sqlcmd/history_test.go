package sqlcmd

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/tlsctx"
)

// TestShowSSLHistory: SHOW SSL HISTORY parses, needs no privilege, and
// lists the Manager's loads newest first, one row per channel, with the
// SQL reload naming user@host and a refused reload its error.
func TestShowSSLHistory(t *testing.T) {
	for _, q := range []string{"SHOW SSL HISTORY", "show ssl history;"} {
		cmd, err := Parse(q)
		require.NoError(t, err, q)
		assert.Equal(t, ShowSSLHistory{}, cmd)
	}
	_, err := Parse("SHOW SSL HISTORY x")
	require.ErrorContains(t, err, "near 'x'")

	rt, x, admin := realEnv(t, "history CA")
	admin.Host = "127.0.0.1"
	first := rt.First
	second := rt.Write("second")
	run(t, x, admin, "SSL_RELOAD")
	require.NoError(t, os.WriteFile(rt.KeyPath, []byte("not a key"), 0o600))
	_, err = x.Run(context.Background(), admin, "ALTER INSTANCE RELOAD TLS FOR CHANNEL client")
	require.Error(t, err)
	// CHECK TLS is a dry run, not a load.
	_, _ = x.Run(context.Background(), admin, "CHECK TLS")

	nobody := &Session{User: "monitor", Host: "localhost"}
	res := run(t, x, nobody, "SHOW SSL HISTORY")
	assert.Equal(t, []string{"Time", "Trigger", "Channel", "Result", "Error", "Generation", "Old_serial", "New_serial",
		"Old_fingerprint_SHA256", "New_fingerprint_SHA256", "CA_added", "CA_removed"}, colNames(res))
	assert.True(t, res.Columns[5].Int)
	// refused (client only), SQL reload (client, cluster), start-up (client, cluster)
	require.Len(t, res.Rows, 5, "%v", res.Rows)
	s1, s2 := tlsctx.FormatSerial(first.Cert.SerialNumber), tlsctx.FormatSerial(second.Cert.SerialNumber)

	refused := res.Rows[0]
	assert.Equal(t, "sql admin@127.0.0.1", refused[1])
	assert.Equal(t, "client", refused[2])
	assert.Equal(t, "failed", refused[3])
	assert.Contains(t, refused[4], "ssl_key")
	assert.Equal(t, uint64(2), refused[5])
	assert.Equal(t, s2, refused[6])
	assert.Equal(t, s2, refused[7])

	for i, ch := range []string{"client", "cluster"} {
		ok := res.Rows[1+i]
		assert.Equal(t, []any{"sql admin@127.0.0.1", ch, "ok", nil, uint64(2), s1, s2}, ok[1:8])
		assert.NotEqual(t, ok[8], ok[9])
		assert.Nil(t, ok[10])
		assert.Nil(t, ok[11])
		start := res.Rows[3+i]
		assert.Equal(t, []any{"startup", ch, "ok", nil, uint64(1), nil, s1}, start[1:8])
	}
}

// TestShowSSLHistoryWithoutManager: a Certs without a history gives the
// columns and no rows.
func TestShowSSLHistoryWithoutManager(t *testing.T) {
	te := newTestEnv(t)
	res := run(t, te.x, &Session{User: "u"}, "SHOW SSL HISTORY")
	assert.Len(t, res.Columns, 12)
	assert.Empty(t, res.Rows)
}
