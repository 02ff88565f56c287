package procevents

import (
	"errors"
	"sync/atomic"
)

// Kind is what happened to a process.
type Kind uint8

// The kinds of Event.
const (
	Fork Kind = iota + 1 // a new process: PID is the child, PPID its parent
	Exec                 // PID replaced its program image
	Exit                 // PID exited
)

func (k Kind) String() string {
	switch k {
	case Fork:
		return "fork"
	case Exec:
		return "exec"
	case Exit:
		return "exit"
	}
	return "unknown"
}

// Event is one process event. It names the process; it does not describe it.
type Event struct {
	Kind Kind
	// PID is the process (thread group id on Linux): on a fork the child.
	PID int32
	// PPID is, on a fork, the parent: the watched pid that forked on
	// macOS, the child's real_parent's tgid on Linux (the process that
	// forked, or its parent for CLONE_PARENT). On an exit, the parent
	// where the kernel gives it (Linux ≥ 4.18), else 0.
	PPID int32
	// Status is, on an exit with HasStatus, the wait status as waitpid(2)
	// returns it (exit code << 8 | terminating signal).
	Status    uint32
	HasStatus bool
	// Time is when the event happened, Unix nanoseconds: the kernel's
	// timestamp on Linux (CLOCK_MONOTONIC moved to the wall clock), the
	// time the kqueue returned it on macOS.
	Time int64
}

// ExitCode returns the exit code of an exit event: the status passed to
// exit(2), or 128+signal for a process killed by a signal (the shell's
// convention). ok is false when the status is unknown.
func (e *Event) ExitCode() (code int32, ok bool) {
	if e.Kind != Exit || !e.HasStatus {
		return 0, false
	}
	if sig := e.Status & 0x7f; sig != 0 {
		return 128 + int32(sig), true
	}
	return int32(e.Status>>8) & 0xff, true
}

// Stats counts what a Source did. Every field only grows.
type Stats struct {
	Events    uint64 // events returned by Read
	Messages  uint64 // kernel messages read (netlink datagrams, kevents)
	Lost      uint64 // times the kernel reported lost events (netlink ENOBUFS)
	Malformed uint64 // messages that did not decode, skipped
	Ignored   uint64 // messages of no interest: threads, uid/gid/sid/comm changes, acks
	Spoofed   uint64 // messages not sent by the kernel, dropped (Linux)
	Watched   uint64 // pids a knote was attached to (macOS)
	Unwatched uint64 // attaches refused other than by ESRCH (macOS)
}

// counters is Stats, updated by the reading goroutine and read by others.
type counters struct {
	events, messages, lost, malformed, ignored, spoofed, watched, unwatched atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Events: c.events.Load(), Messages: c.messages.Load(), Lost: c.lost.Load(),
		Malformed: c.malformed.Load(), Ignored: c.ignored.Load(), Spoofed: c.spoofed.Load(),
		Watched: c.watched.Load(), Unwatched: c.unwatched.Load(),
	}
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("procevents: source closed")

// ErrLost is returned by Read when the kernel dropped events (the socket's
// receive buffer overflowed). Reading may go on; the caller should poll the
// whole table once to reconcile.
var ErrLost = errors.New("procevents: the kernel dropped events")
