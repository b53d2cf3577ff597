package tlsctx

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadBoundedSizes: a file of exactly the limit is read whole, one
// byte more is refused, an empty file reads as nothing.
func TestReadBoundedSizes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o600))
		return p
	}
	data, _, err := readBounded(write("limit", 4096), 4096)
	require.NoError(t, err)
	require.Len(t, data, 4096)
	_, _, err = readBounded(write("over", 4097), 4096)
	require.ErrorIs(t, err, errTooLarge)
	data, _, err = readBounded(write("empty", 0), 4096)
	require.NoError(t, err)
	require.Empty(t, data)
}

// TestReadBoundedOneBuffer: a large file (a CRL of a million serials is
// tens of MB) is read into one buffer of its size, not grown from 512
// bytes as io.ReadAll does, which allocates several times the file.
func TestReadBoundedOneBuffer(t *testing.T) {
	const size = 16 << 20
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	p := filepath.Join(t.TempDir(), "big.crl")
	require.NoError(t, os.WriteFile(p, want, 0o600))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, _, err := readBounded(p, maxCRLSize)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, data), "contents differ")
	allocated := after.TotalAlloc - before.TotalAlloc
	require.Less(t, allocated, uint64(size+size/8), "reading a %d-byte file allocated %d bytes", size, allocated)
}
