package sensor

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// ProcessEvents carries the process events of a procevents.Source into a
// running Loop (LoopOptions.ProcessEvents). They do not become ECS events
// themselves: each one triggers a read of its pid through the same snapshot
// and diff code as the polls (HandleProcessEvents), so an exec event is the
// one a poll would have made, only seen in time.
//
// Put never blocks and is safe from any goroutine. The queue is bounded:
// events beyond it are dropped and counted, and the Loop then polls the
// whole table at once (at most once per ReconcileEvery) to reconcile, as it
// does when the kernel reports lost events.
type ProcessEvents struct {
	wake chan struct{}
	// execReported: the source reports every exec (Linux), so a forked
	// child need not be read until its exec (see Feed).
	execReported atomic.Bool

	mu      sync.Mutex
	evs     []procevents.Event
	max     int
	overrun bool // events were dropped here or by the kernel since the last take

	put, dropped, lost atomic.Uint64
}

// ProcessEventStats counts what the process events did.
type ProcessEventStats struct {
	Put     uint64 // events queued
	Dropped uint64 // events refused because the queue was full (drops.queue)
	Lost    uint64 // times the source reported that the kernel dropped events (drops.kernel)
	// The rest is counted by the Loop.
	Handled     uint64 // events taken and handled
	Reads       uint64 // pids read because of an event
	Gone        uint64 // pids gone by the time they were read (drops.gone)
	Deferred    uint64 // times the read rate limit made events wait (drops are not deferrals)
	Reconciles  uint64 // full polls run because events were dropped or lost
	NewParents  uint64 // parents first learned from a fork (read while alive)
	PendingFork uint64 // forked children held until their exec or the next poll
	ForkParents uint64 // parents kept for children not read at their fork (Linux)
	// ReadDelay is, for each pid read, the time from the kernel's event
	// (its earliest in the batch) to the start of the read.
	ReadDelay DelayHistogram
}

// DefaultProcessQueue is the capacity of a ProcessEvents queue when
// NewProcessEvents is given 0: some two seconds of a 1,000-execs/s storm
// (three events per process: fork, exec, exit).
const DefaultProcessQueue = 8192

// NewProcessEvents returns a queue of at most max events (DefaultProcessQueue
// when max <= 0).
func NewProcessEvents(max int) *ProcessEvents {
	if max <= 0 {
		max = DefaultProcessQueue
	}
	return &ProcessEvents{wake: make(chan struct{}, 1), max: max}
}

// Put queues evs; those that do not fit are dropped and counted.
func (q *ProcessEvents) Put(evs []procevents.Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	n := min(len(evs), q.max-len(q.evs))
	q.evs = append(q.evs, evs[:n]...)
	if n < len(evs) {
		q.dropped.Add(uint64(len(evs) - n))
		q.overrun = true
	}
	q.mu.Unlock()
	q.put.Add(uint64(n))
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Lost records that the kernel dropped events: the Loop reconciles with a
// full poll.
func (q *ProcessEvents) Lost() {
	q.lost.Add(1)
	q.mu.Lock()
	q.overrun = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// EventReader is a process-event source (procevents.Source).
type EventReader interface {
	Read(dst []procevents.Event) ([]procevents.Event, error)
}

// ExecReporter is implemented by sources that report every exec of every
// process (the Linux proc connector). The kqueue source does not: a child
// that exec'd before its knote was attached (posix_spawn) reports no exec,
// so its fork must be read at once.
type ExecReporter interface {
	ReportsEveryExec() bool
}

// Feed reads src into q until src is closed (procevents.ErrClosed, returned
// as nil) or fails. Lost events (procevents.ErrLost) are recorded and
// reading goes on. Run it on its own goroutine; close src to stop it.
func (q *ProcessEvents) Feed(src EventReader) error {
	if r, ok := src.(ExecReporter); ok {
		q.execReported.Store(r.ReportsEveryExec())
	}
	var evs []procevents.Event
	for {
		var err error
		evs, err = src.Read(evs)
		q.Put(evs)
		switch {
		case err == nil:
		case errors.Is(err, procevents.ErrClosed):
			return nil
		case errors.Is(err, procevents.ErrLost):
			q.Lost()
		default:
			return err
		}
	}
}

// take moves up to reads events that need a read (fork, exec), and every
// exit on the way, to dst. It reports whether events were dropped since the
// last take, and whether events are left.
func (q *ProcessEvents) take(dst []procevents.Event, reads int) (_ []procevents.Event, overrun, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for ; i < len(q.evs) && reads > 0; i++ {
		if q.evs[i].Kind != procevents.Exit {
			reads--
		}
	}
	for i < len(q.evs) && q.evs[i].Kind == procevents.Exit {
		i++
	}
	dst = append(dst, q.evs[:i]...)
	n := copy(q.evs, q.evs[i:])
	q.evs = q.evs[:n]
	overrun, q.overrun = q.overrun, false
	return dst, overrun, n > 0
}

// Stats returns the queue's counters (the Loop's are in LoopStats).
func (q *ProcessEvents) Stats() ProcessEventStats {
	return ProcessEventStats{Put: q.put.Load(), Dropped: q.dropped.Load(), Lost: q.lost.Load()}
}

// peState is the Sensor's scratch for HandleProcessEvents.
type peState struct {
	// execReported: children are read at their exec, not their fork;
	// forkParent holds, until then, the parent each fork named (bounded:
	// cleared when it reaches maxForkParents; entries older than the last
	// poll but one are dropped by the polls).
	execReported bool
	forkParent   map[int32]forkRef
	index        map[int32]int // pid → index in want
	want         []pidWant
	stats        ProcessEventStats
	ended        int // records of exited processes in the snapshot, since the last poll
}

// forkRef is a parent named by a fork, for a child not read yet.
type forkRef struct {
	parent *parentRef
	poll   uint64 // Stats.ProcessPolls when recorded
}

// maxForkParents bounds peState.forkParent: a fork storm whose children
// do not exec (a fork bomb) fills it, and it starts over.
const maxForkParents = 8192

// pidWant is what the events of one batch ask of one pid, in the order the
// pids first appear.
type pidWant struct {
	pid       int32
	fork      bool  // a Fork named it: read it even if only forked
	parent    int32 // the parent its Fork named (0: none)
	exec      bool
	exit      bool
	status    uint32
	hasStatus bool
	exitAt    int64
	at        int64 // the earliest event time, Unix ns
}

// HandleProcessEvents reads the pids that evs name and appends the events a
// poll would have produced for them to dst, through the same records and
// snapshot: a pid read here is in the snapshot the next poll diffs against,
// so that poll does not report it again.
//
// Per pid, the events of the batch coalesce into one read. A fork's parent
// is read first (it may exit any moment) and its identity is copied into
// the child, which names it as parent even after being reparented. A child
// that was only forked (its name is still its parent's) is held, not
// announced: its exec event, or the next poll that finds it alive, will
// announce it. An exec announces the process (a new one stamped like a
// poll's new process, no earlier than the last snapshot; a same-pid exec of
// a process already announced stamped when seen). An exit ends the
// process: an end event with exit_events, and a pending child is dropped.
//
// The watermark is not moved: every event made here is stamped no earlier
// than the last process snapshot. With Options.Signatures it waits, at most
// the budget, for the verifications its events need.
func (s *Sensor) HandleProcessEvents(dst []*ecs.Event, evs []procevents.Event) []*ecs.Event {
	dst = s.handleProcessEvents(dst, evs)
	s.settleSignatures()
	return dst
}

func (s *Sensor) handleProcessEvents(dst []*ecs.Event, evs []procevents.Event) []*ecs.Event {
	pe := &s.pe
	if pe.index == nil {
		pe.index = make(map[int32]int)
	}
	clear(pe.index)
	pe.want = pe.want[:0]
	at := func(pid int32) *pidWant {
		if i, ok := pe.index[pid]; ok {
			return &pe.want[i]
		}
		pe.index[pid] = len(pe.want)
		pe.want = append(pe.want, pidWant{pid: pid})
		return &pe.want[len(pe.want)-1]
	}
	for i := range evs {
		ev := &evs[i]
		if ev.PID <= 0 {
			continue
		}
		pe.stats.Handled++
		switch ev.Kind {
		case procevents.Fork:
			if ev.PPID > 0 {
				at(ev.PPID) // the parent is read before the child
			}
			w := at(ev.PID)
			w.fork, w.parent = true, ev.PPID
		case procevents.Exec:
			at(ev.PID).exec = true
		case procevents.Exit:
			w := at(ev.PID)
			w.exit, w.status, w.hasStatus, w.exitAt = true, ev.Status, ev.HasStatus, ev.Time
		}
		if w := at(ev.PID); ev.Time > 0 && (w.at == 0 || ev.Time < w.at) {
			w.at = ev.Time
		}
	}
	now := s.opt.Now().UnixNano()
	for i := range pe.want {
		dst = s.handlePID(dst, &pe.want[i], now)
	}
	if pe.ended > maxEndedKept {
		s.dropEnded()
	}
	return dst
}

// maxEndedKept bounds the records of exited processes kept in the snapshot
// until the next poll drops them. They stay so that a connection of a
// process that just exited is still attributed by a socket poll; in a storm
// of short processes (a fork bomb), or with a long poll interval, they are
// dropped at once beyond this many.
const maxEndedKept = 4096

// dropEnded removes the records of exited processes from the snapshot.
func (s *Sensor) dropEnded() {
	j := 0
	for i := range s.prev {
		if s.info[i].ended {
			continue
		}
		s.prev[j], s.info[j] = s.prev[i], s.info[i]
		j++
	}
	clear(s.info[j:])
	s.prev, s.info = s.prev[:j], s.info[:j]
	s.pe.ended = 0
}

// handlePID serves the events of one pid.
func (s *Sensor) handlePID(dst []*ecs.Event, w *pidWant, now int64) []*ecs.Event {
	var e proc.Entry
	pe := &s.pe
	if w.fork && !w.exec && pe.execReported {
		// Its exec, if any, will be reported: read it then. Keep the
		// parent, read now while it lives (it came first in the batch).
		s.keepForkParent(w.pid, w.parent)
		if !w.exit {
			return dst
		}
		delete(pe.forkParent, w.pid)
		return dst // forked and gone within the batch: nothing to announce
	}
	if !w.fork && !w.exec && !w.exit {
		// Only the parent of a fork: nothing to read if its identity is
		// in hand already.
		if i, ok := s.find(w.pid); ok && s.info[i].detailed && !s.info[i].ended && !s.info[i].pending {
			return dst
		}
	}
	readable := false
	if w.fork || w.exec || !w.exit {
		pe.stats.Reads++
		if w.at > 0 {
			pe.stats.ReadDelay.add(time.Duration(time.Now().UnixNano() - w.at))
		}
		switch err := s.procs.Read(w.pid, &e); {
		case err == nil:
			readable = true
		case errors.Is(err, proc.ErrGone):
			pe.stats.Gone++
		default:
			s.stats.DetailErrors++
		}
	}
	idx, known := s.find(w.pid)
	var p *process
	if known {
		p = s.info[idx]
	}
	if readable && (p == nil || p.start != e.Start) {
		// New to the sensor: forked since the last snapshot (or a parent
		// the sensor had not listed yet, or a reused pid).
		np := s.newProcess(&e)
		np.pending = true
		if ref, ok := pe.forkParent[w.pid]; ok && w.parent == 0 {
			np.parent, np.ppid = ref.parent, ref.parent.pid
			delete(pe.forkParent, w.pid)
		}
		if w.parent > 0 {
			s.adopt(np, w.parent)
			if np.parent == nil {
				// The parent is gone and was never read: keep at least
				// the pid the fork named, not the reaper's.
				np.parent = &parentRef{pid: w.parent}
				np.ppid = w.parent
			}
		}
		if p != nil && !p.ended && !p.pending && s.opt.ExitEvents {
			dst = append(dst, s.endEvent(p, max(now, s.lastProcSnap), now, 0, false))
		}
		s.place(idx, known, &e, np)
		p = np
		// Announce it now unless it is a child that has only forked:
		// same name as the parent that forked it, no exec seen.
		forkOnly := w.fork && !w.exec && p.parent != nil && p.comm == s.commOf(p.parent.pid, p.parent.start)
		if forkOnly {
			pe.stats.PendingFork++
		} else if s.primed && s.detail(p) {
			p.pending = false
			dst = append(dst, s.startEvent(p, max(p.start, s.lastProcSnap), now, "exec"))
		} else if !s.primed {
			p.pending = false // the first poll will learn it with the rest
		}
		if !w.fork && !w.exec && !w.exit {
			pe.stats.NewParents++ // read only as the parent of a fork
		}
	} else if readable && p != nil {
		// Known: a parent about to fork (detail it while it lives), or
		// an exec of a process in the snapshot.
		s.prev[idx].PPID, s.prev[idx].UID, s.prev[idx].PGID = e.PPID, e.UID, e.PGID
		if p.parent == nil {
			p.ppid = e.PPID
		}
		p.uid, p.pgid = e.UID, e.PGID
		switch {
		case p.pending && (w.exec || e.Comm != p.comm):
			p.comm = e.Comm
			s.prev[idx].Comm = e.Comm
			if s.detail(p) {
				p.pending = false
				dst = append(dst, s.startEvent(p, max(p.start, s.lastProcSnap), now, "exec"))
			}
		case !p.pending && (w.exec || e.Comm != p.comm):
			oldExe, oldArgs, wasDetailed := p.executable, p.commandLine, p.detailed
			p.comm = e.Comm
			s.prev[idx].Comm = e.Comm
			p.detailed = false
			if s.detail(p) && (!wasDetailed || p.executable != oldExe || p.commandLine != oldArgs) && s.primed {
				dst = append(dst, s.startEvent(p, max(now, s.lastProcSnap), now, "exec"))
			}
		default:
			s.detail(p) // a parent: capture it while it is alive
		}
	}
	if w.exit {
		delete(pe.forkParent, w.pid)
	}
	if w.exit && p != nil && (!readable || p.start == e.Start) {
		if !p.ended && !p.pending && s.opt.ExitEvents && s.primed {
			code, ok := int32(0), false
			if w.hasStatus {
				ev := procevents.Event{Kind: procevents.Exit, Status: w.status, HasStatus: true}
				code, ok = ev.ExitCode()
			}
			ts := max(w.exitAt, s.lastProcSnap, p.start)
			dst = append(dst, s.endEvent(p, ts, now, code, ok))
		}
		if !p.ended {
			pe.ended++
		}
		p.ended = true
		p.pending = false
	}
	return dst
}

// keepForkParent records the parent a fork named for a child that is not
// read now (see peState.forkParent).
func (s *Sensor) keepForkParent(child, ppid int32) {
	pe := &s.pe
	if ppid <= 0 {
		return
	}
	tmp := &process{}
	s.adopt(tmp, ppid)
	if tmp.parent == nil {
		tmp.parent = &parentRef{pid: ppid}
	}
	if pe.forkParent == nil {
		pe.forkParent = make(map[int32]forkRef)
	}
	if len(pe.forkParent) >= maxForkParents {
		clear(pe.forkParent)
	}
	pe.forkParent[child] = forkRef{parent: tmp.parent, poll: s.stats.ProcessPolls}
	pe.stats.ForkParents++
}

// forkParentOf takes the parent a fork named for pid, if one is kept.
func (s *Sensor) forkParentOf(pid int32) *parentRef {
	ref, ok := s.pe.forkParent[pid]
	if !ok {
		return nil
	}
	delete(s.pe.forkParent, pid)
	return ref.parent
}

// expireForkParents drops the parents kept since before the last poll but
// one: their children were found by a poll or are gone.
func (s *Sensor) expireForkParents() {
	for pid, ref := range s.pe.forkParent {
		if ref.poll+1 < s.stats.ProcessPolls {
			delete(s.pe.forkParent, pid)
		}
	}
}

// adopt records in child the identity of the parent its fork named, reading
// that parent's details now if it is known and alive.
func (s *Sensor) adopt(child *process, ppid int32) {
	i, ok := s.find(ppid)
	if !ok {
		return
	}
	par := s.info[i]
	name := par.name
	if !s.detail(par) {
		name = processName("", par.comm) // gone: what the table gave
	}
	child.parent = &parentRef{pid: par.pid, start: par.start, entityID: par.entityID, name: name,
		executable: par.executable, args: par.args, commandLine: par.commandLine, sig: par.sig}
	child.ppid = par.pid
}

// commOf is the comm of the process (pid, start) in the snapshot, or
// zeros.
func (s *Sensor) commOf(pid int32, start int64) [16]byte {
	if i, ok := s.find(pid); ok && s.info[i].start == start {
		return s.info[i].comm
	}
	return [16]byte{}
}

// find returns the index of pid in the snapshot, or where it would go.
func (s *Sensor) find(pid int32) (int, bool) {
	return slices.BinarySearchFunc(s.prev, pid, func(e proc.Entry, pid int32) int { return int(e.PID - pid) })
}

// place puts (e, p) into the snapshot at idx, replacing the entry there when
// known (a reused pid).
func (s *Sensor) place(idx int, known bool, e *proc.Entry, p *process) {
	if known {
		s.prev[idx], s.info[idx] = *e, p
		return
	}
	s.prev = slices.Insert(s.prev, idx, *e)
	s.info = slices.Insert(s.info, idx, p)
}
