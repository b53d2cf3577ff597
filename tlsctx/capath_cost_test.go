package tlsctx

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var capathFiles = flag.Int("capath-files", 0, "files in ssl_capath for TestCAPathReloadCost (0: the suite's bounded 2,000)")

// writeCAPath fills dir with n files holding pem (as many copies as
// c_rehash links and bundles make; duplicates count once).
func writeCAPath(t testing.TB, dir string, pem []byte, n int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i := range n {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("ca%06d.pem", i)), pem, 0o644))
	}
}

// TestCAPathReloadCost: what a reload does with an ssl_capath of N CA files
// (-capath-files N; the suite runs 2,000), both channels served: each file
// is read once per reload for both channels, and identical files are
// parsed once. That is what keeps 100,000 files (MaxCAPathEntries) inside
// the default reload_timeout of 10 s; the time of each reload is printed
// (-v), the figures are in docs/reliability.md. Before (each channel read
// and parsed every file): 2N reads and 2N parses, 60–100 µs a file.
func TestCAPathReloadCost(t *testing.T) {
	n := 2000
	if *capathFiles > 0 {
		n = *capathFiles
	}
	f := newFixture(t)
	writeCAPath(t, f.path("cas"), f.ca.CertPEM, n)
	f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
	start := time.Now()
	m := f.manager()
	t.Logf("%d files: start-up load %v", n, time.Since(start))
	var reads, parses atomic.Int64
	read := m.readFile
	m.readFile = func(p string, limit int64) ([]byte, fs.FileMode, error) {
		if filepath.Dir(p) == f.path("cas") {
			reads.Add(1)
		}
		return read(p, limit)
	}
	parse := parseCAPathFile
	parseCAPathFile = func(b []byte) ([]*x509.Certificate, error) { parses.Add(1); return parse(b) }
	t.Cleanup(func() { parseCAPathFile = parse })
	for range 3 {
		reads.Store(0)
		parses.Store(0)
		start = time.Now()
		_, err := m.Reload(context.Background())
		require.NoError(t, err)
		d := time.Since(start)
		t.Logf("%d files: reload %v (%.1f µs a file)", n, d, float64(d.Microseconds())/float64(n))
		assert.Equal(t, int64(n), reads.Load(), "each file read once for both channels")
		assert.Equal(t, int64(1), parses.Load(), "identical files parsed once")
	}
}

// TestCAPathTooManyEntries: a folder with more entries than the limit is
// refused before any file is read, naming the setting, the folder and the
// limit; the previous contexts stay.
func TestCAPathTooManyEntries(t *testing.T) {
	defer func(old int) { maxCAPathEntries = old }(maxCAPathEntries)
	maxCAPathEntries = 50
	f := newFixture(t)
	writeCAPath(t, f.path("cas"), f.ca.CertPEM, 50)
	f.set(func(s *Settings) { s.SSLCAPath = f.path("cas") })
	m := f.manager()
	gen := m.Status().Generation
	f.write("cas/ca000050.pem", f.ca.CertPEM, 0o644)
	_, err := m.Reload(context.Background())
	var re *ReloadError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, "ssl_capath", re.Setting)
	assert.Equal(t, f.path("cas"), re.File)
	assert.Contains(t, err.Error(), "folder holds more than 50 entries (the limit")
	assert.Equal(t, gen, m.Status().Generation)
}
