package tlsctx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
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

// NotRegularError is returned for a path that is neither a regular file nor
// a folder: a named pipe, a socket, a device. Reading one could block for
// ever (a FIFO without a writer) or never end (/dev/zero), so ssld never
// reads them.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: not a regular file (%s)", e.Path, fileKind(e.Mode))
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "mode " + m.String()
}

// OpenRegular opens path for reading without blocking (O_NONBLOCK: opening
// a FIFO without a writer returns at once) and checks with fstat that it is
// a regular file. A folder gives EISDIR, anything else *NotRegularError.
// The caller closes the file. Safe for concurrent use.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if outOfDescriptors(err) {
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fi, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fi, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, fi, nil
}

// descriptorsHook is called when opening a file fails with EMFILE (the
// process is out of descriptors); see SetOutOfDescriptorsHook.
var descriptorsHook atomic.Pointer[func() bool]

// SetOutOfDescriptorsHook installs f, called when a file a load or reload
// opens (every file, the ssl_capath folder included) fails with EMFILE: f
// frees descriptors and returns true, and the open is tried once more.
// The daemon holds a reserve of descriptors and keeps its listeners from
// accepting while the reserve is released, so the retry finds room. The
// hook is process-wide (descriptors are); restore puts back the previous
// one. nil removes it.
func SetOutOfDescriptorsHook(f func() bool) (restore func()) {
	var p *func() bool
	if f != nil {
		p = &f
	}
	old := descriptorsHook.Swap(p)
	return func() { descriptorsHook.CompareAndSwap(p, old) }
}

// outOfDescriptors reports whether err is EMFILE and the hook freed
// descriptors for a retry.
func outOfDescriptors(err error) bool {
	if err == nil || !errors.Is(err, syscall.EMFILE) {
		return false
	}
	f := descriptorsHook.Load()
	return f != nil && (*f)()
}

// ReadRegularFile reads a regular file of at most limit bytes (see
// OpenRegular). The config file is read through it too.
func ReadRegularFile(path string, limit int64) ([]byte, error) {
	data, _, err := readBounded(path, limit)
	return data, err
}

// readBounded opens path once (OpenRegular), refuses files over limit, and
// reads at most limit+1 bytes so an oversized file is detected without
// reading it all.
func readBounded(path string, limit int64) ([]byte, fs.FileMode, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		var mode fs.FileMode
		if fi != nil {
			mode = fi.Mode()
		}
		return nil, mode, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fi.Mode(), errTooLarge
	}
	data, err := readAllSized(io.LimitReader(f, limit+1), fi.Size())
	if err != nil {
		return nil, fi.Mode(), err
	}
	if int64(len(data)) > limit {
		return nil, fi.Mode(), errTooLarge
	}
	return data, fi.Mode(), nil
}

// readAllSized is io.ReadAll starting with room for size bytes and a
// little more (to see EOF, or a file that grew meanwhile, without another
// buffer). io.ReadAll grows from 512 bytes: for a CRL of tens of MB it
// allocates, zeroes and copies several times the file, about a third of
// the CPU of a reload that reads one (docs/performance.md).
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grown by append's rule
		}
	}
}

// fileReason turns an error from reading a file into an operator-facing
// reason.
func fileReason(err error) string {
	var nr *NotRegularError
	switch {
	case errors.Is(err, errTooLarge):
		return fmt.Sprintf("file is larger than the %d KiB limit", maxFileSize>>10)
	case errors.Is(err, syscall.ELOOP):
		return "symlink loop (too many levels of symbolic links)"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory, not a file"
	case errors.As(err, &nr):
		return "not a regular file (" + fileKind(nr.Mode) + "); only regular files are read"
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
