package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// SecretVolume is a Kubernetes Secret volume in Dir as the kubelet's
// atomic writer lays it out:
//
//	..2026_11_23_10_00_00.1/tls.crt, tls.key
//	..data -> ..2026_11_23_10_00_00.1
//	tls.crt -> ..data/tls.crt
//	tls.key -> ..data/tls.key
//
// Each Write makes a new timestamped folder, points a ..data_tmp symlink at
// it, renames ..data_tmp over ..data and removes the previous folder. A
// name that Dir holds as a plain file (as another writer left it) is
// replaced by its ..data symlink, atomically.
type SecretVolume struct {
	Dir string
	// GID, when not 0, is the group of the files (the kubelet gives them
	// the pod's fsGroup).
	GID int
	gen int
}

// Write publishes files (name to content, mode 0640) as the volume's next
// version.
func (v *SecretVolume) Write(tb testing.TB, files map[string][]byte) {
	tb.Helper()
	must := func(err error) {
		if err != nil {
			tb.Helper()
			tb.Fatalf("secret volume %s: %v", v.Dir, err)
		}
	}
	old := fmt.Sprintf("..2026_11_23_10_00_00.%d", v.gen)
	v.gen++
	ts := fmt.Sprintf("..2026_11_23_10_00_00.%d", v.gen)
	must(os.MkdirAll(filepath.Join(v.Dir, ts), 0o755))
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		must(os.WriteFile(filepath.Join(v.Dir, ts, n), files[n], 0o640))
		if v.GID != 0 {
			must(os.Chown(filepath.Join(v.Dir, ts, n), -1, v.GID))
		}
	}
	must(os.Symlink(ts, filepath.Join(v.Dir, "..data_tmp")))
	must(os.Rename(filepath.Join(v.Dir, "..data_tmp"), filepath.Join(v.Dir, "..data")))
	for _, n := range names {
		fi, err := os.Lstat(filepath.Join(v.Dir, n))
		switch {
		case os.IsNotExist(err):
			must(os.Symlink(filepath.Join("..data", n), filepath.Join(v.Dir, n)))
		case err == nil && fi.Mode()&os.ModeSymlink == 0:
			tmp := filepath.Join(v.Dir, ".."+n+"_tmp")
			must(os.Symlink(filepath.Join("..data", n), tmp))
			must(os.Rename(tmp, filepath.Join(v.Dir, n)))
		}
	}
	if v.gen > 1 {
		must(os.RemoveAll(filepath.Join(v.Dir, old)))
	}
}
