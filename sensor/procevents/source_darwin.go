package procevents

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// proc_info is issued as a raw system call, as in sensor/proc
// (proc_darwin.go explains why): proc_listpids(type, typeinfo, buf, size) is
// __proc_info(PROC_INFO_CALL_LISTPIDS, type, typeinfo, 0, buf, size)
// (libsyscall/wrappers/libproc/libproc.c). Constants from
// bsd/kern/syscalls.master and bsd/sys/proc_info.h,
// bsd/sys/proc_info_private.h.
const (
	sysProcInfo          = 336
	procInfoCallListPIDs = 1 // PROC_INFO_CALL_LISTPIDS
	procAllPIDs          = 1 // PROC_ALL_PIDS
	procPPIDOnly         = 6 // PROC_PPID_ONLY
)

// Source watches every process with a kqueue. Read is for one goroutine;
// Close and Stats may be called from any. A blocked Read notices Close
// within a second (its wait is bounded by the periodic sync).
type Source struct {
	kq     int
	t      *tracker
	closed atomic.Bool
	c      counters
}

// Open creates the kqueue and attaches a knote to every live pid. It needs
// no privilege for NOTE_FORK/EXEC/EXIT; exit statuses of other users'
// processes need root (kern_event.c, filt_procattach).
func Open() (*Source, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("procevents: kqueue: %w", err)
	}
	unix.CloseOnExec(kq)
	s := &Source{kq: kq}
	s.t = newTracker(&darwinKernel{kq: kq, buf: make([]byte, 4<<10)}, &s.c)
	if err := s.t.start(); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return s, nil
}

// Read blocks until processes fork, exec or exit and appends those events
// to dst[:0]; ErrClosed once Close was called.
func (s *Source) Read(dst []Event) ([]Event, error) {
	for {
		if s.closed.Load() {
			return dst[:0], ErrClosed
		}
		var err error
		dst, err = s.t.read(dst)
		if err != nil {
			if s.closed.Load() {
				return dst[:0], ErrClosed
			}
			return dst, err
		}
		if len(dst) > 0 {
			return dst, nil
		}
	}
}

// Close stops the source.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := unix.Close(s.kq); err != nil {
		return fmt.Errorf("procevents: close kqueue: %w", err)
	}
	return nil
}

// Stats returns the counters.
func (s *Source) Stats() Stats { return s.c.snapshot() }

// darwinKernel is procKernel over a kqueue and proc_info. Its buffers are
// the reading goroutine's.
type darwinKernel struct {
	kq  int
	buf []byte
}

func (k *darwinKernel) attach(pids []int32, fflags uint32, errs []error) {
	changes := make([]unix.Kevent_t, len(pids))
	for i, pid := range pids {
		changes[i] = unix.Kevent_t{Ident: uint64(pid), Filter: unix.EVFILT_PROC,
			Flags: unix.EV_ADD | unix.EV_RECEIPT, Fflags: fflags}
	}
	// EV_RECEIPT: one answer per change, flags EV_ERROR and data the
	// errno (0 for success), without draining pending events.
	receipts := make([]unix.Kevent_t, len(pids))
	n, err := unix.Kevent(k.kq, changes, receipts, &unix.Timespec{})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	byPID := make(map[uint64]int64, n)
	for _, r := range receipts[:n] {
		byPID[r.Ident] = r.Data
	}
	for i, pid := range pids {
		switch d, ok := byPID[uint64(pid)]; {
		case !ok:
			errs[i] = errors.New("procevents: no receipt")
		case d != 0:
			errs[i] = syscall.Errno(d)
		}
	}
}

func (k *darwinKernel) wait(dst []kevent, timeout time.Duration) ([]kevent, error) {
	var evs [64]unix.Kevent_t
	ts := unix.NsecToTimespec(int64(timeout))
	n, err := unix.Kevent(k.kq, nil, evs[:], &ts)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return dst, nil
		}
		return dst, fmt.Errorf("procevents: kevent: %w", err)
	}
	for _, e := range evs[:n] {
		if e.Filter != unix.EVFILT_PROC {
			continue
		}
		dst = append(dst, kevent{ident: e.Ident, flags: e.Flags, fflags: e.Fflags, data: e.Data})
	}
	return dst, nil
}

func (k *darwinKernel) children(pid int32, dst []int32) ([]int32, error) {
	return k.list(procPPIDOnly, uint32(pid), dst)
}

func (k *darwinKernel) all(dst []int32) ([]int32, error) {
	return k.list(procAllPIDs, 0, dst)
}

// list calls proc_listpids. A full buffer may mean more pids: the buffer
// grows and the call is made again (up to 4 MiB, a million pids).
func (k *darwinKernel) list(typ, info uint32, dst []int32) ([]int32, error) {
	for {
		r, _, e := unix.Syscall6(sysProcInfo, procInfoCallListPIDs, uintptr(typ), uintptr(info), 0,
			uintptr(unsafe.Pointer(&k.buf[0])), uintptr(len(k.buf)))
		if e != 0 {
			return dst, fmt.Errorf("procevents: proc_listpids: %w", e)
		}
		if int(r) >= len(k.buf) && len(k.buf) < 4<<20 {
			k.buf = make([]byte, 2*len(k.buf))
			continue
		}
		return ParsePIDList(k.buf, int(r), dst)
	}
}

func (*darwinKernel) now() int64 { return time.Now().UnixNano() }
