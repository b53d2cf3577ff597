//go:build !race

package tlsctx

// raceEnabled: the race detector keeps shadow memory that RSS figures include.
const raceEnabled = false
