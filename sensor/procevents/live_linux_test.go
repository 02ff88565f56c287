package procevents

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openLive opens the connector or skips when this process may not.
func openLive(t *testing.T) *Source {
	t.Helper()
	src, err := Open()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, ErrNamespace) {
			t.Skipf("process connector not available: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// TestLiveForkExecExit runs /bin/true and waits for its fork, exec and exit.
func TestLiveForkExecExit(t *testing.T) {
	src := openLive(t)
	got := make(chan Event, 4096)
	go func() {
		var evs []Event
		for {
			var err error
			evs, err = src.Read(evs)
			if errors.Is(err, ErrClosed) {
				close(got)
				return
			}
			for _, e := range evs {
				got <- e
			}
		}
	}()
	before := time.Now().UnixNano()
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	cmd.Wait()
	after := time.Now().UnixNano()
	var fork, execd, exit bool
	deadline := time.After(10 * time.Second)
	for !(fork && execd && exit) {
		select {
		case e := <-got:
			if e.PID != pid {
				continue
			}
			if e.Time < before-int64(time.Second) || e.Time > after+int64(time.Second) {
				t.Errorf("%v event time %d not within a second of [%d, %d]", e.Kind, e.Time, before, after)
			}
			switch e.Kind {
			case Fork:
				fork = true
				if e.PPID != int32(unix.Getpid()) {
					t.Errorf("fork parent %d, want %d", e.PPID, unix.Getpid())
				}
			case Exec:
				execd = true
			case Exit:
				exit = true
				if code, ok := e.ExitCode(); !ok || code != 3 {
					t.Errorf("exit code %d %v, want 3", code, ok)
				}
			}
		case <-deadline:
			t.Fatalf("fork %v exec %v exit %v of pid %d", fork, execd, exit, pid)
		}
	}
	if st := src.Stats(); st.Events == 0 || st.Spoofed != 0 {
		t.Errorf("stats %+v", st)
	}
}
