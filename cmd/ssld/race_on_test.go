//go:build race

package main

// raceEnabled reports that the tests run under the race detector, which
// slows every goroutine several times over.
const raceEnabled = true
