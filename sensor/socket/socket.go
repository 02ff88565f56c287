package socket

import (
	"net/netip"
	"strconv"
)

// Transport protocol numbers, as in Conn.Proto.
const (
	TCP uint8 = 6
	UDP uint8 = 17
)

// State is a TCP state in xnu's numbering (bsd/netinet/tcp_fsm.h): 0 Closed,
// 1 Listen, 2 SynSent, 3 SynReceived, 4 Established, 5 CloseWait, 6 FinWait1,
// 7 Closing, 8 LastAck, 9 FinWait2, 10 TimeWait. Linux states are mapped into
// it. UDP sockets have State 0.
type State uint8

// TCP states, numbered as xnu's TCPS_* (bsd/netinet/tcp_fsm.h).
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	CloseWait
	FinWait1
	Closing
	LastAck
	FinWait2
	TimeWait
)

// stateNames are the names netstat prints (xnu tcpstates[] in
// bsd/netinet/tcp_fsm.h).
var stateNames = [...]string{
	Closed:      "CLOSED",
	Listen:      "LISTEN",
	SynSent:     "SYN_SENT",
	SynReceived: "SYN_RCVD",
	Established: "ESTABLISHED",
	CloseWait:   "CLOSE_WAIT",
	FinWait1:    "FIN_WAIT_1",
	Closing:     "CLOSING",
	LastAck:     "LAST_ACK",
	FinWait2:    "FIN_WAIT_2",
	TimeWait:    "TIME_WAIT",
}

// String returns netstat's name of the state ("ESTABLISHED"), or "State(n)"
// for a number outside xnu's range.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Conn is one socket.
type Conn struct {
	Proto   uint8          // 6 TCP, 17 UDP
	Local   netip.AddrPort // IPv4 addresses as 4-byte addrs (unmap v4-mapped), IPv6 as 16-byte
	Remote  netip.AddrPort // zero port and unspecified address when unconnected
	State   State
	LastPID int32  // so_last_pid (Linux: the pid whose fd table holds the socket inode; 0 when none)
	EPID    int32  // so_e_pid (Linux: = LastPID)
	UID     uint32 // so_uid (Linux: inet_diag uid)
	Inode   uint64 // Linux socket inode; 0 on macOS

	// DualStack is set for an IPv6 socket bound to the unspecified address
	// without IPV6_V6ONLY, which also receives IPv4 traffic (xnu: inp_vflag
	// has both INP_IPV4 and INP_IPV6; Linux: inet_diag INET_DIAG_SKV6ONLY is
	// 0). Local is then [::]:port. Unknown, hence false, on the Linux
	// /proc/net fallback.
	DualStack bool
}

// Owner returns the attributed pid: EPID when it differs from LastPID and is
// non-zero (delegated socket), else LastPID. On macOS so_e_pid is set only
// for a delegated socket and is otherwise 0 (socreate_internal,
// bsd/kern/uipc_socket.c), which this rule covers.
func (c *Conn) Owner() int32 {
	if c.EPID != 0 && c.EPID != c.LastPID {
		return c.EPID
	}
	return c.LastPID
}

// Stats are a Table's counters since Open. Fields that do not apply to the
// running OS stay zero.
type Stats struct {
	Polls uint64 // successful List calls

	// macOS
	Retries uint64 // sysctl reads retried because the table grew (ENOMEM)

	// Linux
	NetlinkErrors uint64 // inet_diag dumps that failed; that table then reads /proc/net
	ProcNetReads  uint64 // /proc/net/{tcp,tcp6,udp,udp6} files parsed
	FDScans       uint64 // /proc/<pid>/fd directories read to find socket owners
	FDScanErrors  uint64 // /proc/<pid>/fd directories that could not be read (exited, EACCES)
	Unowned       int    // sockets with a non-zero inode and no owner found, in the last List
}
