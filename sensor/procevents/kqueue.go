package procevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// The macOS source, minus its system calls (source_darwin.go), so that its
// logic runs and is tested on Linux. Facts from xnu
// (apple-oss-distributions/xnu, xnu-11417):
//
//   - bsd/kern/kern_event.c, filt_procattach: any process may attach
//     NOTE_FORK, NOTE_EXEC and NOTE_EXIT to any pid, whatever its owner;
//     only NOTE_EXIT|NOTE_EXITSTATUS is restricted (the parent, the
//     tracing parent, or a process allowed to send it SIGKILL — root is,
//     else EACCES). NOTE_TRACK, NOTE_TRACKERR and NOTE_CHILD fail with
//     ENOTSUP: the kernel no longer follows forks for us, hence the
//     listing of children on NOTE_FORK. A pid that proc_find cannot find
//     (gone, or exiting) fails with ESRCH. EV_CLEAR is forced, and the
//     attach "only captures edge-triggered events after this point": a
//     child that exec'd or exited before its knote was attached reports
//     neither.
//   - filt_procevent: fflags are OR'd into the knote until it is read, so
//     any number of forks (or a fork, an exec and an exit) between two
//     reads arrive as one kevent with the bits set, in no order. The kernel
//     never queues or drops per occurrence: there is no queue to overflow,
//     one knote per pid (zone "knote zone") is the whole cost. NOTE_EXIT
//     sets EV_EOF|EV_ONESHOT: the knote is deleted once read. With
//     NOTE_EXITSTATUS the data field is the wait status (p_xstat & 0xffff,
//     bsd/kern/kern_exit.c); NOTE_EXIT is withheld from everyone but the
//     tracer while a debugger has reparented the process.
//   - NOTE_FORK is posted on the parent with the child's pid in the hint
//     (bsd/kern/kern_fork.c; posix_spawn in bsd/kern/kern_exec.c), but
//     filt_procprocess returns only kn_hook32 as data, which NOTE_FORK
//     leaves 0: the child's pid is not delivered. A posix_spawn child has
//     already exec'd when the parent's NOTE_FORK is posted, and its own
//     NOTE_EXEC fires before anyone could have attached to it.
//   - bsd/kern/proc_info.c, proc_listpids: PROC_PPID_ONLY lists the
//     processes whose p_ppid (or, when traced, p_oppid) is the given pid,
//     from allproc then zombproc; the return value is the number of bytes
//     written (4 per pid); a buffer of fewer than 4 bytes is ENOMEM.
const (
	noteExit       = 0x80000000 // NOTE_EXIT (bsd/sys/event.h)
	noteFork       = 0x40000000 // NOTE_FORK
	noteExec       = 0x20000000 // NOTE_EXEC
	noteExitStatus = 0x04000000 // NOTE_EXITSTATUS
	notePDataMask  = 0x000fffff // NOTE_PDATAMASK

	evError = 0x4000 // EV_ERROR

	// syncEvery is how often the source lists every pid and watches the
	// ones it missed (a child that forked before its knote was attached).
	syncEvery = time.Second
	// maxWatched bounds the knotes of one source; pids beyond are left
	// to the polls and counted (Stats.Unwatched).
	maxWatched = 1 << 16
	// maxFollow bounds the descendants one NOTE_FORK may list: a child
	// found on a fork is itself listed for children it forked before its
	// knote was attached, and so on. A fork bomb is bounded by it.
	maxFollow = 256
)

// ParsePIDList decodes what proc_listpids wrote: n bytes (its return value)
// of int32 pids in the host's byte order at the start of buf. It appends the
// pids > 0 to dst (pid 0, kernel_task, and negative values are skipped).
func ParsePIDList(buf []byte, n int, dst []int32) ([]int32, error) {
	if n < 0 || n > len(buf) || n%4 != 0 {
		return dst, fmt.Errorf("procevents: proc_listpids returned %d bytes for a %d-byte buffer", n, len(buf))
	}
	for off := 0; off < n; off += 4 {
		if pid := int32(binary.NativeEndian.Uint32(buf[off:])); pid > 0 {
			dst = append(dst, pid)
		}
	}
	return dst, nil
}

// kevent is the part of a struct kevent the source reads.
type kevent struct {
	ident  uint64
	flags  uint16
	fflags uint32
	data   int64
}

// procKernel is what the tracker needs of macOS; source_darwin.go is the
// real one, tests use a fake.
type procKernel interface {
	// attach adds an EVFILT_PROC knote for each pid; errs[i] is nil or
	// the error for pids[i] (ESRCH: no such process).
	attach(pids []int32, fflags uint32, errs []error)
	// wait returns the kevents that fired, waiting at most timeout.
	wait(dst []kevent, timeout time.Duration) ([]kevent, error)
	// children appends the pids whose parent is pid.
	children(pid int32, dst []int32) ([]int32, error)
	// all appends every pid.
	all(dst []int32) ([]int32, error)
	// now is the wall clock, Unix ns.
	now() int64
}

// tracker keeps a knote on every live pid and turns kevents into Events.
type tracker struct {
	k        procKernel
	watched  map[int32]struct{}
	fflags   uint32
	c        *counters
	lastSync int64

	kevs  []kevent
	pids  []int32
	errs  []error
	queue []int32
	seen  map[int32]struct{}
}

func newTracker(k procKernel, c *counters) *tracker {
	return &tracker{
		k: k, c: c, watched: make(map[int32]struct{}),
		fflags: noteFork | noteExec | noteExit | noteExitStatus,
		seen:   make(map[int32]struct{}),
	}
}

// start watches every live pid.
func (t *tracker) start() error {
	return t.sync()
}

// sync lists every pid, watches the unwatched ones and forgets the pids
// that are gone.
func (t *tracker) sync() error {
	t.lastSync = t.k.now()
	var err error
	t.pids, err = t.k.all(t.pids[:0])
	if err != nil {
		return err
	}
	clear(t.seen)
	for _, pid := range t.pids {
		t.seen[pid] = struct{}{}
	}
	for pid := range t.watched {
		if _, ok := t.seen[pid]; !ok {
			delete(t.watched, pid)
		}
	}
	fresh := t.pids[:0]
	for pid := range t.seen {
		if _, ok := t.watched[pid]; !ok {
			fresh = append(fresh, pid)
		}
	}
	t.watch(fresh, nil)
	return nil
}

// watch attaches knotes to pids. gone, if not nil, gets each pid that was
// already gone (ESRCH).
func (t *tracker) watch(pids []int32, gone func(pid int32)) {
	if room := maxWatched - len(t.watched); len(pids) > room {
		t.c.unwatched.Add(uint64(len(pids) - max(room, 0)))
		pids = pids[:max(room, 0)]
	}
	if len(pids) == 0 {
		return
	}
	if cap(t.errs) < len(pids) {
		t.errs = make([]error, len(pids))
	}
	errs := t.errs[:len(pids)]
	clear(errs)
	t.k.attach(pids, t.fflags, errs)
	var retry []int32
	for i, pid := range pids {
		switch err := errs[i]; {
		case err == nil:
			t.watched[pid] = struct{}{}
			t.c.watched.Add(1)
		case errors.Is(err, syscall.ESRCH):
			if gone != nil {
				gone(pid)
			}
		case errors.Is(err, syscall.EACCES) && t.fflags&noteExitStatus != 0:
			// Not allowed to signal it (kern_event.c, filt_procattach):
			// watch it without its exit status.
			retry = append(retry, pid)
		default:
			t.c.unwatched.Add(1)
		}
	}
	if len(retry) > 0 {
		errs = errs[:len(retry)]
		clear(errs)
		t.k.attach(retry, t.fflags&^noteExitStatus, errs)
		for i, pid := range retry {
			if errs[i] == nil {
				t.watched[pid] = struct{}{}
				t.c.watched.Add(1)
			} else {
				t.c.unwatched.Add(1)
			}
		}
	}
}

// read waits for kevents and appends their events to dst[:0]. It returns
// when it has events, or with none after a sync (at most syncEvery).
func (t *tracker) read(dst []Event) ([]Event, error) {
	dst = dst[:0]
	wait := syncEvery - time.Duration(t.k.now()-t.lastSync)
	var err error
	t.kevs, err = t.k.wait(t.kevs[:0], max(wait, 0))
	if err != nil {
		return dst, err
	}
	for _, kev := range t.kevs {
		t.c.messages.Add(1)
		dst = t.translate(kev, dst)
	}
	if time.Duration(t.k.now()-t.lastSync) >= syncEvery {
		if err := t.sync(); err != nil {
			return dst, err
		}
	}
	t.c.events.Add(uint64(len(dst)))
	return dst, nil
}

// translate appends the events of one kevent: the forks first (the new
// children of the pid, each watched at once), then the exec, then the exit,
// the only order in which bits OR'd together can have happened.
func (t *tracker) translate(kev kevent, dst []Event) []Event {
	if kev.ident == 0 || kev.ident > 1<<31-1 || kev.flags&evError != 0 {
		t.c.malformed.Add(1)
		return dst
	}
	pid := int32(kev.ident)
	at := t.k.now()
	if kev.fflags&noteFork != 0 {
		dst = t.follow(pid, at, dst)
	}
	if kev.fflags&noteExec != 0 {
		dst = append(dst, Event{Kind: Exec, PID: pid, Time: at})
	}
	if kev.fflags&noteExit != 0 {
		// EV_ONESHOT: the knote is gone (filt_procevent).
		delete(t.watched, pid)
		e := Event{Kind: Exit, PID: pid, Time: at}
		if kev.fflags&noteExitStatus != 0 {
			e.Status, e.HasStatus = uint32(kev.data)&notePDataMask, true
		}
		dst = append(dst, e)
	}
	if kev.fflags&(noteFork|noteExec|noteExit) == 0 {
		t.c.ignored.Add(1)
	}
	return dst
}

// follow lists the children of a pid that forked, watches the new ones and
// appends a Fork for each; then the same for their children, which may
// have forked before their knote was attached, up to maxFollow pids.
func (t *tracker) follow(parent int32, at int64, dst []Event) []Event {
	t.queue = append(t.queue[:0], parent)
	followed := 0
	for len(t.queue) > 0 && followed < maxFollow {
		ppid := t.queue[0]
		t.queue = t.queue[1:]
		var err error
		t.pids, err = t.k.children(ppid, t.pids[:0])
		if err != nil {
			continue // the parent is gone: its children are the poll's
		}
		fresh := t.pids[:0]
		for _, pid := range t.pids {
			if _, ok := t.watched[pid]; !ok && pid != ppid {
				fresh = append(fresh, pid)
			}
		}
		if len(fresh) > maxFollow-followed {
			t.c.unwatched.Add(uint64(len(fresh) - (maxFollow - followed)))
			fresh = fresh[:maxFollow-followed]
		}
		followed += len(fresh)
		for _, pid := range fresh {
			dst = append(dst, Event{Kind: Fork, PID: pid, PPID: ppid, Time: at})
		}
		t.watch(fresh, func(pid int32) {
			// Gone before its knote: it exited (or exec'd and exited)
			// unseen; the sensor's read finds it gone and counts it.
			dst = append(dst, Event{Kind: Exit, PID: pid, Time: at})
		})
		for _, pid := range fresh {
			if _, ok := t.watched[pid]; ok {
				t.queue = append(t.queue, pid)
			}
		}
	}
	return dst
}
