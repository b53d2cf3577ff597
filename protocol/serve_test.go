package protocol_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/protocol"
	"github.com/ssld/ssld/sqlcmd"
	"github.com/ssld/ssld/sysvars"
	"github.com/ssld/ssld/tlsctx"
)

// serveManager starts a protocol.Server on cfg (Listen defaults to
// 127.0.0.1:0, the connect and read timeouts to 5 s) for the manager m,
// with an executor over a variable registry of m's TLS variables (opts:
// sysvars.WithConfigured) and the server's own process list, built in the
// order node.Start builds them. The server is shut down when t ends.
func serveManager(t testing.TB, m *tlsctx.Manager, cfg protocol.Config, opts ...sysvars.TLSOption) *protocol.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	vars := sysvars.NewRegistry()
	require.NoError(t, sysvars.AddTLS(vars, m, opts...))
	srv, err := protocol.New(cfg, m, nil)
	require.NoError(t, err)
	env := &sqlcmd.Env{Reloader: m, Certs: m, Vars: vars, Started: time.Now(), Processes: srv.Processes()}
	require.NoError(t, srv.Start(sqlcmd.NewExecutor(env)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}
