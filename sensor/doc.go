// Package sensor is the collection pipeline: it polls the process table and
// the socket table, diffs each snapshot against the previous one, and turns
// what changed into ECS events shaped like Elastic Defend's (process exec,
// network connection_attempted / connection_accepted / disconnect_received).
//
// It owns the identity of processes: a process is (pid, start time), PID
// reuse is a new process, and process.entity_id is derived from
// (host.id, pid, start time) so that a process's start event and all of its
// network events carry the same id.
//
// It is not a detector: it never imports detect. It hands events, in order
// of observation, to whoever calls Poll, together with a watermark: the time
// of the snapshot, before which no later poll can produce an event.
package sensor
