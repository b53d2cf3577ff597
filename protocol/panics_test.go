package protocol

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPanicLogBounded: every recovered panic is counted, at most burst of
// them are logged per interval (the next line says how many were left
// out), and a line holds at most 512 bytes of the panic value and 4 KiB of
// the stack, however large they are.
func TestPanicLogBounded(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	rl := rateLimit{burst: 5, interval: time.Hour}
	before := RecoveredPanics()
	for range 20 {
		logPanic(log, &rl, []any{strings.Repeat("v", 1<<20), strings.Repeat("s", 1<<20)})
	}
	assert.Equal(t, before+20, RecoveredPanics())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, 5)
	for _, l := range lines {
		assert.Less(t, len(l), 512+4096+300)
	}
	rl.start = time.Time{} // the next interval
	buf.Reset()
	logPanic(log, &rl, []any{"x", "y"})
	assert.Contains(t, buf.String(), "suppressed=15")
}
