package procevents

import (
	"encoding/binary"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeKernel is a process tree and a kqueue that the test drives.
type fakeKernel struct {
	parent   map[int32]int32 // live pids → parent
	deny     map[int32]bool  // attach with NOTE_EXITSTATUS is EACCES
	knotes   map[int32]uint32
	pending  []kevent
	clock    int64
	attaches int
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{parent: map[int32]int32{1: 0, 100: 1, 200: 100}, deny: map[int32]bool{}, knotes: map[int32]uint32{}, clock: 1e18}
}

func (k *fakeKernel) attach(pids []int32, fflags uint32, errs []error) {
	for i, pid := range pids {
		k.attaches++
		switch {
		case k.parent[pid] == 0 && pid != 1:
			errs[i] = syscall.ESRCH
		case k.deny[pid] && fflags&noteExitStatus != 0:
			errs[i] = syscall.EACCES
		default:
			k.knotes[pid] = fflags
		}
	}
}

func (k *fakeKernel) wait(dst []kevent, _ time.Duration) ([]kevent, error) {
	dst = append(dst, k.pending...)
	k.pending = k.pending[:0]
	return dst, nil
}

func (k *fakeKernel) children(pid int32, dst []int32) ([]int32, error) {
	for c, p := range k.parent {
		if p == pid && c != 1 {
			dst = append(dst, c)
		}
	}
	slices.Sort(dst)
	return dst, nil
}

func (k *fakeKernel) all(dst []int32) ([]int32, error) {
	for pid := range k.parent {
		dst = append(dst, pid)
	}
	return dst, nil
}

func (k *fakeKernel) now() int64 { return k.clock }

// fire posts the fflags of a knote, as filt_procevent ORs them.
func (k *fakeKernel) fire(pid int32, fflags uint32, data int64) {
	if _, ok := k.knotes[pid]; !ok {
		return
	}
	k.pending = append(k.pending, kevent{ident: uint64(pid), fflags: fflags, data: data})
	if fflags&noteExit != 0 {
		delete(k.knotes, pid) // EV_ONESHOT
	}
}

func TestTrackerForkExecExit(t *testing.T) {
	k := newFakeKernel()
	var c counters
	tr := newTracker(k, &c)
	if err := tr.start(); err != nil {
		t.Fatal(err)
	}
	if len(tr.watched) != 3 {
		t.Fatalf("watched %v", tr.watched)
	}
	at := k.clock
	// 200 forks 300, which forks 301 before its knote exists; 302 is
	// forked and gone before anyone looks.
	k.parent[300] = 200
	k.parent[301] = 300
	k.fire(200, noteFork, 0)
	evs, err := tr.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Kind: Fork, PID: 300, PPID: 200, Time: at},
		{Kind: Fork, PID: 301, PPID: 300, Time: at},
	}
	if !slices.Equal(evs, want) {
		t.Fatalf("fork: %+v, want %+v", evs, want)
	}
	// 300 execs and exits with 3 before the read: one kevent, three bits.
	k.fire(300, noteExec|noteExit|noteExitStatus, 3<<8)
	evs, _ = tr.read(evs)
	want = []Event{
		{Kind: Exec, PID: 300, Time: at},
		{Kind: Exit, PID: 300, Status: 3 << 8, HasStatus: true, Time: at},
	}
	if !slices.Equal(evs, want) {
		t.Fatalf("exec+exit: %+v, want %+v", evs, want)
	}
	if _, ok := tr.watched[300]; ok {
		t.Error("300 still watched after its exit")
	}
	if c.events.Load() != 4 || c.messages.Load() != 2 {
		t.Errorf("stats %+v", c.snapshot())
	}
}

func TestTrackerGoneBeforeKnote(t *testing.T) {
	k := newFakeKernel()
	var c counters
	tr := newTracker(k, &c)
	tr.start()
	k.parent[400] = 100
	k.fire(100, noteFork, 0)
	evs, _ := tr.read(nil)
	want := []Event{{Kind: Fork, PID: 400, PPID: 100, Time: k.clock}}
	if !slices.Equal(evs, want) {
		t.Fatalf("%+v", evs)
	}
	// Now one that is listed and then gone: the fake's attach reports
	// ESRCH for a pid without a parent entry.
	k.parent[401] = 100
	k.fire(100, noteFork, 0)
	gone := &goneKernel{fakeKernel: k, gone: 401}
	tr.k = gone
	evs, _ = tr.read(nil)
	want = []Event{{Kind: Fork, PID: 401, PPID: 100, Time: k.clock}, {Kind: Exit, PID: 401, Time: k.clock}}
	if !slices.Equal(evs, want) {
		t.Fatalf("%+v, want %+v", evs, want)
	}
}

// goneKernel lists a child that is gone by the time it is attached.
type goneKernel struct {
	*fakeKernel
	gone int32
}

func (k *goneKernel) attach(pids []int32, fflags uint32, errs []error) {
	k.fakeKernel.attach(pids, fflags, errs)
	for i, pid := range pids {
		if pid == k.gone {
			errs[i] = syscall.ESRCH
		}
	}
}

func TestTrackerExitStatusDenied(t *testing.T) {
	k := newFakeKernel()
	k.deny[200] = true
	var c counters
	tr := newTracker(k, &c)
	tr.start()
	if f, ok := k.knotes[200]; !ok || f&noteExitStatus != 0 || f&noteExit == 0 {
		t.Errorf("knote of 200: %#x %v, want NOTE_EXIT without NOTE_EXITSTATUS", f, ok)
	}
	k.fire(200, noteExit, 0)
	evs, _ := tr.read(nil)
	if len(evs) != 1 || evs[0].HasStatus {
		t.Errorf("%+v", evs)
	}
}

func TestTrackerSync(t *testing.T) {
	k := newFakeKernel()
	var c counters
	tr := newTracker(k, &c)
	tr.start()
	k.parent[500] = 1 // appeared unseen
	delete(k.parent, 200)
	k.clock += int64(syncEvery)
	evs, _ := tr.read(nil)
	if len(evs) != 0 {
		t.Errorf("sync made events %+v", evs)
	}
	if _, ok := tr.watched[500]; !ok {
		t.Error("500 not watched after the sync")
	}
	if _, ok := tr.watched[200]; ok {
		t.Error("200 still watched after it vanished")
	}
}

// TestTrackerForkBomb: a parent with thousands of children costs at most
// maxFollow attaches per NOTE_FORK, and the rest is counted.
func TestTrackerForkBomb(t *testing.T) {
	k := newFakeKernel()
	var c counters
	tr := newTracker(k, &c)
	tr.start()
	for pid := int32(1000); pid < 6000; pid++ {
		k.parent[pid] = 100
	}
	before := k.attaches
	k.fire(100, noteFork, 0)
	evs, _ := tr.read(nil)
	if len(evs) != maxFollow || k.attaches-before != maxFollow {
		t.Errorf("%d events, %d attaches, want %d", len(evs), k.attaches-before, maxFollow)
	}
	if got := c.unwatched.Load(); got != 5000-maxFollow {
		t.Errorf("unwatched %d, want %d", got, 5000-maxFollow)
	}
}

func TestTrackerHostileKevents(t *testing.T) {
	k := newFakeKernel()
	var c counters
	tr := newTracker(k, &c)
	tr.start()
	k.pending = []kevent{{ident: 0, fflags: noteExec}, {ident: 1 << 40, fflags: noteExec}, {ident: 100, flags: evError, data: 3}, {ident: 100, fflags: 0x1}}
	evs, _ := tr.read(nil)
	if len(evs) != 0 || c.malformed.Load() != 3 || c.ignored.Load() != 1 {
		t.Errorf("%+v %+v", evs, c.snapshot())
	}
}

func pidBytes(pids ...int32) []byte {
	b := make([]byte, 4*len(pids))
	for i, p := range pids {
		binary.NativeEndian.PutUint32(b[4*i:], uint32(p))
	}
	return b
}

func TestParsePIDList(t *testing.T) {
	buf := append(pidBytes(1, 0, 512, -4, 99999), make([]byte, 12)...)
	got, err := ParsePIDList(buf, 20, nil)
	if err != nil || !slices.Equal(got, []int32{1, 512, 99999}) {
		t.Errorf("%v %v", got, err)
	}
	for _, n := range []int{-4, 3, 33, 36} {
		if _, err := ParsePIDList(buf, n, nil); err == nil || !strings.HasPrefix(err.Error(), "procevents: proc_listpids returned") {
			t.Errorf("n %d: %v", n, err)
		}
	}
}

func FuzzParsePIDList(f *testing.F) {
	f.Add(pidBytes(1, 0, 512, -4, 99999), 20)
	f.Add([]byte{}, 0)
	f.Add([]byte{1, 2, 3}, 3)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		got, err := ParsePIDList(b, n, nil)
		if err == nil && len(got) > n/4 {
			t.Fatalf("%d pids from %d bytes", len(got), n)
		}
		for _, p := range got {
			if p <= 0 {
				t.Fatalf("pid %d", p)
			}
		}
	})
}
