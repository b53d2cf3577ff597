package node_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/nodetest"
	"github.com/ssld/ssld/internal/pki"
)

// TestFaultConfigFile: the config file deleted, replaced by garbage, or
// replaced by a folder between reloads: SSL_RELOAD fails with an error that
// names the config file, ssl_last_reload_error says the same, the old
// certificate keeps being served to new handshakes, and once the file is
// back the next reload succeeds.
func TestFaultConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, path string)
		reason  string
	}{
		{"deleted", func(t *testing.T, p string) { require.NoError(t, os.Remove(p)) }, "does not exist"},
		{"unparsable", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, []byte("listen: [\nssl_cert: :\n"), 0o600))
		}, "cannot parse"},
		{"a folder", func(t *testing.T, p string) {
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o700))
		}, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := nodetest.New(t, "")
			ctx := nodetest.Ctx(t)
			admin := tn.AdminConn(t, ctx)
			good, err := os.ReadFile(tn.Config)
			require.NoError(t, err)
			old := tn.ServedSerial()
			gen := tn.N.TLS().Status().Generation

			next := tn.Rotate() // new files on disk, but the config is about to break
			tc.breakIt(t, tn.Config)
			_, err = admin.ExecContext(ctx, "SSL_RELOAD")
			me := nodetest.SQLErr(t, err)
			nodetest.Contains(t, me.Message, "config file "+tn.Config, tc.reason, "previous TLS contexts remain in use")
			nodetest.Contains(t, nodetest.Variable(t, tn.SocketDB("admin", nodetest.AdminPW), "ssl_last_reload_error"), tn.Config, tc.reason)

			var seen nodetest.Serials
			require.NoError(t, tn.DB("monitor", nodetest.MonitorPW, tn.TLSName(&seen)).PingContext(ctx))
			assert.Equal(t, old, seen.Last(), "new handshakes still get the old certificate")
			assert.Equal(t, gen, tn.N.TLS().Status().Generation)

			require.NoError(t, os.RemoveAll(tn.Config))
			require.NoError(t, os.WriteFile(tn.Config, good, 0o600))
			_, err = admin.ExecContext(ctx, "SSL_RELOAD")
			require.NoError(t, err)
			assert.Equal(t, next, tn.ServedSerial())
			assert.Empty(t, tn.N.TLS().Status().LastError)
		})
	}
}

// TestFaultRestartServesNewCertificate: files changed and SSL_RELOAD run,
// then the process restarts on the same config: the new node serves the
// new certificate (there is no cached state that could bring the old one
// back). Files changed without a reload are also what a restart serves.
func TestFaultRestartServesNewCertificate(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := nodetest.Ctx(t)
	next := tn.Rotate()
	admin := tn.OpenDB("admin", nodetest.AdminPW, tn.TLSName(nil))
	_, err := admin.ExecContext(ctx, "SSL_RELOAD")
	require.NoError(t, err)
	admin.Close() // no open connection: shutdown need not wait out its grace

	tn.Restart(nil)
	var seen nodetest.Serials
	db := tn.OpenDB("monitor", nodetest.MonitorPW, tn.TLSName(&seen))
	require.NoError(t, db.PingContext(ctx))
	db.Close()
	assert.Equal(t, next, seen.Last(), "after restart")
	assert.Equal(t, next, nodetest.Variable(t, tn.SocketDB("admin", nodetest.AdminPW), "ssl_server_serial"))

	unreloaded := tn.Rotate()
	tn.Restart(nil)
	var seen2 nodetest.Serials
	require.NoError(t, tn.DB("monitor", nodetest.MonitorPW, tn.TLSName(&seen2)).PingContext(ctx))
	assert.Equal(t, unreloaded, seen2.Last(), "a restart reads the files on disk")
}

// dirState lists every regular file under dir with size and modification time.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil // the socket comes and goes, and with it the folder's mtime
		}
		out = append(out, p+" "+fi.Mode().String()+" "+fi.ModTime().Format(time.RFC3339Nano)+" "+strconv.FormatInt(fi.Size(), 10))
		return nil
	}))
	sort.Strings(out)
	return out
}

// TestFaultShutdownDuringReload: the node shuts down (what SIGTERM does)
// while a reload is in its torn-pair retry window. Nothing is written to
// disk by ssld at any point (the reload only reads; all state is in
// memory), the reload returns, and a restart after the writer finished
// serves the new pair.
func TestFaultShutdownDuringReload(t *testing.T) {
	tn := nodetest.New(t, "")
	ctx := context.Background()
	next := tn.IssueLeaf(pki.LeafOptions{})
	// Torn on disk: the new certificate, the old key. The reload re-reads
	// the pair for a while before failing.
	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.crt"), next.CertPEM, 0o644))
	before := dirState(t, tn.Dir)

	done := make(chan error, 1)
	go func() { done <- tn.N.Reload(ctx, "signal") }()
	time.Sleep(30 * time.Millisecond)
	tn.N.Shutdown(time.Second)
	select {
	case err := <-done:
		// Either outcome is clean: the mismatch is reported after the
		// retries, and nothing was half-applied.
		if err != nil {
			assert.Contains(t, err.Error(), "does not match the certificate")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reload did not return after shutdown")
	}
	assert.Equal(t, before, dirState(t, tn.Dir), "ssld wrote nothing to disk")

	require.NoError(t, pki.WriteFile(filepath.Join(tn.Dir, "certs/server.key"), next.KeyPEM, 0o600))
	tn.Restart(nil)
	var seen nodetest.Serials
	require.NoError(t, tn.DB("monitor", nodetest.MonitorPW, tn.TLSName(&seen)).PingContext(nodetest.Ctx(t)))
	assert.Equal(t, nodetest.SerialOf(next.Cert), seen.Last())
}
