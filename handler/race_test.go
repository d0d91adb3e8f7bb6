//go:build race

package handler

// raceEnabled: the race detector keeps shadow memory it never returns,
// so the resident set cannot be compared before and after under -race.
const raceEnabled = true
