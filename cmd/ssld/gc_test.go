package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// restoreGC puts the test binary's collector settings back.
func restoreGC(t *testing.T) {
	pct := debug.SetGCPercent(100)
	lim := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(lim)
	})
}

func TestTuneGCDefaults(t *testing.T) {
	restoreGC(t)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	tuneGC()
	assert.Equal(t, defaultGCPercent, debug.SetGCPercent(100))
	assert.Equal(t, int64(defaultMemoryLimit), debug.SetMemoryLimit(-1))
}

func TestTuneGCEnvironmentWins(t *testing.T) {
	restoreGC(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150) // what the runtime read from GOGC at start-up
	debug.SetMemoryLimit(1 << 30)
	tuneGC()
	assert.Equal(t, 150, debug.SetGCPercent(100))
	assert.Equal(t, int64(1<<30), debug.SetMemoryLimit(-1))
}
