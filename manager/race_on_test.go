//go:build race

package manager_test

// raceEnabled: the race detector's shadow memory multiplies what an
// allocation costs in RSS.
const raceEnabled = true
