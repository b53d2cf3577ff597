package watch

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/ssld/ssld/tlsctx"
)

// maxHashed bounds how much of one file the re-check reads; TLS material
// and config files are a few KiB, and tlsctx refuses anything over 1 MiB.
const maxHashed = 1 << 20

// fingerprint hashes the state of every path for the periodic re-check:
// for a file its resolved target, size, modification time and content;
// for a folder (ssl_capath) the same for every file in it; for a path that
// cannot be read, the error. Two equal fingerprints mean nothing a reload
// reads has changed (short of a same-size, same-mtime rewrite of bytes
// beyond the first MiB).
func fingerprint(paths []string) [32]byte {
	h := sha256.New()
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	for _, p := range sorted {
		if p == "" {
			continue
		}
		fmt.Fprintf(h, "path %s\x00", p)
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				fmt.Fprintf(h, "error %v\x00", err)
				continue
			}
			for _, e := range entries { // sorted by name
				hashFile(h, filepath.Join(p, e.Name()))
			}
			continue
		}
		hashFile(h, p)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// hashFile writes the state of one file to h; folders are skipped (a CA
// folder's subfolders, Kubernetes' ..data) because tlsctx skips them too.
// Only regular files are read (opened non-blocking, checked with fstat): a
// FIFO among the watched files must not stall the watcher, and with it
// shutdown. Anything else is hashed by its mode alone; the reload it
// triggers reports it.
func hashFile(h hash.Hash, p string) {
	fi, err := os.Stat(p)
	if err != nil {
		fmt.Fprintf(h, "file %s error %v\x00", p, err)
		return
	}
	if fi.IsDir() {
		return
	}
	target, _ := filepath.EvalSymlinks(p)
	fmt.Fprintf(h, "file %s -> %s %d %d %v\x00", p, target, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
	f, _, err := tlsctx.OpenRegular(p)
	if err != nil {
		fmt.Fprintf(h, "error %v\x00", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(h, io.LimitReader(f, maxHashed)); err != nil {
		fmt.Fprintf(h, "error %v\x00", err)
	}
	h.Write([]byte{0})
}
