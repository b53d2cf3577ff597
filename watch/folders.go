package watch

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// folder is one watched folder and the names in it whose events matter.
type folder struct {
	all   bool            // every entry matters (a CA folder)
	names map[string]bool // entries that matter
}

// folders maps every path to the folders that must be watched to see it
// change, and which names in each of those folders matter:
//
//   - a file: its folder, for its own name (rewrite, atomic rename);
//   - a symlink: also the first component of a relative target, e.g.
//     "..data" for Kubernetes' tls.crt -> ..data/tls.crt, and the folder of
//     the resolved file, so a target rewritten in place is seen too;
//   - a folder (ssl_capath): the folder itself, for every entry, and its
//     parent, for its name (the folder being replaced).
//
// Watching folders rather than files is what makes renames visible: an
// inotify watch on a file follows the old inode and goes quiet when the
// file is replaced.
func folders(paths []string) map[string]*folder {
	out := map[string]*folder{}
	add := func(dir, name string, all bool) {
		f := out[dir]
		if f == nil {
			f = &folder{names: map[string]bool{}}
			out[dir] = f
		}
		f.all = f.all || all
		if name != "" {
			f.names[name] = true
		}
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			add(p, "", true)
			add(filepath.Dir(p), filepath.Base(p), false)
			if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
				add(r, "", true)
			}
			continue
		}
		dir := filepath.Dir(p)
		add(dir, filepath.Base(p), false)
		if target, err := os.Readlink(p); err == nil && !filepath.IsAbs(target) {
			first, _, _ := strings.Cut(filepath.ToSlash(filepath.Clean(target)), "/")
			if first != "." && first != ".." {
				add(dir, first, false)
			}
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
			add(filepath.Dir(r), filepath.Base(r), false)
		}
	}
	return out
}

// sync makes the fsnotify watches match the folders of paths: it adds the
// missing ones (fsnotify drops a watch when its folder is removed or
// renamed, so this is also how watches are re-added) and removes the ones
// no longer needed.
func (w *Watcher) sync(paths []string) {
	want := folders(paths)
	have := map[string]bool{}
	for _, d := range w.fs.WatchList() {
		have[d] = true
	}
	for d := range want {
		if have[d] {
			delete(w.addFailed, d)
			continue
		}
		if err := w.addWatch(d); err != nil {
			if w.addFailed[d] != err.Error() {
				w.log.Warn("cannot watch folder; relying on the periodic re-check", "folder", d, "error", err)
				w.addFailed[d] = err.Error()
			}
			continue
		}
		delete(w.addFailed, d)
	}
	for d := range have {
		if want[d] == nil {
			_ = w.removeWatch(d) // fails only if already gone, which is what we want
		}
	}
	for d := range w.addFailed {
		if want[d] == nil {
			delete(w.addFailed, d)
		}
	}
	w.folders = want
}

// relevant reports whether ev may change what Paths name. Chmod alone is
// ignored: it fires on every touch and metadata change, and a key made
// readable after a failed reload is picked up by the retry anyway.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return false
	}
	if w.folders[ev.Name] != nil {
		return true // a watched folder itself was removed or renamed
	}
	f := w.folders[filepath.Dir(ev.Name)]
	if f == nil {
		return false
	}
	base := filepath.Base(ev.Name)
	// Kubernetes' atomic writer names everything it swaps "..something".
	return f.all || f.names[base] || strings.HasPrefix(base, "..")
}
