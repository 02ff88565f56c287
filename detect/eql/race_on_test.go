//go:build race

package eql

// raceEnabled is set when testing with -race, under which sync.Pool (and
// so regexp's matcher cache) drops items at random and allocates.
const raceEnabled = true
