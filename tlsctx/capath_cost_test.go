package tlsctx

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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

// TestCAPathReloadCost: the time a reload takes with an ssl_capath of N
// CA files (-capath-files N; the suite runs 2,000), both channels served.
// The folder is read and parsed once per reload for both channels, and
// identical files are parsed once. It asserts the per-file cost of the
// fastest of 3 reloads: under 50 µs (150 µs under -race), so that 100,000
// files (MaxCAPathEntries) stay inside the default reload_timeout of 10 s.
// Before (each channel read and parsed every file): 60–100 µs a file
// without -race, 250 µs with. Measured figures: docs/reliability.md.
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
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start = time.Now()
		_, err := m.Reload(context.Background())
		require.NoError(t, err)
		d := time.Since(start)
		best = min(best, d)
		t.Logf("%d files: reload %v (%.1f µs a file)", n, d, float64(d.Microseconds())/float64(n))
	}
	perFile := 50 * time.Microsecond
	if raceEnabled {
		perFile = 150 * time.Microsecond
	}
	assert.Less(t, best, time.Duration(n)*perFile, "fastest of 3 reloads")
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
