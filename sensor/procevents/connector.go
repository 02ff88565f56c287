package procevents

import (
	"encoding/binary"
	"fmt"
)

// The Linux process connector's wire format. Sources (torvalds/linux):
//   - include/uapi/linux/netlink.h: struct nlmsghdr, NLMSG_* types, 4-byte
//     alignment of messages (NLMSG_ALIGN).
//   - include/uapi/linux/connector.h: struct cn_msg, CN_IDX_PROC/CN_VAL_PROC.
//   - include/uapi/linux/cn_proc.h: struct proc_event, enum what,
//     PROC_CN_MCAST_LISTEN.
//   - drivers/connector/cn_proc.c: what each event fills in; the kernel
//     sends one proc_event per netlink message, type NLMSG_DONE
//     (drivers/connector/connector.c, cn_netlink_send_mult).
//
// Everything is in the host's byte order.
const (
	nlmsgHdrLen = 16 // len u32, type u16, flags u16, seq u32, pid u32
	nlmsgNoop   = 1  // NLMSG_NOOP
	nlmsgError  = 2  // NLMSG_ERROR
	nlmsgDone   = 3  // NLMSG_DONE: what the connector sends
	nlmsgOvrun  = 4  // NLMSG_OVERRUN

	cnMsgLen = 20 // id.idx u32, id.val u32, seq u32, ack u32, len u16, flags u16
	offCnLen = 16

	cnIdxProc = 1 // CN_IDX_PROC
	cnValProc = 1 // CN_VAL_PROC

	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	procCnMcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	// struct proc_event: what u32 at 0, cpu u32 at 4, timestamp_ns u64
	// at 8 (aligned(8)), then the event_data union at 16.
	offWhat  = 0
	offStamp = 8
	offData  = 16

	procEventNone = 0x00000000 // PROC_EVENT_NONE: the ack of a listen request
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000
	// PROC_EVENT_NONZERO_EXIT (0x20000000, Linux 6.6+) is sent only to
	// listeners that asked for it with a proc_input filter; this package
	// sends the classic 4-byte listen request and never asks.

	// fork_proc_event: parent_pid, parent_tgid, child_pid, child_tgid.
	forkLen = offData + 16
	// exec_proc_event: process_pid, process_tgid.
	execLen = offData + 8
	// exit_proc_event: process_pid, process_tgid, exit_code, exit_signal,
	// then parent_pid, parent_tgid (added in Linux 4.18).
	exitLen       = offData + 16
	exitParentLen = offData + 24
)

// ListenRequest returns the message that asks the process connector for its
// events (op true: PROC_CN_MCAST_LISTEN) or stops them (PROC_CN_MCAST_IGNORE):
// a nlmsghdr of type NLMSG_DONE, a cn_msg addressed to CN_IDX_PROC/CN_VAL_PROC
// and the 4-byte operation. portid is the sender's netlink port id.
func ListenRequest(portid uint32, op bool) []byte {
	const n = nlmsgHdrLen + cnMsgLen + 4
	b := make([]byte, n)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], n)
	ne.PutUint16(b[4:], nlmsgDone)
	ne.PutUint32(b[12:], portid)
	c := b[nlmsgHdrLen:]
	ne.PutUint32(c[0:], cnIdxProc)
	ne.PutUint32(c[4:], cnValProc)
	ne.PutUint16(c[offCnLen:], 4)
	v := uint32(procCnMcastListen)
	if !op {
		v = procCnMcastIgnore
	}
	ne.PutUint32(c[cnMsgLen:], v)
	return b
}

// ParseConnector decodes one datagram read from a NETLINK_CONNECTOR socket
// bound to CN_IDX_PROC and appends its fork, exec and exit events to dst.
// Time holds the kernel's timestamp_ns (CLOCK_MONOTONIC, ktime_get_ns); the
// Source moves it to the wall clock.
//
// Only processes are reported: a fork whose child is a thread (child_pid !=
// child_tgid) and the exit of a thread that is not its group's leader are
// ignored, and so are the other events (uid, gid, sid, ptrace, comm,
// coredump), the ack of the listen request, NLMSG_NOOP and messages of other
// connectors. ignored counts them.
//
// A message whose lengths do not fit (a nlmsghdr or cn_msg length shorter
// than its header or longer than what is left, a proc_event shorter than its
// kind) stops the decoding with an error naming its offset; the events
// already decoded are returned. An NLMSG_ERROR message returns an error
// with its errno.
func ParseConnector(buf []byte, dst []Event) (out []Event, ignored int, err error) {
	ne := binary.NativeEndian
	off := 0
	for off < len(buf) {
		rest := buf[off:]
		if len(rest) < nlmsgHdrLen {
			return dst, ignored, fmt.Errorf("procevents: connector message at %d: %d bytes, shorter than a nlmsghdr", off, len(rest))
		}
		mlen := int(ne.Uint32(rest[0:]))
		typ := ne.Uint16(rest[4:])
		if mlen < nlmsgHdrLen || mlen > len(rest) {
			return dst, ignored, fmt.Errorf("procevents: connector message at %d: nlmsg_len %d out of range [%d, %d]", off, mlen, nlmsgHdrLen, len(rest))
		}
		body := rest[nlmsgHdrLen:mlen]
		switch typ {
		case nlmsgError:
			if len(body) >= 4 {
				return dst, ignored, fmt.Errorf("procevents: connector message at %d: NLMSG_ERROR %d", off, int32(ne.Uint32(body)))
			}
			return dst, ignored, fmt.Errorf("procevents: connector message at %d: NLMSG_ERROR without errno", off)
		case nlmsgDone:
			var ok bool
			dst, ok, err = parseCnMsg(body, dst)
			if err != nil {
				return dst, ignored, fmt.Errorf("procevents: connector message at %d: %w", off, err)
			}
			if !ok {
				ignored++
			}
		default: // NLMSG_NOOP, NLMSG_OVERRUN, anything else
			ignored++
		}
		// NLMSG_ALIGN: the next message starts at a multiple of 4.
		next := (mlen + 3) &^ 3
		if next > len(rest) {
			break
		}
		off += next
	}
	return dst, ignored, nil
}

// parseCnMsg decodes a cn_msg and the proc_event in it. ok is false for a
// message that carries no process event of interest.
func parseCnMsg(b []byte, dst []Event) (_ []Event, ok bool, err error) {
	ne := binary.NativeEndian
	if len(b) < cnMsgLen {
		return dst, false, fmt.Errorf("cn_msg of %d bytes, want at least %d", len(b), cnMsgLen)
	}
	if ne.Uint32(b[0:]) != cnIdxProc || ne.Uint32(b[4:]) != cnValProc {
		return dst, false, nil // another connector's message
	}
	dlen := int(ne.Uint16(b[offCnLen:]))
	if dlen > len(b)-cnMsgLen {
		return dst, false, fmt.Errorf("cn_msg len %d, only %d bytes follow", dlen, len(b)-cnMsgLen)
	}
	ev := b[cnMsgLen : cnMsgLen+dlen]
	if len(ev) < offData {
		return dst, false, fmt.Errorf("proc_event of %d bytes, want at least %d", len(ev), offData)
	}
	what := ne.Uint32(ev[offWhat:])
	stamp := ne.Uint64(ev[offStamp:])
	need := func(n int) error {
		if len(ev) < n {
			return fmt.Errorf("proc_event what %#x: %d bytes, want %d", what, len(ev), n)
		}
		return nil
	}
	u32 := func(off int) int32 { return int32(ne.Uint32(ev[offData+off:])) }
	switch what {
	case procEventFork:
		if err := need(forkLen); err != nil {
			return dst, false, err
		}
		childPID, childTGID := u32(8), u32(12)
		if childPID != childTGID || childTGID <= 0 {
			return dst, false, nil // a new thread
		}
		return append(dst, Event{Kind: Fork, PID: childTGID, PPID: max(u32(4), 0), Time: int64(stamp)}), true, nil
	case procEventExec:
		if err := need(execLen); err != nil {
			return dst, false, err
		}
		tgid := u32(4)
		if tgid <= 0 {
			return dst, false, nil
		}
		return append(dst, Event{Kind: Exec, PID: tgid, Time: int64(stamp)}), true, nil
	case procEventExit:
		if err := need(exitLen); err != nil {
			return dst, false, err
		}
		pid, tgid := u32(0), u32(4)
		if pid != tgid || tgid <= 0 {
			return dst, false, nil // a thread, not the group leader
		}
		e := Event{Kind: Exit, PID: tgid, Status: uint32(u32(8)), HasStatus: true, Time: int64(stamp)}
		if len(ev) >= exitParentLen {
			e.PPID = max(u32(20), 0)
		}
		return append(dst, e), true, nil
	}
	return dst, false, nil
}
