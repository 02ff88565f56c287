package proc

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// macOS. Sources (apple-oss-distributions/xnu):
//   - kern.proc.all: bsd/kern/kern_sysctl.c (sysctl_prochandle), struct
//     kinfo_proc in bsd/sys/sysctl.h, decoded by x/sys/unix as KinfoProc.
//   - kern.procargs2: bsd/kern/kern_sysctl.c (sysctl_procargsx).
//   - proc_pidpath: libsyscall/wrappers/libproc/libproc.c calls
//     __proc_info(PROC_INFO_CALL_PIDINFO, pid, PROC_PIDPATHINFO, 0, buf, size);
//     the kernel side is proc_info / proc_pidinfo / proc_pidpathinfo in
//     bsd/kern/proc_info.c, the constants are in bsd/sys/proc_info.h.
//
// proc_info is issued as a raw system call, unix.Syscall6(336, ...), without
// cgo. On darwin, unix.Syscall6 jumps to package syscall's Syscall6, which
// traps into the kernel directly (SVC 0x80 on arm64, SYSCALL on amd64:
// $GOROOT/src/syscall/asm_darwin_*.s). The alternative, calling libSystem's
// proc_pidpath the way x/sys calls its wrappers, needs a
// //go:cgo_import_dynamic, an assembly trampoline per architecture and a
// linkname into package syscall's unexported syscall6: more machinery than
// one call deserves, and none of it can be run on the Linux machines that
// build this. Apple does not promise that system call numbers are stable
// (x/sys marks its darwin SYS_* constants deprecated for that reason), but
// proc_info has been 336, with these arguments, since Mac OS X 10.5; the
// numbers are defined here from bsd/kern/syscalls.master.
const (
	sysProcInfo = 336 // proc_info(int32 callnum, int32 pid, uint32 flavor, uint64 arg, user_addr_t buffer, int32 buffersize)

	procInfoCallPIDInfo = 2  // PROC_INFO_CALL_PIDINFO
	procPIDPathInfo     = 11 // PROC_PIDPATHINFO
	// procPIDPathInfoMaxSize is PROC_PIDPATHINFO_MAXSIZE, 4*MAXPATHLEN:
	// proc_pidinfo refuses a larger buffer with EOVERFLOW and one smaller
	// than MAXPATHLEN with ENOMEM.
	procPIDPathInfoMaxSize = 4 * 1024
)

// Table reads the process table. It reuses its path buffer: it is not safe
// for concurrent use.
type Table struct {
	path  [procPIDPathInfoMaxSize]byte
	vnode [vnodePathInfoSize]byte
	stats Stats
}

// Open returns a Table. Nothing is held open on macOS.
func Open() (*Table, error) { return &Table{}, nil }

// List appends every process to dst[:0], sorted by PID, and returns it.
//
// One sysctl kern.proc.all returns every process, zombies included, as
// struct kinfo_proc; x/sys retries on ENOMEM (the table grew between its size
// probe and the read). That call allocates the []KinfoProc it returns (648
// bytes a process), so unlike Linux a macOS List allocates once per poll.
func (t *Table) List(dst []Entry) ([]Entry, error) {
	dst = dst[:0]
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return dst, fmt.Errorf("proc: sysctl kern.proc.all: %w", err)
	}
	for i := range kps {
		k := &kps[i]
		if k.Proc.P_pid < 0 {
			t.stats.Skipped++
			continue
		}
		dst = append(dst, entryOf(k))
	}
	// kern.proc.all returns the kernel's list order (allproc, then
	// zombproc), not pid order.
	slices.SortFunc(dst, func(a, b Entry) int { return int(a.PID) - int(b.PID) })
	return dst, nil
}

// entryOf converts a struct kinfo_proc.
func entryOf(k *unix.KinfoProc) Entry {
	e := Entry{
		PID:   k.Proc.P_pid,
		PPID:  k.Eproc.Ppid,
		UID:   k.Eproc.Ucred.Uid, // cr_uid: the effective uid
		Start: k.Proc.P_starttime.Sec*1e9 + int64(k.Proc.P_starttime.Usec)*1e3,
		PGID:  k.Eproc.Pgid,
	}
	// p_comm is char[MAXCOMLEN+1]; x/sys declares it [17]byte.
	copy(e.Comm[:], k.Proc.P_comm[:])
	return e
}

// Read fills e with the process pid, as List would have listed it now: the
// one-pid read that a process event triggers. sysctl kern.proc.pid.<pid>
// (bsd/kern/kern_sysctl.c, sysctl_prochandle with KERN_PROC_PID) copies
// nothing for a pid that does not exist, which x/sys reports as EIO: that
// returns an error wrapping ErrGone.
func (t *Table) Read(pid int32, e *Entry) error {
	if pid < 0 {
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	}
	k, err := unix.SysctlKinfoProc("kern.proc.pid", int(pid))
	if err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("%w: pid %d", ErrGone, pid)
		}
		return fmt.Errorf("proc: sysctl kern.proc.pid.%d: %w", pid, err)
	}
	if k.Proc.P_pid != pid {
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	}
	*e = entryOf(k)
	return nil
}

// Details reads the executable path and argv of pid into d, overwriting every
// field. d.Args is freshly allocated: callers may keep it.
//
// Path comes from proc_pidpath. xnu resolves the text vnode to a path and
// looks that path up again (proc_pidpathinfo_internal): a binary deleted or
// renamed since the exec fails with ENOENT, which leaves Path "" (ExecPath
// still holds the exec-time path). ESRCH means no such live process (gone,
// a zombie, or without a text vnode) and returns ErrGone.
//
// ExecPath and Args come from kern.procargs2 (ParseProcargs2). That sysctl
// answers EINVAL for a pid that is gone or a zombie, for another user's
// process unless the caller is root, and for a process without a user stack;
// on EINVAL proc_pidpath is asked again to tell "gone" (ErrGone) from the
// rest (a wrapped error, with Path already filled in d).
//
// pid 0, kernel_task, has neither: Details returns nil and an empty d.
func (t *Table) Details(pid int32, d *Details) error {
	*d = Details{}
	if pid == 0 {
		return nil
	}
	path, err := t.pidPath(pid)
	switch {
	case err == nil:
		d.Path = path
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("%w: pid %d", ErrGone, pid)
	case errors.Is(err, unix.ENOENT):
		// The executable was deleted or renamed: Path stays "".
	default:
		return fmt.Errorf("proc: proc_pidpath pid %d: %w", pid, err)
	}
	buf, err := unix.SysctlRaw("kern.procargs2", int(pid))
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			if _, perr := t.pidPath(pid); errors.Is(perr, unix.ESRCH) {
				return fmt.Errorf("%w: pid %d", ErrGone, pid)
			}
		}
		return fmt.Errorf("proc: sysctl kern.procargs2 pid %d: %w", pid, err)
	}
	execPath, args, truncated, err := ParseProcargs2(buf, MaxArgs, MaxArgBytes)
	if err != nil {
		return fmt.Errorf("%w (pid %d)", err, pid)
	}
	d.ExecPath, d.Args, d.ArgsTruncated = execPath, args, truncated
	// The session leader: getsid(pid) answers for any live pid, without a
	// permission check (bsd/kern/kern_prot.c, getsid). The working
	// directory: proc_pidinfo PROC_PIDVNODEPATHINFO, for root or the
	// process's own user (proc_security_policy, CHECK_SAME_USER). Either
	// failing leaves its field empty.
	if sid, err := unix.Getsid(int(pid)); err == nil && sid > 0 {
		d.SID = int32(sid)
	}
	d.Cwd = t.cwd(pid)
	return nil
}

// cwd is the working directory of pid, "" when unreadable.
func (t *Table) cwd(pid int32) string {
	r, _, e := unix.Syscall6(sysProcInfo, procInfoCallPIDInfo, uintptr(pid), procPIDVnodePathInfo, 0,
		uintptr(unsafe.Pointer(&t.vnode[0])), uintptr(len(t.vnode)))
	if e != 0 {
		return ""
	}
	cwd, _, err := ParseVnodePathInfo(t.vnode[:], int(r))
	if err != nil {
		return ""
	}
	return cwd
}

// pidPath is proc_pidpath: the proc_info system call, flavor
// PROC_PIDPATHINFO. The kernel copies out the whole zeroed buffer and returns
// no length (libproc's proc_pidpath returns strlen of the buffer), so the
// path ends at the first NUL.
func (t *Table) pidPath(pid int32) (string, error) {
	_, _, e := unix.Syscall6(sysProcInfo, procInfoCallPIDInfo, uintptr(pid), procPIDPathInfo, 0,
		uintptr(unsafe.Pointer(&t.path[0])), uintptr(len(t.path)))
	if e != 0 {
		return "", e
	}
	n := bytes.IndexByte(t.path[:], 0)
	if n < 0 {
		n = len(t.path)
	}
	if n == 0 {
		return "", unix.ENOENT
	}
	return string(t.path[:n]), nil
}

// Stats returns the counts of processes List skipped.
func (t *Table) Stats() Stats { return t.stats }

// Close does nothing: nothing is held open on macOS.
func (t *Table) Close() error { return nil }
