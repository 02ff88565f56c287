// Package respond carries out response actions on the machine: today one,
// kill_process, which kills the process an alert names with SIGKILL, and
// only that process.
//
// A process is named by its pid and its start time, never by its pid
// alone: pids are reused, and a kill by pid alone could hit an unrelated
// process that got the number after the one that matched exited. Kill
// reads the live process's start time and compares it with the event's
// (process.start, or the start time inside the sensor's process.entity_id)
// before it sends the signal, and refuses pid 0 and 1, its own process,
// and a process whose start time it cannot learn.
//
// It is not a policy engine: which rules may act is decided by the caller
// (the rule's [macsensor] actions and the configuration).
package respond
