// Package procevents reports process forks, execs and exits as the kernel
// announces them, so that the sensor can read a process that lives a few
// milliseconds, which a poll every second would miss.
//
// It does not read processes and does not build ECS events: an Event only
// names a pid (and, on a fork, its parent). The sensor reads that pid at once
// through the same code as its polls (sensor/proc), so there is one way an
// exec event is made. The events are a trigger, never a source of truth:
// polling stays the safety net.
//
// Linux: the netlink process connector (NETLINK_CONNECTOR, group
// CN_IDX_PROC, PROC_CN_MCAST_LISTEN), which needs CAP_NET_ADMIN. macOS: a
// kqueue with an EVFILT_PROC knote (NOTE_FORK, NOTE_EXEC, NOTE_EXIT) on
// every live pid; a NOTE_FORK lists the children of the parent
// (proc_listpids, PROC_PPID_ONLY) and watches the new ones. No cgo, no
// entitlement.
//
// Only the files that make system calls carry build tags. The decoders of
// what the kernel returns (ParseConnector for the proc connector's
// messages, ParsePIDList for proc_listpids, the kevent translation) are
// untagged and tested on Linux with byte fixtures in testdata/.
package procevents
