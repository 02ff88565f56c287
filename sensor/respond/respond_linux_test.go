package respond

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/proc"
)

func liveKiller(t *testing.T) *Killer {
	pt, err := proc.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pt.Close() })
	return &Killer{Self: os.Getpid(), StartTime: func(pid int32) (int64, error) {
		var e proc.Entry
		if err := pt.Read(pid, &e); err != nil {
			return 0, err
		}
		return e.Start, nil
	}}
}

func startSleep(t *testing.T) (*exec.Cmd, chan error) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, done
}

// TestKillLive kills a real child through a pidfd, after checking its
// start time; a wrong start time leaves it alive.
func TestKillLive(t *testing.T) {
	k := liveKiller(t)
	cmd, done := startSleep(t)
	pid := cmd.Process.Pid
	start, err := k.StartTime(int32(pid))
	if err != nil {
		t.Fatal(err)
	}

	// The event's process started 10 ms earlier than the live one: the pid
	// was reused. Not killed.
	r := k.Kill(Target{PID: int64(pid), Start: start - int64(10*time.Millisecond)})
	if r.Result != ResultChanged {
		t.Fatalf("reused pid: %+v", r)
	}
	select {
	case err := <-done:
		t.Fatalf("the process was killed although its start time differs: %v", err)
	default:
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the process is gone: %v", err)
	}

	r = k.Kill(Target{PID: int64(pid), Start: start, Name: "sleep"})
	if r.Result != 0 || r.Message != "killed with SIGKILL" {
		t.Fatalf("kill: %+v", r)
	}
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("wait: %v, want killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not die")
	}

	// Reaped: pidfd_open fails with ESRCH (or the pid names another process).
	r = k.Kill(Target{PID: int64(pid), Start: start})
	if r.Result != int(syscall.ESRCH) && r.Result != ResultChanged {
		t.Errorf("after exit: %+v", r)
	}
	if !strings.HasPrefix(r.Message, "not killed") {
		t.Errorf("after exit: message %q", r.Message)
	}
}
