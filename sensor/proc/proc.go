package proc

import (
	"bytes"
	"errors"
)

// Caps on the argv that Details keeps. A longer argv is cut and flagged with
// Details.ArgsTruncated; the cut never splits a valid UTF-8 sequence.
const (
	MaxArgs     = 1024     // arguments
	MaxArgBytes = 64 << 10 // bytes of argument text, separators not counted
)

// Entry is one process from the kernel's table: the cheap part, read every
// poll.
type Entry struct {
	PID, PPID int32
	// UID is the effective uid: kp_eproc.e_ucred.cr_uid on macOS; on Linux
	// the owner of the /proc/<pid> directory (see proc_linux.go).
	UID uint32
	// Start is the start time in Unix nanoseconds: kp_proc.p_starttime on
	// macOS (microsecond resolution); on Linux btime + starttime/CLK_TCK
	// (10 ms resolution, and btime itself is whole seconds).
	Start int64
	// Comm is the kernel's short name, NUL-padded: p_comm is cut at
	// MAXCOMLEN (16) bytes on macOS, comm at 15 bytes on Linux.
	// "com.apple.automator.runner" arrives as "com.apple.automa".
	Comm [16]byte
	// PGID is the process group (its leader's pid): kp_eproc.e_pgid on
	// macOS, field 5 (pgrp) of /proc/<pid>/stat on Linux.
	PGID int32
	// SID is the session (its leader's pid): field 6 (session) of
	// /proc/<pid>/stat on Linux; 0 on macOS, whose kinfo_proc holds only
	// a kernel pointer to the session (Details.SID has it there).
	SID int32
}

// CommString returns Comm up to its first NUL. It allocates; call it for new
// processes only.
func (e *Entry) CommString() string {
	n := bytes.IndexByte(e.Comm[:], 0)
	if n < 0 {
		n = len(e.Comm)
	}
	return string(e.Comm[:n])
}

// Details is the expensive part of a process, read once per new process (or
// when its comm changed: a same-pid exec).
type Details struct {
	// Path is the resolved executable path: proc_pidpath on macOS (""
	// when the file was deleted or renamed since the exec: xnu looks the
	// path up again), readlink /proc/<pid>/exe on Linux (kept as the
	// kernel gives it, " (deleted)" suffix included). "" if unreadable.
	Path string
	// ExecPath is the path given to exec, as recorded by the kernel at
	// exec time (macOS procargs2). Always "" on Linux.
	ExecPath string
	// Args is argv. The environment is never read into it: on macOS it
	// follows argv in the same buffer and parsing stops at argc.
	Args []string
	// ArgsTruncated reports that argv was cut: by MaxArgs or MaxArgBytes,
	// or because the kernel's buffer ended before argc strings.
	ArgsTruncated bool
	// Cwd is the working directory: readlink /proc/<pid>/cwd on Linux,
	// the pvi_cdir path of proc_pidinfo PROC_PIDVNODEPATHINFO on macOS.
	// "" if unreadable.
	Cwd string
	// SID is the session leader's pid where Entry cannot carry it: getsid
	// on macOS. 0 on Linux (Entry.SID has it) or when unknown.
	SID int32
}

// ErrGone reports that the process vanished (exited, or is a zombie whose
// details are gone) between the listing and the read. Errors returned by
// Table.Details wrap it: test with errors.Is. Callers skip and count.
var ErrGone = errors.New("proc: process exited")

// Stats counts the processes List skipped, cumulative since Open.
type Stats struct {
	// Vanished counts pids that exited between the directory read and
	// the read of their entry (Linux); they are skipped, not errors.
	Vanished uint64
	// Skipped counts entries skipped for any other per-process error
	// (an unparseable record, a permission error).
	Skipped uint64
}
