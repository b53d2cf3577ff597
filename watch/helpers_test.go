package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/internal/testenv"
)

// layout writes a certificate and key pair the way one kind of operator
// tooling does.
type layout interface {
	name() string
	cert() string // path of the certificate, as configured
	key() string  // path of the key, as configured
	write(t testing.TB, crt, key []byte)
}

// fileLayout is server.crt and server.key in dir, each written with
// writeFile.
type fileLayout struct {
	dir, label string
	writeFile  func(path string, data []byte, mode os.FileMode) error
}

// plainLayout rewrites the files in place (truncate, write), like cp or
// an editor without backup files.
func plainLayout(dir string) fileLayout { return fileLayout{dir, "plain rewrite", os.WriteFile} }

// renameLayout writes a temporary file and renames it over the target,
// like certbot, acme.sh --install-cert and pki.WriteFile.
func renameLayout(dir string) fileLayout { return fileLayout{dir, "atomic rename", pki.WriteFile} }

func (l fileLayout) name() string { return l.label }
func (l fileLayout) cert() string { return filepath.Join(l.dir, "server.crt") }
func (l fileLayout) key() string  { return filepath.Join(l.dir, "server.key") }
func (l fileLayout) write(t testing.TB, crt, key []byte) {
	t.Helper()
	require.NoError(t, l.writeFile(l.cert(), crt, 0o600))
	require.NoError(t, l.writeFile(l.key(), key, 0o600))
}

// k8sLayout is a Kubernetes Secret volume (testenv.SecretVolume: the
// kubelet's ..data symlink swap) holding tls.crt and tls.key.
type k8sLayout struct{ vol *testenv.SecretVolume }

func newK8sLayout(dir string) k8sLayout { return k8sLayout{&testenv.SecretVolume{Dir: dir}} }

func (l k8sLayout) name() string { return "kubernetes ..data swap" }
func (l k8sLayout) cert() string { return filepath.Join(l.vol.Dir, "tls.crt") }
func (l k8sLayout) key() string  { return filepath.Join(l.vol.Dir, "tls.key") }
func (l k8sLayout) write(t testing.TB, crt, key []byte) {
	t.Helper()
	l.vol.Write(t, map[string][]byte{"tls.crt": crt, "tls.key": key})
}

func layouts(t *testing.T) []layout {
	return []layout{plainLayout(t.TempDir()), renameLayout(t.TempDir()), newK8sLayout(t.TempDir())}
}

// recorder is an Options.Reload that counts calls, records what the
// certificate file held at each call, and fails while failures > 0.
type recorder struct {
	path string

	mu       sync.Mutex
	calls    int
	seen     []string
	times    []time.Time
	failures int
}

func (r *recorder) reload(ctx context.Context) error {
	data, _ := os.ReadFile(r.path)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.seen = append(r.seen, string(data))
	r.times = append(r.times, time.Now())
	if r.failures > 0 {
		r.failures--
		return fmt.Errorf("bad file (%d failures to go)", r.failures)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *recorder) lastSeen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return ""
	}
	return r.seen[len(r.seen)-1]
}

// start creates and starts a Watcher and stops it when the test ends.
func start(t testing.TB, o Options) *Watcher {
	t.Helper()
	w, err := New(o)
	require.NoError(t, err)
	w.Start()
	t.Cleanup(w.Stop)
	return w
}

func staticPaths(p ...string) func() []string { return func() []string { return p } }
