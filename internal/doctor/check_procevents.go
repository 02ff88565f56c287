package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// The process-event source's check (kqueue EVFILT_PROC on macOS, the
// netlink proc connector on Linux): the automator child of process.poll
// must be announced by it (a fork from the doctor, an exec) and the read
// those events trigger (sensor.HandleProcessEvents, the daemon's path) must
// give the same pid, name, executable, args, parent and start time as the
// poll.

// maxRawMessages bounds the kernel messages kept in memory until the check
// picks those of the child for the bundle.
const maxRawMessages = 4096

// procEvents is the run's process-event source: opened by process.poll
// before it starts the automator child (the fork must happen after the
// source listens), read on its own goroutine, checked by process.events.
// Its sensor polled once before the fork, as the daemon's had.
type procEvents struct {
	src     *procevents.Source
	pt      *proc.Table
	sens    *sensor.Sensor
	openErr error
	done    chan struct{}
	more    chan struct{}

	mu     sync.Mutex
	events []procevents.Event
	raw    [][]byte // Linux: the proc connector's datagrams
}

// startProcEvents opens the source and primes its sensor, once. A failure
// is kept for process.events to report; process.poll goes on without it.
func (d *Doctor) startProcEvents() {
	if d.pev != nil {
		return
	}
	pe := &procEvents{done: make(chan struct{}), more: make(chan struct{}, 1)}
	d.pev = pe
	fail := func(err error) {
		pe.openErr = err
		close(pe.done)
	}
	pt, err := proc.Open()
	if err != nil {
		fail(err)
		return
	}
	pe.pt = pt
	pe.sens = sensor.New(pt, nil, sensor.Options{Host: d.host, UserName: sensor.UserName,
		Agent: ecs.Agent{ID: d.host.ID, Type: "macsensor", Version: d.opt.Version, Name: d.host.Hostname}})
	if _, err := pe.sens.PollProcesses(nil); err != nil {
		fail(err)
		return
	}
	src, err := procevents.Open()
	if err != nil {
		fail(err)
		return
	}
	pe.src = src
	src.SetRawTap(func(b []byte) {
		pe.mu.Lock()
		defer pe.mu.Unlock()
		if len(pe.raw) < maxRawMessages {
			pe.raw = append(pe.raw, slices.Clone(b))
		}
	})
	go func() {
		defer close(pe.done)
		var buf []procevents.Event
		for {
			var err error
			buf, err = src.Read(buf[:0])
			if errors.Is(err, procevents.ErrClosed) {
				return
			}
			pe.mu.Lock()
			pe.events = append(pe.events, buf...)
			pe.mu.Unlock()
			select {
			case pe.more <- struct{}{}:
			default:
			}
		}
	}()
}

// stop closes the source, waits for its reader and closes the table.
func (pe *procEvents) stop() {
	if pe.src != nil {
		pe.src.Close()
	}
	<-pe.done
	if pe.pt != nil {
		pe.pt.Close()
	}
}

func checkProcessEvents(ctx context.Context, d *Doctor) (string, error) {
	pe := d.pev
	if pe == nil {
		return "", Skipf("needs process.poll, which did not start the process-event source")
	}
	if pe.openErr != nil {
		if errors.Is(pe.openErr, os.ErrPermission) && !d.root {
			return "", Skipf("needs root: run it with sudo (%v)", pe.openErr)
		}
		return "", failf(nextBundle, "cannot open the process-event source: %v", pe.openErr)
	}
	d.mu.Lock()
	want := d.facts.Automator
	d.mu.Unlock()
	if want == nil || !want.Seen {
		return "", Skipf("needs process.poll's child, which the poll did not see")
	}
	var fork, exec *procevents.Event
	var evs []procevents.Event
	for {
		pe.mu.Lock()
		evs = slices.Clone(pe.events)
		pe.mu.Unlock()
		for i := range evs {
			switch e := &evs[i]; {
			case e.Kind == procevents.Fork && e.PID == want.PID:
				fork = e
			case e.Kind == procevents.Exec && e.PID == want.PID:
				exec = e
			}
		}
		if fork != nil && exec != nil {
			break
		}
		select {
		case <-pe.more:
		case <-ctx.Done():
			d.recordProcEvents(evs, want.PID)
			return "", failf(nextBundle, "pid %d: fork seen %v, exec seen %v, in %d events", want.PID, fork != nil, exec != nil, len(evs))
		}
	}
	d.recordProcEvents(evs, want.PID)
	value := fmt.Sprintf("pid %d: fork from %d, exec, %s after the fork", want.PID, fork.PPID,
		time.Duration(exec.Time-fork.Time).Round(time.Microsecond))
	if fork.PPID != want.PPID {
		return value, failf(nextBundle, "the fork names parent %d, the poll %d", fork.PPID, want.PPID)
	}
	var got *ecs.Event
	for _, ev := range pe.sens.HandleProcessEvents(nil, []procevents.Event{*fork, *exec}) {
		if ev.Process.PID == int64(want.PID) && slices.Contains(ev.Event.Type, "start") {
			got = ev
		}
	}
	if got == nil {
		return value, failf(nextBundle, "the read the events triggered made no start event for pid %d", want.PID)
	}
	f := &ProcessFact{PID: int32(got.Process.PID), PPID: int32(got.Process.Parent.PID), Name: got.Process.Name,
		Executable: got.Process.Executable, Args: got.Process.Args, Start: got.Process.Start}
	var bad []string
	// Each Linux process table converts start ticks with the boot time it
	// read at Open (CLOCK_REALTIME − CLOCK_BOOTTIME): two tables differ by
	// nanoseconds. macOS gives the kernel's microseconds to both.
	if d := f.Start - want.Start; d > int64(time.Millisecond) || d < -int64(time.Millisecond) {
		bad = append(bad, fmt.Sprintf("process.start %d, the poll %d", f.Start, want.Start))
	}
	st := time.Unix(0, want.Start)
	if err := compareProcess(f, want.PID, want.Name, want.Executable, want.Args, want.PPID, st, st); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return value, failf(nextBundle, "%v", bad)
	}
	return value + "; the read they trigger matches the poll", nil
}

// recordProcEvents keeps, for the bundle, the decoded events naming the
// child and (Linux) the connector datagrams that carry them.
func (d *Doctor) recordProcEvents(evs []procevents.Event, pid int32) {
	var mine []procevents.Event
	for _, e := range evs {
		if e.PID == pid || e.PPID == pid {
			mine = append(mine, e)
		}
	}
	if b, err := json.MarshalIndent(mine, "", "  "); err == nil {
		d.addFile("procevents/events.json", b)
	}
	d.pev.mu.Lock()
	raw := d.pev.raw
	d.pev.mu.Unlock()
	n := 0
	for _, m := range raw {
		got, _, _ := procevents.ParseConnector(m, nil)
		if slices.ContainsFunc(got, func(e procevents.Event) bool { return e.PID == pid || e.PPID == pid }) {
			d.addFile(fmt.Sprintf("procevents/connector/%02d", n), m)
			n++
		}
	}
}

// replayProcEvents decodes the bundle's proc connector datagrams (Linux)
// and finds the automator's fork from the doctor and its exec. macOS
// bundles hold only the decoded events (procevents/events.json): kqueue
// returns kevents the source translates as it reads.
func replayProcEvents(files map[string][]byte, f *Facts, goos string) replayResult {
	if f.Automator == nil {
		return replayResult{skip: "the run saw no child process"}
	}
	var names []string
	for n := range files {
		if strings.HasPrefix(n, "procevents/connector/") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return replayResult{skip: "no process-event messages in the bundle"}
	}
	sort.Strings(names)
	var fork, exec bool
	for _, n := range names {
		evs, _, err := procevents.ParseConnector(files[n], nil)
		if err != nil {
			return replayResult{err: fmt.Errorf("%s: %w", n, err)}
		}
		for _, e := range evs {
			fork = fork || e.Kind == procevents.Fork && e.PID == f.Automator.PID && e.PPID == f.Automator.PPID
			exec = exec || e.Kind == procevents.Exec && e.PID == f.Automator.PID
		}
	}
	value := fmt.Sprintf("%d connector messages decoded", len(names))
	if !fork || !exec {
		return replayResult{value: value, err: fmt.Errorf("pid %d: fork from %d found %v, exec found %v",
			f.Automator.PID, f.Automator.PPID, fork, exec)}
	}
	return replayResult{value: value + fmt.Sprintf("; fork and exec of pid %d", f.Automator.PID)}
}
