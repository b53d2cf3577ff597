package sqlcmd

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/tlstest"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// realEnv is an executor on a real tlsctx.Manager (tlstest.New on a CA
// named caName) with the TLS and server variables, and a SUPER session.
func realEnv(t *testing.T, caName string) (*tlstest.Files, *Executor, *Session) {
	t.Helper()
	rt := tlstest.New(t, caName, false)
	reg := sysvars.NewRegistry()
	require.NoError(t, sysvars.AddTLS(reg, rt.M))
	require.NoError(t, sysvars.AddServer(reg, sysvars.ServerInfo{Version: "8.0.36-ssld"}))
	return rt, NewExecutor(&Env{Reloader: rt.M, Certs: rt.M, Vars: reg}), &Session{User: "admin", Privileges: []string{"SUPER"}}
}

// TestRealManager drives SSL_RELOAD against a real tlsctx.Manager: a good
// reload changes what the variables and SHOW SSL STATUS report, a bad one
// fails with 3888 and leaves the served certificate in place.
func TestRealManager(t *testing.T) {
	rt, x, admin := realEnv(t, "sqlcmd test CA")
	first, write, keyPath := rt.First, rt.Write, rt.KeyPath
	var err error

	serial := func() any {
		return run(t, x, admin, "SELECT @@ssl_server_serial").Rows[0][0]
	}
	assert.Equal(t, tlsctx.FormatSerial(first.Cert.SerialNumber), serial())

	second := write("second")
	res := run(t, x, admin, "/* deploy hook */ SSL_RELOAD;")
	assert.Empty(t, res.Columns)
	assert.Equal(t, tlsctx.FormatSerial(second.Cert.SerialNumber), serial())
	st := run(t, x, admin, "SHOW SSL STATUS")
	require.Len(t, st.Rows, 2)
	assert.Equal(t, "client", st.Rows[0][0])
	assert.Equal(t, uint64(2), st.Rows[0][1])
	assert.Equal(t, tlsctx.FormatSerial(second.Cert.SerialNumber), st.Rows[0][5])

	require.NoError(t, os.WriteFile(keyPath, []byte("not a key"), 0o600))
	_, err = x.Run(context.Background(), admin, "ALTER INSTANCE RELOAD TLS")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, ErrSSLLibrary, e.Num)
	assert.Contains(t, e.Message, "Failed to set up SSL because of the following SSL library error: ")
	assert.Contains(t, e.Message, "ssl_key")
	assert.Contains(t, e.Message, "the previous TLS contexts remain in use")

	// Still serving the second certificate; the error is queryable.
	assert.Equal(t, tlsctx.FormatSerial(second.Cert.SerialNumber), serial())
	lastErr := run(t, x, admin, "SHOW GLOBAL VARIABLES LIKE 'ssl_last_reload_error'")
	require.Len(t, lastErr.Rows, 1)
	assert.NotEmpty(t, lastErr.Rows[0][1])
}
