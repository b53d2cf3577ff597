package tlsctx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// maxFileSize bounds every file the Manager reads: certificate, key and CA
// files are a few KiB; anything larger is a mistake (a log file, a disk
// image) that must not be read into memory.
const maxFileSize = 1 << 20

// fileReader reads one file, bounded by limit bytes, and returns its
// contents and mode. It is a seam: tests replace it to emulate failures
// (e.g. permission denied when running as root).
type fileReader func(path string, limit int64) ([]byte, fs.FileMode, error)

var errTooLarge = errors.New("file too large")

// readBounded opens path once, refuses folders and files over limit, and
// reads at most limit+1 bytes so an oversized file is detected without
// reading it all.
func readBounded(path string, limit int64) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.IsDir() {
		return nil, fi.Mode(), &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	if fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, fi.Mode(), errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fi.Mode(), err
	}
	if int64(len(data)) > limit {
		return nil, fi.Mode(), errTooLarge
	}
	return data, fi.Mode(), nil
}

// fileReason turns an error from reading a file into an operator-facing
// reason.
func fileReason(err error) string {
	switch {
	case errors.Is(err, errTooLarge):
		return fmt.Sprintf("file is larger than the %d KiB limit", maxFileSize>>10)
	case errors.Is(err, syscall.ELOOP):
		return "symlink loop (too many levels of symbolic links)"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory, not a file"
	case errors.Is(err, fs.ErrNotExist):
		return "file does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (file is not readable by this process)"
	case errors.Is(err, syscall.ENOTDIR):
		return "a path component is not a directory"
	default:
		return err.Error()
	}
}

func errIsDir(err error) bool { return errors.Is(err, syscall.EISDIR) }
