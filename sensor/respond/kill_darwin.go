package respond

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// startTolerance: on macOS the start time is kp_proc.p_starttime itself
// (a timeval) in both the sensor's reading and this one: equal to the
// microsecond.
const startTolerance = time.Microsecond

// signalProcess checks, then sends SIGKILL by pid. macOS has no pidfd: a
// window remains between the check (the start time read with sysctl
// kern.proc.pid) and kill(2), in which the process could exit and its pid
// be given to a new process. xnu hands out pids in increasing order from
// the last one given and wraps to 100 at PID_MAX (99999), skipping pids
// still in use (bsd/kern/kern_fork.c, forkproc: `static pid_t lastpid`,
// `if (++pid >= PID_MAX) pid = 100`), so a number comes back only after
// the whole range was walked since: the window is microseconds, the walk
// takes tens of thousands of forks.
func signalProcess(pid int, check func() error) error {
	if err := check(); err != nil {
		return err
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		if err == unix.ESRCH {
			return fmt.Errorf("%w: kill: %v", errGone, err)
		}
		return fmt.Errorf("respond: kill %d: %w", pid, err)
	}
	return nil
}
