package sensor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// liveProcessEvents runs a Loop over the real process table with the proc
// connector and scheduled polls an hour apart: only process events make it
// see anything. It skips when the connector cannot be opened (not root).
func liveProcessEvents(t *testing.T, opt Options) (out chan Batch, s *Sensor) {
	t.Helper()
	src, err := procevents.Open()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, procevents.ErrNamespace) {
			t.Skipf("process connector: %v", err)
		}
		t.Fatal(err)
	}
	pt, err := proc.Open()
	if err != nil {
		t.Fatal(err)
	}
	hi, err := host.Read()
	if err != nil {
		t.Fatal(err)
	}
	opt.Host = hi
	s = New(pt, nil, opt)
	q := NewProcessEvents(0)
	go q.Feed(src)
	ctx, cancel := context.WithCancel(context.Background())
	out = make(chan Batch, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.LoopWith(ctx, LoopOptions{ProcessEvery: time.Hour, SocketEvery: time.Hour, ProcessEvents: q}, out)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		src.Close()
		pt.Close()
	})
	select {
	case <-out: // the first poll
	case <-time.After(10 * time.Second):
		t.Fatal("no first poll")
	}
	return out, s
}

// TestLiveShortProcessWithExitingParent: a parent lives 300 ms, starts a
// helper that lives 500 ms and exits 1 ms after the fork, so the helper is
// reparented; with polls an hour apart, each helper's exec event carries
// its exact args and names that parent, exited by then, with its name and
// args: 20 of 20. (The lifetimes leave room for a loaded test machine,
// where a read may wait 200 ms for a CPU; the lifetime measurement in
// docs/PERFORMANCE.md covers short ones.)
func TestLiveShortProcessWithExitingParent(t *testing.T) {
	bin := buildHelper(t, "macsensor.probe.helper")
	out, s := liveProcessEvents(t, Options{ExitEvents: true})
	const rounds = 20
	type round struct {
		sh   int64
		args []string
	}
	want := map[string]round{} // by the third argument
	var cmds []*exec.Cmd
	for i := range rounds {
		mark := fmt.Sprintf("round-%d-%d", i, time.Now().UnixNano())
		args := []string{bin, "live", "500", "alpha-x", "beta-y", mark}
		cmd := exec.Command(bin, append([]string{"spawn", "1"}, args...)...)
		cmd.Env = append(cmd.Environ(), "HELPER_SPAWN_AFTER_MS=300")
		cmd.Dir = filepath.Dir(bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		want[mark] = round{sh: int64(cmd.Process.Pid), args: args}
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]*ecs.Event{}
	ends := map[int64]bool{}
	deadline := time.After(20 * time.Second)
	complete := func() bool {
		if len(got) < rounds {
			return false
		}
		for _, ev := range got {
			if !ends[ev.Process.PID] {
				return false
			}
		}
		return true
	}
	for !complete() {
		select {
		case b := <-out:
			for _, ev := range b.Events {
				if ev.Process.Name != "macsensor.probe.helper" {
					continue
				}
				if ev.Event.Action == "end" {
					ends[ev.Process.PID] = true
					continue
				}
				if n := len(ev.Process.Args); n == 6 {
					got[ev.Process.Args[5]] = ev
				}
			}
		case <-deadline:
			_, ls := s.PublishedStats()
			t.Logf("read delay p50 %v p99 %v max %v", ls.Process.ReadDelay.Quantile(0.5), ls.Process.ReadDelay.Quantile(0.99), ls.Process.ReadDelay.Max)
			t.Fatalf("%d of %d exec events, %d ends; stats %+v", len(got), rounds, len(ends), ls.Process)
		}
	}
	_, ls := s.PublishedStats()
	t.Logf("read delay p50 %v p99 %v max %v over %d reads", ls.Process.ReadDelay.Quantile(0.5), ls.Process.ReadDelay.Quantile(0.99), ls.Process.ReadDelay.Max, ls.Process.Reads)
	for mark, w := range want {
		ev := got[mark]
		if ev == nil {
			t.Errorf("%s: no exec event", mark)
			continue
		}
		if !slices.Equal(ev.Process.Args, w.args) || ev.Process.Executable != bin || ev.Process.WorkingDirectory != filepath.Dir(bin) {
			t.Errorf("%s: args %q executable %q cwd %q", mark, ev.Process.Args, ev.Process.Executable, ev.Process.WorkingDirectory)
		}
		p := ev.Process.Parent
		if p.PID != w.sh || !slices.Equal(p.Args, append([]string{bin, "spawn", "1"}, w.args...)) || p.EntityID == "" || p.Executable != bin {
			t.Errorf("%s: parent %+v, want the spawner %d", mark, p, w.sh)
		}
		if !ends[ev.Process.PID] {
			t.Errorf("%s: no end event for pid %d", mark, ev.Process.PID)
		}
	}
}
