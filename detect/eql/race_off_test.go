//go:build !race

package eql

const raceEnabled = false
