package node_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/testenv"
)

// TestHostileFIFO: a FIFO where ssld reads a file (ssl_cert, the config
// file, a *.pem in ssl_capath or a watched folder) never blocks: the reload
// fails at once with a reason naming the setting and the file (or skips the
// capath entry with a warning), the next reload works, and shutdown with
// watch: true returns promptly.
func TestHostileFIFO(t *testing.T) {
	tn := nodetest.New(t, "reload_timeout: 2s\n")
	ctx := nodetest.Ctx(t)
	admin := tn.AdminConn(t, ctx)
	reload := func() (time.Duration, error) {
		t0 := time.Now()
		_, err := admin.ExecContext(ctx, "SSL_RELOAD")
		return time.Since(t0), err
	}

	t.Run("ssl_cert", func(t *testing.T) {
		crt := filepath.Join(tn.Dir, "certs/server.crt")
		old := tn.ServedSerial()
		require.NoError(t, os.Remove(crt))
		require.NoError(t, syscall.Mkfifo(crt, 0o644))
		took, err := reload()
		me := nodetest.SQLErr(t, err)
		assert.Equal(t, uint16(3888), me.Number)
		nodetest.Contains(t, me.Message, "ssl_cert", crt, "not a regular file (a named pipe (FIFO))", "remain in use")
		assert.Less(t, took, time.Second)
		assert.Equal(t, old, tn.ServedSerial())
		want := tn.Rotate() // renames a regular file over the FIFO
		_, err = reload()
		require.NoError(t, err, "the next reload works")
		assert.Equal(t, want, tn.ServedSerial())
	})

	t.Run("config file", func(t *testing.T) {
		require.NoError(t, os.Rename(tn.Config, tn.Config+".real"))
		require.NoError(t, syscall.Mkfifo(tn.Config, 0o600))
		took, err := reload()
		me := nodetest.SQLErr(t, err)
		nodetest.Contains(t, me.Message, "config file "+tn.Config, "not a regular file (a named pipe (FIFO))")
		assert.Less(t, took, time.Second)
		require.NoError(t, os.Rename(tn.Config+".real", tn.Config))
		_, err = reload()
		require.NoError(t, err)
	})

	t.Run("watched ssl_capath with a FIFO, then shutdown", func(t *testing.T) {
		cas := filepath.Join(tn.Dir, "certs/cas")
		require.NoError(t, os.Mkdir(cas, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(cas, "ca.pem"), tn.CA.CertPEM, 0o644))
		require.NoError(t, os.WriteFile(tn.Config, []byte(nodetest.ConfigYAML("watch: true\nwatch_recheck: 50ms\nssl_capath: certs/cas\n")), 0o600))
		tn.Restart(nil)
		require.NoError(t, syscall.Mkfifo(filepath.Join(cas, "fifo.pem"), 0o644))
		want := tn.Rotate()
		testenv.Eventually(t, 5*time.Second, func() bool { return tn.ServedSerial() == want }, "the watcher reloads despite the FIFO in the folder")
		time.Sleep(150 * time.Millisecond) // a few re-checks that hash the folder
		// Shut down on the side, so a regression fails here in seconds
		// instead of hanging the suite on a FIFO's blocking open.
		stopped := make(chan struct{})
		go func() { tn.N.Shutdown(2 * time.Second); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(3 * time.Second):
			t.Fatal("shutdown is held up by the FIFO")
		}
	})
}
