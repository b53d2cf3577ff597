//go:build race

package e2e

// raceEnabled reports that the tests run under the race detector, which
// slows every goroutine several times over.
const raceEnabled = true
