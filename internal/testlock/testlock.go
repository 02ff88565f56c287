package testlock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// E2E is the lock of everything that runs a sensor against the whole host:
// the end-to-end tests of cmd/macsensor and tools/lifetime measure.
const E2E = "macsensor-e2e"

// Path returns the lock file of name.
func Path(name string) string { return filepath.Join(os.TempDir(), name+".lock") }

// Acquire blocks until it holds the lock name. The lock is held until
// release is called (or the process exits).
func Acquire(name string) (release func(), err error) {
	return acquire(Path(name))
}

// Hold acquires the lock name for the rest of tb (released by tb.Cleanup)
// and fails tb when it cannot. It logs a wait of more than a second, so a
// slow test says why.
func Hold(tb testing.TB, name string) {
	tb.Helper()
	t0 := time.Now()
	release, err := Acquire(name)
	if err != nil {
		tb.Fatal(err)
	}
	if waited := time.Since(t0); waited > time.Second {
		tb.Logf("waited %v for %s (another test or measurement holds it)", waited.Round(time.Millisecond), Path(name))
	}
	tb.Cleanup(release)
}
