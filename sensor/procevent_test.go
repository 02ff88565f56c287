package sensor

import (
	"slices"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/procevents"
	"github.com/macsensor/macsensor/sensor/socket"
)

func fork(child, parent int32) procevents.Event {
	return procevents.Event{Kind: procevents.Fork, PID: child, PPID: parent}
}

func execEv(pid int32) procevents.Event { return procevents.Event{Kind: procevents.Exec, PID: pid} }

func exitEv(pid int32, status uint32, at time.Time) procevents.Event {
	return procevents.Event{Kind: procevents.Exit, PID: pid, Status: status, HasStatus: true, Time: at.UnixNano()}
}

func (f *fakeProcs) setComm(pid int32, comm string, d proc.Details) {
	for i := range f.entries {
		if f.entries[i].PID == pid {
			f.entries[i].Comm = [16]byte{}
			copy(f.entries[i].Comm[:], comm)
		}
	}
	f.details[pid] = d
}

func (f *fakeProcs) setPPID(pid, ppid int32) {
	for i := range f.entries {
		if f.entries[i].PID == pid {
			f.entries[i].PPID = ppid
		}
	}
}

// TestForkThenExec: a fork is learned without an event; the exec that
// follows is the one start event, with the poll's stamp rule, and the next
// poll does not repeat it.
func TestForkThenExec(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	start := t0.Add(200 * time.Millisecond).UnixNano()
	fp.add(900, 400, start, "zsh", "/bin/zsh", "-zsh")
	clk.t = t0.Add(200 * time.Millisecond)
	if evs := s.HandleProcessEvents(nil, []procevents.Event{fork(900, 400)}); len(evs) != 0 {
		t.Fatalf("the fork made %d events", len(evs))
	}
	fp.setComm(900, "curl", proc.Details{Path: "/usr/bin/curl", Args: []string{"curl", "-s", "https://example.com"}, Cwd: "/Users/alice"})
	clk.t = t0.Add(210 * time.Millisecond)
	evs := s.HandleProcessEvents(nil, []procevents.Event{execEv(900)})
	if len(evs) != 1 {
		t.Fatalf("the exec made %d events", len(evs))
	}
	ev := evs[0]
	if ev.Event.Action != "exec" || ev.Process.Name != "curl" || !slices.Equal(ev.Process.Args, []string{"curl", "-s", "https://example.com"}) ||
		ev.Process.Parent.PID != 400 || ev.Process.Parent.Name != "zsh" || ev.Process.WorkingDirectory != "/Users/alice" ||
		ev.Timestamp != start || ev.Event.Created != clk.t.UnixNano() || ev.Process.EntityID != EntityID(s.opt.Host.ID, 900, start) {
		t.Fatalf("exec event %+v", ev)
	}
	clk.t = t0.Add(time.Second)
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("the next poll repeated %d events: %v", len(evs), evs[0].Process)
	}
	if st := s.pe.stats; st.Handled != 2 || st.Reads < 2 || st.PendingFork != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestParentExitsAfterFork: the parent is read at the fork, while alive;
// after it exits and the child is reparented to launchd, the child's exec
// still names it.
func TestParentExitsAfterFork(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(100 * time.Millisecond)
	shStart := t0.Add(50 * time.Millisecond).UnixNano()
	fp.add(500, 400, shStart, "sh", "/bin/sh", "sh", "/tmp/run.sh", "--fast")
	fp.add(501, 500, t0.Add(90*time.Millisecond).UnixNano(), "sh", "/bin/sh", "sh", "/tmp/run.sh", "--fast")
	evs := s.HandleProcessEvents(nil, []procevents.Event{fork(500, 400), execEv(500), fork(501, 500)})
	if len(evs) != 1 || evs[0].Process.PID != 500 {
		t.Fatalf("events %v", evs)
	}
	// The parent exits 1 ms after the fork; the child is reparented, then
	// execs.
	fp.remove(500)
	fp.gone[500] = true
	fp.setPPID(501, 1)
	fp.setComm(501, "security", proc.Details{Path: "/usr/bin/security", Args: []string{"security", "dump-keychain", "-d"}})
	clk.t = t0.Add(102 * time.Millisecond)
	evs = s.HandleProcessEvents(nil, []procevents.Event{exitEv(500, 0, clk.t), execEv(501)})
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	par := evs[0].Process.Parent
	want := ecs.Parent{PID: 500, EntityID: EntityID(s.opt.Host.ID, 500, shStart), Name: "sh", Executable: "/bin/sh",
		Args: []string{"sh", "/tmp/run.sh", "--fast"}, CommandLine: "sh /tmp/run.sh --fast"}
	if evs[0].Process.Name != "security" || par.PID != want.PID || par.EntityID != want.EntityID || par.Name != want.Name ||
		par.Executable != want.Executable || !slices.Equal(par.Args, want.Args) || par.CommandLine != want.CommandLine {
		t.Fatalf("parent %+v, want %+v", par, want)
	}
	// A poll after the parent is gone: the child keeps its parent, and
	// nothing is repeated.
	clk.t = t0.Add(time.Second)
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("poll: %d events", len(evs))
	}
	if p := s.lookup(501); p == nil || p.ppid != 500 {
		t.Fatalf("child record %+v", p)
	}
}

// TestForkOnlyChildAnnouncedByThePoll: a child that never execs is
// announced by the next poll that finds it, as a poll alone would have.
func TestForkOnlyChildAnnouncedByThePoll(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	start := t0.Add(300 * time.Millisecond).UnixNano()
	fp.add(600, 400, start, "zsh", "/bin/zsh", "-zsh")
	clk.t = t0.Add(300 * time.Millisecond)
	if evs := s.HandleProcessEvents(nil, []procevents.Event{fork(600, 400)}); len(evs) != 0 {
		t.Fatalf("%d events", len(evs))
	}
	clk.t = t0.Add(time.Second)
	evs := poll(t, s)
	if len(evs) != 1 || evs[0].Process.PID != 600 || evs[0].Process.Name != "zsh" || evs[0].Timestamp != start {
		t.Fatalf("events %v", evs)
	}
	// A fork-only child that exits before any poll is never announced.
	fp.add(601, 400, t0.Add(1100*time.Millisecond).UnixNano(), "zsh", "/bin/zsh", "-zsh")
	clk.t = t0.Add(1100 * time.Millisecond)
	s.HandleProcessEvents(nil, []procevents.Event{fork(601, 400)})
	fp.remove(601)
	s.opt.ExitEvents = true
	if evs := s.HandleProcessEvents(nil, []procevents.Event{exitEv(601, 0, clk.t)}); len(evs) != 0 {
		t.Fatalf("exit of a fork-only child: %d events", len(evs))
	}
	clk.t = t0.Add(2 * time.Second)
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("poll: %v", evs[0])
	}
}

// TestProcessEventOfAGoneProcess: a pid gone before its read is counted.
func TestProcessEventOfAGoneProcess(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	fp.gone[700] = true
	clk.t = t0.Add(10 * time.Millisecond)
	if evs := s.HandleProcessEvents(nil, []procevents.Event{fork(700, 400), execEv(700), exitEv(700, 0, clk.t)}); len(evs) != 0 {
		t.Fatalf("%d events", len(evs))
	}
	if s.pe.stats.Gone != 1 || s.pe.stats.Reads != 2 {
		t.Errorf("stats %+v", s.pe.stats) // 400 (the parent) and 700
	}
}

// TestEndEvents: with ExitEvents, an exit event ends a process with its
// exit code; a process that vanishes between polls ends at the poll.
func TestEndEvents(t *testing.T) {
	s, fp, _, clk := newFixture()
	s.opt.ExitEvents = true
	poll(t, s)
	start := t0.Add(100 * time.Millisecond).UnixNano()
	fp.add(800, 400, start, "curl", "/usr/bin/curl", "curl", "-s")
	clk.t = t0.Add(100 * time.Millisecond)
	s.HandleProcessEvents(nil, []procevents.Event{fork(800, 400), execEv(800)})
	fp.remove(800)
	exitAt := t0.Add(150 * time.Millisecond)
	clk.t = t0.Add(151 * time.Millisecond)
	evs := s.HandleProcessEvents(nil, []procevents.Event{exitEv(800, 7<<8, exitAt)})
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.Event.Action != "end" || !slices.Equal(ev.Event.Type, []string{"end"}) || !slices.Equal(ev.Event.Category, []string{"process"}) ||
		ev.Process.PID != 800 || ev.Process.Name != "curl" || ev.Timestamp != exitAt.UnixNano() || ev.Process.Parent.PID != 400 ||
		ev.Process.ExitCode != 7 || ev.Has&ecs.HasExitCode == 0 {
		t.Fatalf("end event %+v", ev)
	}
	// zsh (400) vanishes without an exit event: the poll ends it.
	fp.remove(400)
	clk.t = t0.Add(time.Second)
	evs = poll(t, s)
	if len(evs) != 1 || evs[0].Event.Action != "end" || evs[0].Process.PID != 400 || evs[0].Timestamp != clk.t.UnixNano() ||
		evs[0].Has&ecs.HasExitCode != 0 {
		t.Fatalf("poll: %v", evs)
	}
	if s.Stats().ExitEvents != 2 {
		t.Errorf("ExitEvents %d", s.Stats().ExitEvents)
	}
}

// TestAlreadyRunning: EmitExisting reports the processes found at start-up
// with event.action already_running.
func TestAlreadyRunning(t *testing.T) {
	s, fp, _, clk := newFixture()
	s.opt.EmitExisting = true
	evs := poll(t, s)
	if len(evs) != 2 || evs[0].Event.Action != "already_running" || evs[1].Event.Action != "already_running" {
		t.Fatalf("events %v", evs)
	}
	fp.add(950, 400, t0.Add(100*time.Millisecond).UnixNano(), "ls", "/bin/ls", "ls")
	clk.t = t0.Add(time.Second)
	if evs := poll(t, s); len(evs) != 1 || evs[0].Event.Action != "exec" {
		t.Fatalf("events %v", evs)
	}
}

// TestEventIDs: every event carries an event.id, unique per event.
func TestEventIDs(t *testing.T) {
	s, fp, _, clk := newFixture()
	s.opt.EmitExisting = true
	evs := poll(t, s)
	fp.add(951, 400, t0.Add(100*time.Millisecond).UnixNano(), "ls", "/bin/ls", "ls")
	clk.t = t0.Add(time.Second)
	evs = append(evs, poll(t, s)...)
	seen := map[string]bool{}
	for _, ev := range evs {
		if len(ev.Event.ID) != 24 || seen[ev.Event.ID] || ev.Event.ID != s.eventID(ev.Event.Sequence) {
			t.Errorf("event.id %q (seq %d)", ev.Event.ID, ev.Event.Sequence)
		}
		seen[ev.Event.ID] = true
	}
	if got := EventID(1, 2); got != "AAAAAAAAAAEAAAAAAAAAAg==" {
		t.Errorf("EventID(1, 2) = %q", got)
	}
}

// TestPIDReuseByProcessEvent: an exec of a pid that now belongs to another
// process replaces the old record.
func TestPIDReuseByProcessEvent(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	fp.add(960, 400, t0.Add(100*time.Millisecond).UnixNano(), "a", "/a", "a")
	clk.t = t0.Add(100 * time.Millisecond)
	first := s.HandleProcessEvents(nil, []procevents.Event{execEv(960)})
	fp.remove(960)
	fp.add(960, 400, t0.Add(200*time.Millisecond).UnixNano(), "b", "/b", "b")
	clk.t = t0.Add(200 * time.Millisecond)
	second := s.HandleProcessEvents(nil, []procevents.Event{execEv(960)})
	if len(first) != 1 || len(second) != 1 || first[0].Process.EntityID == second[0].Process.EntityID || second[0].Process.Name != "b" {
		t.Fatalf("%v / %v", first, second)
	}
	if n := len(s.prev); n != 3 || !slices.IsSortedFunc(s.prev, cmpEntries) {
		t.Fatalf("snapshot %d entries: %v", n, s.prev)
	}
}

func cmpEntries(a, b proc.Entry) int { return int(a.PID - b.PID) }

// TestProcessEventsQueueBound: the queue refuses what does not fit and
// counts it; take stops at the read budget but takes the exits on the way.
func TestProcessEventsQueueBound(t *testing.T) {
	q := NewProcessEvents(4)
	q.Put([]procevents.Event{execEv(1), exitEv(2, 0, t0), execEv(3), execEv(4), execEv(5), execEv(6)})
	if st := q.Stats(); st.Put != 4 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
	got, overrun, more := q.take(nil, 1)
	if len(got) != 2 || got[1].Kind != procevents.Exit || !overrun || !more {
		t.Fatalf("take: %v %v %v", got, overrun, more)
	}
	got, overrun, more = q.take(nil, 10)
	if len(got) != 2 || overrun || more {
		t.Fatalf("take: %v %v %v", got, overrun, more)
	}
}

// TestLoopServesProcessEvents: a running Loop reads the pids of the queued
// events at once, with scheduled polls an hour apart.
func TestLoopServesProcessEvents(t *testing.T) {
	q := NewProcessEvents(0)
	l := startLoop(t, LoopOptions{ProcessEvents: q}, nil)
	start := time.Now().UnixNano()
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) {
		fp.add(812, 400, start, "automator", "/usr/bin/automator", "automator", "-i", "x.wflow")
	})
	q.Put([]procevents.Event{fork(812, 400), execEv(812)})
	evs, bs := l.events(t, 1)
	if evs[0].Process.Name != "automator" || evs[0].Process.Parent.Name != "zsh" || bs[0].Watermark == 0 || evs[0].Timestamp < bs[0].Watermark {
		t.Fatalf("event %+v, watermark %d", evs[0].Process, bs[0].Watermark)
	}
	_, ls := l.waitStats(t, "the reads", func(_ Stats, ls LoopStats) bool { return ls.Process.Handled == 2 })
	if ls.Process.Put != 2 || ls.Process.Reads != 2 {
		t.Errorf("loop stats %+v", ls.Process)
	}
}

// TestLoopRateLimitsProcessReads: with a burst of 2 and a refill an hour
// long, two reads are served and the rest wait, counted.
func TestLoopRateLimitsProcessReads(t *testing.T) {
	q := NewProcessEvents(0)
	l := startLoop(t, LoopOptions{ProcessEvents: q, ProcessReadEvery: time.Hour, ProcessReadBurst: 2}, nil)
	now := time.Now().UnixNano()
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) {
		for pid := int32(1000); pid < 1005; pid++ {
			fp.add(pid, 400, now, "curl", "/usr/bin/curl", "curl")
		}
	})
	q.Put([]procevents.Event{execEv(1000), execEv(1001), execEv(1002), execEv(1003), execEv(1004)})
	evs, _ := l.events(t, 2)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	_, ls := l.waitStats(t, "a deferral", func(_ Stats, ls LoopStats) bool { return ls.Process.Deferred > 0 })
	if ls.Process.Reads != 2 || ls.Process.Handled != 2 {
		t.Errorf("stats %+v", ls.Process)
	}
}

// TestLoopReconcilesAfterDrops: a queue overrun makes the Loop poll the
// whole table, which finds the process whose events were dropped.
func TestLoopReconcilesAfterDrops(t *testing.T) {
	q := NewProcessEvents(1)
	l := startLoop(t, LoopOptions{ProcessEvents: q}, nil)
	now := time.Now().UnixNano()
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) {
		fp.add(1100, 400, now, "a", "/a", "a")
		fp.add(1101, 400, now, "b", "/b", "b")
	})
	q.Put([]procevents.Event{execEv(1100), execEv(1101)}) // 1101's is dropped
	evs, _ := l.events(t, 2)
	names := []string{evs[0].Process.Name, evs[1].Process.Name}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("names %v", names)
	}
	_, ls := l.waitStats(t, "a reconcile", func(_ Stats, ls LoopStats) bool { return ls.Process.Reconciles == 1 })
	if ls.Process.Dropped != 1 {
		t.Errorf("stats %+v", ls.Process)
	}
}

// TestFeed: Feed puts what the source reads, records losses and stops at
// ErrClosed.
func TestFeed(t *testing.T) {
	q := NewProcessEvents(0)
	src := &scriptedSource{steps: []step{
		{evs: []procevents.Event{execEv(1)}},
		{err: procevents.ErrLost},
		{evs: []procevents.Event{execEv(2), execEv(3)}},
		{err: procevents.ErrClosed},
	}}
	if err := q.Feed(src); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Put != 3 || st.Lost != 1 {
		t.Errorf("stats %+v", st)
	}
}

type step struct {
	evs []procevents.Event
	err error
}

type scriptedSource struct{ steps []step }

func (s *scriptedSource) Read(dst []procevents.Event) ([]procevents.Event, error) {
	st := s.steps[0]
	s.steps = s.steps[1:]
	return append(dst[:0], st.evs...), st.err
}

// BenchmarkHandleProcessEvents: one fork + exec + exit per op, on the fake
// table (the sensor's own cost, without system calls).
func BenchmarkHandleProcessEvents(b *testing.B) {
	s, fp, _, clk := newFixture()
	s.opt.ExitEvents = true
	s.Poll(nil)
	pid := int32(10000)
	evs := make([]procevents.Event, 0, 3)
	var out []*ecs.Event
	b.ReportAllocs()
	for b.Loop() {
		pid++
		fp.add(pid, 400, clk.t.UnixNano(), "curl", "/usr/bin/curl", "curl", "-s")
		evs = append(evs[:0], fork(pid, 400), execEv(pid))
		out = s.HandleProcessEvents(out[:0], evs)
		fp.remove(pid)
		delete(fp.details, pid)
		evs = append(evs[:0], exitEv(pid, 0, clk.t))
		out = s.HandleProcessEvents(out[:0], evs)
		if pid%1000 == 0 {
			s.PollProcesses(out[:0]) // drop the ended ones, as the 1 s poll does
		}
	}
}

func TestLimiterAvail(t *testing.T) {
	l := limiter{every: 10, burst: 4}
	for _, step := range []struct {
		now   int64
		avail int
		take  int
	}{
		{0, 4, 4},   // a quiet limiter allows the burst
		{0, 0, 0},   // then nothing
		{9, 0, 0},   // not yet one interval later
		{10, 1, 1},  // one unit per interval
		{10, 0, 0},  //
		{45, 3, 0},  // three intervals on
		{100, 4, 2}, // never more than the burst
		{100, 2, 0},
	} {
		if got := l.avail(step.now); got != step.avail {
			t.Fatalf("at %d: avail %d, want %d (tat %d)", step.now, got, step.avail, l.tat)
		}
		if (l.wait(step.now) == 0) != (step.avail > 0) {
			t.Fatalf("at %d: wait %d disagrees with avail %d", step.now, l.wait(step.now), step.avail)
		}
		l.takeN(step.now, step.take)
	}
	if (&limiter{burst: 7}).avail(5) != 7 {
		t.Error("no limit: avail is the burst")
	}
}

// TestForkBombIsBounded: a storm of short processes between two polls keeps
// at most maxEndedKept exited records in the snapshot, and a queue of
// bounded size whatever is put into it.
func TestForkBombIsBounded(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	q := NewProcessEvents(1000)
	for pid := int32(10000); pid < 30000; pid++ {
		fp.add(pid, 400, clk.t.UnixNano(), "bomb", "/tmp/bomb", "bomb")
		s.HandleProcessEvents(nil, []procevents.Event{fork(pid, 400), execEv(pid)})
		fp.remove(pid)
		s.HandleProcessEvents(nil, []procevents.Event{exitEv(pid, 0, clk.t)})
		q.Put([]procevents.Event{fork(pid, 400), execEv(pid), exitEv(pid, 0, clk.t)})
	}
	if n := len(s.prev); n > maxEndedKept+2 {
		t.Errorf("%d records in the snapshot", n)
	}
	if st := q.Stats(); st.Put != 1000 || st.Dropped != 59000 || len(q.evs) != 1000 {
		t.Errorf("queue %+v, %d held", st, len(q.evs))
	}
	if s.Stats().ProcessEvents != 20000 {
		t.Errorf("%d exec events", s.Stats().ProcessEvents)
	}
}

// TestSpawnedChildAnnouncedAtFork: on macOS a posix_spawn child has exec'd
// when its parent's NOTE_FORK comes, and its own NOTE_EXEC fired before it
// could be watched: a fork whose child already has another name is its
// exec.
func TestSpawnedChildAnnouncedAtFork(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	start := t0.Add(40 * time.Millisecond).UnixNano()
	fp.add(990, 400, start, "osascript", "/usr/bin/osascript", "osascript", "-e", "display dialog")
	clk.t = t0.Add(41 * time.Millisecond)
	evs := s.HandleProcessEvents(nil, []procevents.Event{fork(990, 400)})
	if len(evs) != 1 || evs[0].Process.Name != "osascript" || evs[0].Process.Parent.Name != "zsh" || evs[0].Timestamp != start {
		t.Fatalf("events %v", evs)
	}
}

// TestExecReportedSourceReadsTheChildAtItsExec: with a source that reports
// every exec (Linux), a fork reads only the parent; the child is read at
// its exec, or found by the poll, and names the parent its fork named even
// after the parent exited.
func TestExecReportedSourceReadsTheChildAtItsExec(t *testing.T) {
	s, fp, _, clk := newFixture()
	s.pe.execReported = true
	poll(t, s)
	shStart := t0.Add(10 * time.Millisecond).UnixNano()
	fp.add(500, 400, shStart, "sh", "/bin/sh", "sh", "/tmp/x.sh")
	fp.add(501, 500, t0.Add(20*time.Millisecond).UnixNano(), "sh", "/bin/sh", "sh", "/tmp/x.sh")
	fp.add(502, 500, t0.Add(21*time.Millisecond).UnixNano(), "sh", "/bin/sh", "sh", "/tmp/x.sh")
	clk.t = t0.Add(30 * time.Millisecond)
	evs := s.HandleProcessEvents(nil, []procevents.Event{fork(500, 400), execEv(500), fork(501, 500), fork(502, 500)})
	if len(evs) != 1 || evs[0].Process.PID != 500 {
		t.Fatalf("events %v", evs)
	}
	if r := s.pe.stats.Reads; r != 2 { // 400 (the parent of 500) and 500; not 501 nor 502
		t.Errorf("%d reads, want 2", r)
	}
	// The parent exits; 501 execs; 502 never does.
	fp.remove(500)
	fp.gone[500] = true
	fp.setPPID(501, 1)
	fp.setPPID(502, 1)
	fp.setComm(501, "curl", proc.Details{Path: "/usr/bin/curl", Args: []string{"curl", "x"}})
	evs = s.HandleProcessEvents(nil, []procevents.Event{exitEv(500, 0, clk.t), execEv(501)})
	if len(evs) != 1 || evs[0].Process.Name != "curl" || evs[0].Process.Parent.PID != 500 || evs[0].Process.Parent.Name != "sh" ||
		!slices.Equal(evs[0].Process.Parent.Args, []string{"sh", "/tmp/x.sh"}) {
		t.Fatalf("exec of 501: %v", evs)
	}
	clk.t = t0.Add(time.Second)
	evs = poll(t, s)
	if len(evs) != 1 || evs[0].Process.PID != 502 || evs[0].Process.Parent.PID != 500 || evs[0].Process.Parent.Name != "sh" {
		t.Fatalf("poll: %v", evs)
	}
	if len(s.pe.forkParent) != 0 {
		t.Errorf("fork parents left: %v", s.pe.forkParent)
	}
}

// TestLeadersAndParentArgsCount: process.group_leader.pid and
// process.session_leader.pid come from the process table (Linux stat
// fields 5 and 6; macOS e_pgid and getsid through Details), and
// process.parent.args_count from the parent's args.
func TestLeadersAndParentArgsCount(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	fp.add(830, 400, t0.Add(100*time.Millisecond).UnixNano(), "dscl", "/usr/bin/dscl", "dscl", ".", "-read", "/Users/alice")
	for i := range fp.entries {
		if fp.entries[i].PID == 830 {
			fp.entries[i].PGID, fp.entries[i].SID = 830, 399
		}
	}
	clk.t = t0.Add(time.Second)
	evs := poll(t, s)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	p := evs[0].Process
	if p.GroupLeader.PID != 830 || p.SessionLeader.PID != 399 || p.Parent.ArgsCount != 1 ||
		evs[0].Has&(ecs.HasGroupLeaderPID|ecs.HasSessionLeaderPID|ecs.HasParentArgsCount) != ecs.HasGroupLeaderPID|ecs.HasSessionLeaderPID|ecs.HasParentArgsCount {
		t.Fatalf("process %+v, has %b", p, evs[0].Has)
	}
	// macOS: the session comes with the details (getsid), not the listing.
	fp.add(831, 400, t0.Add(1100*time.Millisecond).UnixNano(), "pbpaste", "/usr/bin/pbpaste", "pbpaste")
	d := fp.details[831]
	d.SID = 398
	fp.details[831] = d
	clk.t = t0.Add(2 * time.Second)
	if evs := poll(t, s); len(evs) != 1 || evs[0].Process.SessionLeader.PID != 398 {
		t.Fatalf("events %v", evs)
	}
}

// TestConnectionOfAProcessThatJustExited: a process read at its exec event,
// that connects and exits before the SYN-triggered poll lists the process
// table, still owns its connection.
func TestConnectionOfAProcessThatJustExited(t *testing.T) {
	s, fp, fs, clk := newFixture()
	poll(t, s)
	start := t0.Add(100 * time.Millisecond).UnixNano()
	fp.add(870, 400, start, "com.apple.automa", "/x/com.apple.automator.runner", "runner")
	clk.t = t0.Add(101 * time.Millisecond)
	if evs := s.HandleProcessEvents(nil, []procevents.Event{fork(870, 400), execEv(870)}); len(evs) != 1 {
		t.Fatalf("%d exec events", len(evs))
	}
	fp.remove(870)
	fs.conns = append(fs.conns, conn(protoTCP, "127.0.0.1:50000", "127.0.0.1:8080", socket.SynSent, 870))
	clk.t = t0.Add(120 * time.Millisecond)
	evs := poll(t, s)
	if len(evs) != 1 || evs[0].Event.Action != "connection_attempted" || evs[0].Process.Name != "com.apple.automator.runner" ||
		evs[0].Process.EntityID != EntityID(s.opt.Host.ID, 870, start) {
		t.Fatalf("events %v", evs)
	}
}
