package doctor

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// pollEvery is how often a check polls while it waits for a condition.
const pollEvery = 20 * time.Millisecond

// startSlack widens the window a child's start time must fall in: Linux
// counts start times in clock ticks (10 ms), macOS in microseconds.
const startSlack = 25 * time.Millisecond

// recordingSockets is the sensor's socket table; it keeps the last listing
// so that a check can see a connection's state and kernel pids.
type recordingSockets struct {
	t    *socket.Table
	last []socket.Conn
}

func (r *recordingSockets) List(dst []socket.Conn) ([]socket.Conn, error) {
	out, err := r.t.List(dst)
	if err == nil {
		r.last = append(r.last[:0], out[len(dst):]...)
	}
	return out, err
}

// openSensor opens the real process and socket tables and primes a sensor
// on them (its first poll learns what runs; it emits nothing). The caller
// holds the sensor lock.
func (d *Doctor) openSensor() error {
	if d.sens != nil {
		return nil
	}
	pt, err := proc.Open()
	if err != nil {
		return failf(nextBundle, "open the process table: %v", err)
	}
	st, err := socket.Open()
	if err != nil {
		pt.Close()
		return failf(nextBundle, "open the socket table: %v", err)
	}
	d.socks = &recordingSockets{t: st}
	d.sens = sensor.New(pt, d.socks, sensor.Options{
		Host:     d.host,
		Agent:    ecs.Agent{ID: d.host.ID, Type: "macsensor", Version: d.opt.Version, Name: d.host.Hostname},
		UserName: sensor.UserName,
	})
	d.closeSens = func() { st.Close(); pt.Close() }
	if _, err := d.sens.Poll(nil); err != nil {
		return failf(nextBundle, "first poll: %v", err)
	}
	return nil
}

// pollFor polls the sensor until match accepts an event or ctx ends. After
// each poll's events match is also called with nil: a true answer then ends
// the wait with a nil event (for conditions spanning several events).
func (d *Doctor) pollFor(ctx context.Context, what string, match func(*ecs.Event) bool) (*ecs.Event, error) {
	unlock, err := d.lockSensor(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.openSensor(); err != nil {
		return nil, err
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var evs []*ecs.Event
	for polls := 1; ; polls++ {
		evs, err = d.sens.Poll(evs[:0])
		if err != nil {
			return nil, failf(nextBundle, "poll %d: %v", polls, err)
		}
		d.keep(evs)
		for _, ev := range evs {
			if match(ev) {
				return ev.Clone(), nil
			}
		}
		if match(nil) { // the caller's condition holds without a new event
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, failf(nextBundle, "no %s after %d polls", what, polls)
		case <-tick.C:
		}
	}
}

// checkProcessPoll starts a copy of the binary named automator with three
// distinctive arguments and waits for its exec event from the process
// poll: pid, name, executable, args, parent and start time must be exact.
func checkProcessPoll(ctx context.Context, d *Doctor) (string, error) {
	unlock, err := d.lockSensor(ctx)
	if err != nil {
		return "", err
	}
	err = d.openSensor() // prime before the child starts: its start must be new
	unlock()
	if err != nil {
		return "", err
	}
	d.startProcEvents() // listening before the fork, for process.events
	before := time.Now()
	c, err := d.spawn(ctx, d.automatorPath, "hold", "nonce-"+d.nonce)
	if err != nil {
		return "", failf(nextBundle, "start %s: %v", d.automatorPath, err)
	}
	after := time.Now()
	want := append([]string{d.automatorPath}, d.opt.ChildArgs...)
	want = append(want, "hold", "nonce-"+d.nonce)
	expected := &ProcessFact{PID: c.pid, PPID: d.facts.DoctorPID, UID: uint32(os.Geteuid()), Name: automatorName,
		Executable: d.automatorPath, Args: want}
	ev, err := d.pollFor(ctx, fmt.Sprintf("exec event for pid %d", c.pid), func(ev *ecs.Event) bool {
		return ev != nil && ev.Process.PID == int64(c.pid) && slices.Contains(ev.Event.Type, "start") && ev.Event.Action == "exec"
	})
	if err != nil {
		// Keep the buffers the poll could not make sense of, and what they
		// should say: that is the regression fixture.
		d.mu.Lock()
		d.facts.Automator = expected
		d.mu.Unlock()
		d.recordProcess(c.pid)
		return "", err
	}
	fact := &ProcessFact{Seen: true, PID: int32(ev.Process.PID), PPID: int32(ev.Process.Parent.PID), Name: ev.Process.Name,
		Executable: ev.Process.Executable, Args: ev.Process.Args, Start: ev.Process.Start}
	fmt.Sscan(ev.User.ID, &fact.UID)
	d.mu.Lock()
	d.facts.Automator = fact
	d.mu.Unlock()
	d.recordProcess(c.pid)
	value := fmt.Sprintf("pid %d %q, %d args, parent %d, start %s (fork %+.1f ms)", fact.PID, fact.Name, len(fact.Args),
		fact.PPID, time.Unix(0, fact.Start).UTC().Format("15:04:05.000000"), float64(time.Unix(0, fact.Start).Sub(before))/1e6)
	return value, compareProcess(fact, c.pid, automatorName, d.automatorPath, want, int32(d.facts.DoctorPID), before, after)
}

// compareProcess checks a child's fact against what the doctor knows.
func compareProcess(f *ProcessFact, pid int32, name, exe string, args []string, ppid int32, before, after time.Time) error {
	var bad []string
	if f.PID != pid {
		bad = append(bad, fmt.Sprintf("pid %d, want %d", f.PID, pid))
	}
	if f.Name != name {
		bad = append(bad, fmt.Sprintf("process.name %q, want %q", f.Name, name))
	}
	if f.Executable != exe {
		bad = append(bad, fmt.Sprintf("process.executable %q, want %q", f.Executable, exe))
	}
	if !slices.Equal(f.Args, args) {
		bad = append(bad, fmt.Sprintf("process.args %q, want %q", f.Args, args))
	}
	if f.PPID != ppid {
		bad = append(bad, fmt.Sprintf("process.parent.pid %d, want %d", f.PPID, ppid))
	}
	st := time.Unix(0, f.Start)
	if st.Before(before.Add(-startSlack)) || st.After(after.Add(startSlack)) {
		bad = append(bad, fmt.Sprintf("process.start %s outside the fork's window [%s, %s]",
			st.UTC().Format(time.RFC3339Nano), before.UTC().Format(time.RFC3339Nano), after.UTC().Format(time.RFC3339Nano)))
	}
	if len(bad) > 0 {
		return failf(nextBundle, "%s", strings.Join(bad, "; "))
	}
	return nil
}

// recordProcess keeps the raw process buffers for the bundle and for
// process.decode: the whole process table (kern.proc.all on macOS, every
// /proc/<pid>/stat on Linux) and the argument buffer of the child pid.
func (d *Doctor) recordProcess(pid int32) {
	switch runtime.GOOS {
	case "darwin":
		if b, err := proc.RawProcAll(); err == nil {
			if proc.BlankKinfoLogin(b) == nil {
				d.addFile("proc/kern.proc.all", b)
			}
		}
		if b, err := proc.RawProcargs2(pid); err == nil {
			if argv, err := proc.ProcargsArgv(b); err == nil {
				d.addFile(fmt.Sprintf("proc/procargs2/%d", pid), argv)
			}
		}
	case "linux":
		boot, tick, err := proc.BootClock()
		if err == nil {
			d.mu.Lock()
			d.facts.BootNs, d.facts.TickNs = boot, tick
			d.mu.Unlock()
		}
		if stats, err := proc.RawStats(); err == nil {
			pids := make([]int32, 0, len(stats))
			for p := range stats {
				pids = append(pids, p)
			}
			slices.Sort(pids)
			for _, p := range pids {
				d.addFile(fmt.Sprintf("proc/stat/%d", p), stats[p])
			}
		}
		if b, err := proc.RawCmdline(pid); err == nil {
			d.addFile(fmt.Sprintf("proc/cmdline/%d", pid), b)
		}
	}
}

// checkProcessDecode decodes the raw buffers recorded for the children
// with the same decoders a bundle replay uses and compares them with what
// the live poll reported: on a Mac this is the proof that the kinfo_proc
// and procargs2 decoders read this macOS's layout.
func checkProcessDecode(ctx context.Context, d *Doctor) (string, error) {
	d.mu.Lock()
	files := d.snapshotFiles()
	facts := d.facts
	d.mu.Unlock()
	res := replayProcesses(files, &facts, runtime.GOOS)
	if res.err != nil {
		return res.value, failf(nextBundle, "%v", res.err)
	}
	return res.value, nil
}
