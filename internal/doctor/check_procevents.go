package doctor

import "context"

// The process-event source's check (kqueue EVFILT_PROC on macOS, the
// netlink proc connector on Linux): the automator child of process.poll
// must be announced by it (a fork from the doctor, an exec) and the read
// those events trigger must give the same pid, name, executable, args,
// parent and start time as the poll. The source (sensor/procevents) is not
// in this version yet, so the check says so; startProcEvents, called by
// process.poll before it starts the child, does nothing.

// procEvents is the run's process-event source (none in this version).
type procEvents struct{}

// startProcEvents would open the source before process.poll's fork.
func (d *Doctor) startProcEvents() {}

// stop releases the source.
func (pe *procEvents) stop() {}

func checkProcessEvents(ctx context.Context, d *Doctor) (string, error) {
	return "", Skipf("not built in this version: the process-event source (kqueue / proc connector) has not landed")
}

// replayProcEvents would decode the bundle's process-event messages.
func replayProcEvents(files map[string][]byte, f *Facts, goos string) replayResult {
	return replayResult{skip: "not built in this version: no process-event source"}
}
