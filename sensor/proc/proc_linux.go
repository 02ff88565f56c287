package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux reads /proc. A List makes, per process, four system calls on buffers
// the Table keeps (statx, openat, read, close) and allocates nothing: the
// paths handed to the kernel are NUL-terminated in a reused array and passed
// to raw system calls, because the x/sys wrappers (unix.Openat, unix.Statx,
// unix.Readlinkat) copy their string argument to the heap on every call.

const (
	direntBufSize = 32 << 10 // getdents64 buffer: ~1,300 /proc entries a call
	statBufSize   = 4 << 10  // a stat line is ~300 bytes; comm ≤ 64, 52 fields
	linkBufSize   = 4096     // readlink of /proc/<pid>/exe: d_path into a page
	// cmdlineBufSize holds enough of /proc/<pid>/cmdline to reach a cap:
	// more than MaxArgBytes of text or MaxArgs strings in it trips one.
	cmdlineBufSize = MaxArgBytes + MaxArgs + 1
	// atClkTck is AT_CLKTCK in the ELF auxiliary vector
	// (include/uapi/linux/auxvec.h): the USER_HZ in which /proc reports
	// times, what sysconf(_SC_CLK_TCK) returns.
	atClkTck = 17
	// defaultClkTck is USER_HZ on every architecture Go supports on
	// Linux (alpha, with 1024, is not one of them).
	defaultClkTck = 100
)

// Table reads the process table. It keeps /proc open and reuses its buffers:
// it is not safe for concurrent use.
type Table struct {
	proc    int // fd of the /proc directory, kept for the Table's life
	clk     bootClock
	dirents []byte
	stat    []byte
	link    []byte
	cmdline []byte   // allocated on the first Details
	path    [64]byte // "<pid>/<file>\0" for the *at system calls
	stx     unix.Statx_t
	stats   Stats
}

// Open opens /proc and reads the boot time once: every Start of this Table
// uses the same boot time, so a process's (pid, Start) identity is stable
// across polls.
func Open() (*Table, error) {
	boot, err := bootTime()
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("proc: open /proc: %w", err)
	}
	return &Table{
		proc:    fd,
		clk:     bootClock{boot: boot, tickNs: 1e9 / clockTick()},
		dirents: make([]byte, direntBufSize),
		stat:    make([]byte, statBufSize),
		link:    make([]byte, linkBufSize),
	}, nil
}

// bootTime returns when the system booted, in Unix nanoseconds, as
// CLOCK_REALTIME − CLOCK_BOOTTIME: the clock /proc/<pid>/stat's starttime
// counts from (task->start_boottime, fs/proc/array.c). The "btime" line of
// /proc/stat is the same instant cut to whole seconds, which would put every
// start time up to a second early — before events that really preceded it.
// It is the fallback if the clocks cannot be read.
func bootTime() (int64, error) {
	var rt, bt unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME, &rt) == nil && unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt) == nil {
		return rt.Nano() - bt.Nano(), nil
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	btime, err := parseBtime(b)
	if err != nil {
		return 0, err
	}
	return btime * 1e9, nil
}

// clockTick returns CLK_TCK from the auxiliary vector, or USER_HZ (100).
func clockTick() int64 {
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] > 0 && kv[1] <= 1e9 {
				return int64(kv[1])
			}
		}
	}
	return defaultClkTck
}

// List appends every process to dst[:0], sorted by PID, and returns it.
// With enough capacity in dst it allocates nothing.
//
// A pid that exits between the directory read and the read of its stat is
// skipped and counted in Stats.Vanished. Any other per-process error skips
// the process (Stats.Skipped), except resource exhaustion (EMFILE, ENFILE,
// ENOMEM): a listing missing most processes would read as mass exits, so
// List fails instead.
func (t *Table) List(dst []Entry) ([]Entry, error) {
	dst = dst[:0]
	if _, err := unix.Seek(t.proc, 0, io.SeekStart); err != nil {
		return dst, fmt.Errorf("proc: rewind /proc: %w", err)
	}
	for {
		n, err := unix.Getdents(t.proc, t.dirents)
		if err != nil {
			return dst, fmt.Errorf("proc: getdents64 /proc: %w", err)
		}
		if n == 0 {
			break
		}
		for b := t.dirents[:n]; len(b) > 0; {
			name, rest, ok := nextDirent(b)
			if !ok {
				return dst, fmt.Errorf("proc: getdents64 /proc: malformed record at %d of %d bytes", n-len(b), n)
			}
			b = rest
			pid, ok := parsePID(name)
			if !ok {
				continue
			}
			var e Entry
			switch err := t.read(pid, &e); {
			case err == nil:
				dst = append(dst, e)
			case vanished(err):
				t.stats.Vanished++
			case exhausted(err):
				return dst, fmt.Errorf("proc: read pid %d: %w", pid, err)
			default:
				t.stats.Skipped++
			}
		}
	}
	// /proc lists pids in increasing order (fs/proc/base.c, next_tgid);
	// sort only if that ever changes.
	if !slices.IsSortedFunc(dst, cmpPID) {
		slices.SortFunc(dst, cmpPID)
	}
	return dst, nil
}

func cmpPID(a, b Entry) int { return int(a.PID) - int(b.PID) }

// Read fills e with the process pid, as List would have listed it now: the
// one-pid read that a process event triggers. A pid that is gone (or whose
// task printed nothing) returns an error wrapping ErrGone; a zombie is
// returned, as List returns it.
func (t *Table) Read(pid int32, e *Entry) error {
	if pid <= 0 {
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	}
	switch err := t.read(pid, e); {
	case err == nil:
		return nil
	case vanished(err):
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	default:
		return fmt.Errorf("proc: read pid %d: %w", pid, err)
	}
}

// read fills e from /proc/<pid>: the owner of the directory, then the stat
// line. The owner is read first: if the process is reaped in between, the
// stat read fails and the pid is skipped instead of being reported with the
// root uid that a vanished task's directory shows (pid_getattr).
//
// UID is the owner of the /proc/<pid> directory, not of a file in it:
// task_dump_owner (fs/proc/base.c) gives every per-process entry the task's
// euid, except that a non-dumpable task's files (stat included) are owned by
// root, while the directory (mode 0555) always shows the euid: "Before the
// /proc/pid/status file was created the only way to read the effective uid
// of a process was to stat /proc/pid". One statx, instead of reading and
// parsing the larger status file for its Uid line.
func (t *Table) read(pid int32, e *Entry) error {
	if err := t.statx(t.pidPath(pid, "")); err != nil {
		return err
	}
	uid := t.stx.Uid
	n, err := t.readAt(t.pidPath(pid, "/stat"), t.stat, true)
	if err != nil {
		return err
	}
	if n == 0 {
		return unix.ESRCH // the task is gone: the kernel printed nothing
	}
	if err := parseStat(t.stat[:n], e, t.clk); err != nil {
		return err
	}
	e.UID = uid
	return nil
}

// Details reads the executable path and argv of pid into d, overwriting every
// field. d.Args is freshly allocated: callers may keep it.
//
// Cwd is readlink /proc/<pid>/cwd, "" when unreadable.
//
// Path is readlink /proc/<pid>/exe, kept as the kernel gives it: a binary
// deleted or replaced since the exec reads "/path (deleted)". An unreadable
// link (EACCES when not root) leaves Path "" and is not an error. Args is
// /proc/<pid>/cmdline split on NUL, within MaxArgs and MaxArgBytes; a
// process that rewrote its argv area (setproctitle) shows what it wrote.
//
// A process that is gone or a zombie (its exe link and cmdline are gone with
// its memory) returns an error wrapping ErrGone. A kernel thread has neither
// an exe link nor a cmdline: Details returns nil with Path "" and no Args.
func (t *Table) Details(pid int32, d *Details) error {
	*d = Details{}
	n, err := t.readlinkAt(t.pidPath(pid, "/exe"), t.link)
	switch {
	case err == nil:
		d.Path = string(t.link[:n])
	case errors.Is(err, unix.ENOENT):
		// Gone, a zombie, or a kernel thread: tell them apart.
		if gone, err := t.exited(pid); err != nil || gone {
			if err == nil || vanished(err) {
				return fmt.Errorf("%w: pid %d", ErrGone, pid)
			}
			return fmt.Errorf("proc: stat pid %d: %w", pid, err)
		}
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		// Unreadable: Path stays "".
	default:
		return fmt.Errorf("proc: readlink /proc/%d/exe: %w", pid, err)
	}
	if t.cmdline == nil {
		t.cmdline = make([]byte, cmdlineBufSize)
	}
	n, err = t.readAt(t.pidPath(pid, "/cmdline"), t.cmdline, false)
	if err != nil {
		if vanished(err) {
			return fmt.Errorf("%w: pid %d", ErrGone, pid)
		}
		return fmt.Errorf("proc: read /proc/%d/cmdline: %w", pid, err)
	}
	d.Args, d.ArgsTruncated = splitArgs(t.cmdline[:n], -1, MaxArgs, MaxArgBytes, false)
	// The working directory: unreadable (EACCES without ptrace access)
	// or gone since the cmdline read leaves it "".
	if n, err := t.readlinkAt(t.pidPath(pid, "/cwd"), t.link); err == nil {
		d.Cwd = string(t.link[:n])
	}
	return nil
}

// exited reports whether pid is gone or a zombie (state Z or X).
func (t *Table) exited(pid int32) (bool, error) {
	n, err := t.readAt(t.pidPath(pid, "/stat"), t.stat, true)
	if err != nil {
		return false, err
	}
	switch statState(t.stat[:n]) {
	case 0:
		return true, nil // empty: the task is gone
	case 'Z', 'X':
		return true, nil
	}
	return false, nil
}

// Stats returns the counts of processes List skipped.
func (t *Table) Stats() Stats { return t.stats }

// Close closes /proc. The Table must not be used afterwards.
func (t *Table) Close() error {
	if t.proc < 0 {
		return nil
	}
	err := unix.Close(t.proc)
	t.proc = -1
	if err != nil {
		return fmt.Errorf("proc: close /proc: %w", err)
	}
	return nil
}

// pidPath writes "<pid><suffix>\0" into t.path and returns a pointer to it,
// for the *at system calls relative to /proc.
func (t *Table) pidPath(pid int32, suffix string) *byte {
	b := strconv.AppendInt(t.path[:0], int64(pid), 10)
	b = append(b, suffix...)
	b = append(b, 0)
	return &b[0]
}

// readAt reads the file at path (relative to /proc) into buf, up to
// len(buf) bytes, and returns how many it read. With single set, it makes a
// single read: a seq_file that fits in buf (stat) is returned entire by the
// first read, and a second read would only return 0.
func (t *Table) readAt(path *byte, buf []byte, single bool) (int, error) {
	fd, err := openat(t.proc, path, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return 0, err
	}
	n := 0
	for n < len(buf) && (n == 0 || !single) {
		m, err := unix.Read(fd, buf[n:])
		if err != nil {
			unix.Close(fd)
			return 0, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	unix.Close(fd)
	return n, nil
}

func (t *Table) statx(path *byte) error {
	_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(t.proc), uintptr(unsafe.Pointer(path)),
		0, unix.STATX_UID, uintptr(unsafe.Pointer(&t.stx)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func (t *Table) readlinkAt(path *byte, buf []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(t.proc), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func openat(dirfd int, path *byte, flags int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)), uintptr(flags), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// vanished reports an error that means the process is gone.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// exhausted reports an error that is the system's, not the process's.
func exhausted(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.ENOBUFS)
}
