//go:build linux

package main

import (
	"os"
	"testing"
)

// TestMain only removes the binaries the end-to-end tests and live
// benchmarks built (lazily, on first use: a run of the unit tests alone
// builds nothing).
func TestMain(m *testing.M) {
	code := m.Run()
	e2eRemoveBuilds()
	os.Exit(code)
}
