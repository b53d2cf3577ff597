package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configRefusedWithin bounds how long refusing an oversized config may
// take (race detector and a loaded CI machine included); viper took ~11 s
// on the 1,600-deep mapping and minutes on the TOML keys.
const configRefusedWithin = 2 * time.Second

// TestReloadAfterDeepConfig: over the wire, SSL_RELOAD of a 1,600-deep
// config fails fast naming the limit, ssl_last_reload_error says so, and
// once the file is fixed the next SSL_RELOAD succeeds. Before, the first
// reload failed at reload_timeout, the parse kept the reload slot for
// ~11 s, and the second failed with "cancelled while waiting for another
// reload".
func TestReloadAfterDeepConfig(t *testing.T) {
	tn := newTestNode(t, "reload_timeout: 2s\n")
	ctx := ctxT(t)
	admin := tn.AdminConn(t, ctx)
	good, err := os.ReadFile(tn.Config)
	require.NoError(t, err)

	deep := string(good) + "x: " + strings.Repeat("{a: ", 1600) + "1" + strings.Repeat("}", 1600) + "\n"
	require.NoError(t, os.WriteFile(tn.Config, []byte(deep), 0o600))
	start := time.Now()
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	me := sqlErr(t, err)
	assert.Less(t, time.Since(start), configRefusedWithin)
	contains(t, me.Message, "config file "+tn.Config+" line", "nested deeper than 16 levels (the limit)")
	contains(t, variable(t, tn.SocketDB("admin", adminPW), "ssl_last_reload_error"), "nested deeper than 16 levels")

	next := tn.Rotate()
	require.NoError(t, os.WriteFile(tn.Config, good, 0o600))
	_, err = admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	assert.Equal(t, next, tn.ServedSerial())
}

// TestCheckAndServeRefuseDeepConfig: `ssld check` and `ssld serve` on the
// 1,600-deep config end at once with the limit (exit 1), instead of
// spinning in viper for 20 s without a deadline.
func TestCheckAndServeRefuseDeepConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssld.yaml")
	deep := "listen: 127.0.0.1:0\nx: " + strings.Repeat("{a: ", 1600) + "1" + strings.Repeat("}", 1600) + "\n"
	require.NoError(t, os.WriteFile(p, []byte(deep), 0o600))
	bin := ssldBinary(t) // built before the clock starts
	for _, args := range [][]string{{"check", "--config", p}, {"serve", "--config", p, "--listen", "127.0.0.1:0"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		took := time.Since(start)
		cancel()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: %s", args, out)
		assert.Equal(t, 1, ee.ExitCode(), "%v: %s", args, out)
		assert.Less(t, took, 5*time.Second, args)
		contains(t, string(out), "config file "+p+" line 2", "nested deeper than 16 levels (the limit)")
	}
}
