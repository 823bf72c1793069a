//go:build race

package bolt

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
