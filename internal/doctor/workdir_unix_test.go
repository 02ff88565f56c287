//go:build unix

package doctor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWorkdirAbandoned: a workdir check that the run's deadline abandons
// while it copies the executable (here a FIFO no one writes) leaves no
// temporary folder behind, and the run's cleanup does not race it (go test
// -race).
func TestWorkdirAbandoned(t *testing.T) {
	tmp := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "macsensor")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	d := Run(context.Background(), Options{
		Timeout: 100 * time.Millisecond, Executable: fifo, TempDir: tmp,
		Checks: []Check{{Name: "workdir", Run: checkWorkdir}},
	})
	if r := d.Report().Checks[0]; r.Status != Fail {
		t.Errorf("workdir: %s %q, want a failure at the deadline", r.Status, r.Reason)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary folder after the run: %v", ents)
	}
	// Let the abandoned check's copy end (EOF on the FIFO). Non-blocking:
	// ENXIO when it never got to open it.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
}
