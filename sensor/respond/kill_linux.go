package respond

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// startTolerance: a Linux start time is btime + starttime ticks (10 ms each,
// fs/proc/array.c), and sensor/proc computes the boot instant per table as
// CLOCK_REALTIME − CLOCK_BOOTTIME, two clock reads apart: two tables give
// the same process start times a few hundred nanoseconds apart (observed
// 230 ns in TestE2EKillProcess). Half a tick absorbs that and still tells
// processes apart: another process at the same pid within 5 ms of the
// first one's start would need the kernel to hand the pid out again within
// 5 ms, and Linux allocates pids cyclically up to pid_max
// (kernel/pid.c, alloc_pid: idr_alloc_cyclic). A wall-clock step between
// the two tables' reads shifts the difference further: the kill is then
// refused, never misdirected.
const startTolerance = 5 * time.Millisecond

// signalProcess opens a pidfd for pid first, then checks, then signals the
// pidfd (pidfd_open(2), pidfd_send_signal(2), Linux 5.3 and 5.1). The
// pidfd names the process pid named when it was opened, whatever happens
// to the number afterwards: if that process exits and the number is
// reused, the signal fails with ESRCH instead of reaching the newcomer. The
// check, which reads the start time by pid after the open, either sees the
// same process (and the signal goes to it) or another one (a different
// start time: nothing is sent). The check and the kill address the same
// process.
func signalProcess(pid int, check func() error) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return fmt.Errorf("%w: pidfd_open %d: %v", errGone, pid, err)
		}
		return fmt.Errorf("respond: pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := check(); err != nil {
		return err
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		if err == unix.ESRCH {
			return fmt.Errorf("%w: pidfd_send_signal: %v", errGone, err)
		}
		return fmt.Errorf("respond: pidfd_send_signal %d: %w", pid, err)
	}
	return nil
}
