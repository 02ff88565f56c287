package socket

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// NETLINK_SOCK_DIAG inet_diag (include/uapi/linux/inet_diag.h,
// include/uapi/linux/sock_diag.h, include/uapi/linux/netlink.h): a
// SOCK_DIAG_BY_FAMILY request with NLM_F_DUMP is answered by datagrams of
// netlink messages, one inet_diag_msg per socket, ended by NLMSG_DONE.
// Netlink headers and inet_diag_msg's uid and inode are in host byte order;
// the ports and addresses of inet_diag_sockid are in network byte order.
// This file is untagged so that its decoder is tested on every OS; only
// socket_linux.go sends and receives.

var ne = binary.NativeEndian

const (
	nlmsgHdrLen = 16 // struct nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid
	offNlLen    = 0
	offNlType   = 4
	offNlFlags  = 6
	offNlSeq    = 8

	nlmsgNoop  = 1
	nlmsgError = 2
	nlmsgDone  = 3

	nlmFRequest = 0x1
	nlmFDump    = 0x300 // NLM_F_ROOT | NLM_F_MATCH

	sockDiagByFamily = 20

	// struct inet_diag_req_v2: u8 family, u8 protocol, u8 ext, u8 pad,
	// u32 states, struct inet_diag_sockid id (48 bytes).
	inetDiagReqV2Len = 56
	offReqFamily     = 0
	offReqProtocol   = 1
	offReqStates     = 4

	// struct inet_diag_msg: u8 family, u8 state, u8 timer, u8 retrans,
	// inet_diag_sockid id {be16 sport, be16 dport, be32 src[4], be32 dst[4],
	// u32 if, u32 cookie[2]}, u32 expires, rqueue, wqueue, uid, inode.
	inetDiagMsgLen = 72
	offDiagFamily  = 0
	offDiagState   = 1
	offDiagSport   = 4
	offDiagDport   = 6
	offDiagSrc     = 8
	offDiagDst     = 24
	offDiagUID     = 64
	offDiagInode   = 68

	rtaHdrLen        = 4  // struct rtattr: u16 len, u16 type
	inetDiagSkV6Only = 11 // INET_DIAG_SKV6ONLY, a u8; sent for AF_INET6 sockets in LISTEN or CLOSE

	linuxInet  = 2  // AF_INET
	linuxInet6 = 10 // AF_INET6
)

func align4(n int) int { return (n + 3) &^ 3 }

// appendDiagRequest appends a SOCK_DIAG_BY_FAMILY dump request for every
// socket of family and proto in every state.
func appendDiagRequest(b []byte, family, proto uint8, seq uint32) []byte {
	start := len(b)
	b = append(b, make([]byte, nlmsgHdrLen+inetDiagReqV2Len)...)
	m := b[start:]
	ne.PutUint32(m[offNlLen:], nlmsgHdrLen+inetDiagReqV2Len)
	ne.PutUint16(m[offNlType:], sockDiagByFamily)
	ne.PutUint16(m[offNlFlags:], nlmFRequest|nlmFDump)
	ne.PutUint32(m[offNlSeq:], seq)
	r := m[nlmsgHdrLen:]
	r[offReqFamily] = family
	r[offReqProtocol] = proto
	ne.PutUint32(r[offReqStates:], 0xffffffff) // all states; the kernel masks unknown bits
	return b
}

// parseDiag decodes one datagram of the reply to the dump numbered seq and
// appends a Conn per socket to dst; proto is the requested protocol. done
// reports NLMSG_DONE. Messages of another sequence number (left over from
// an abandoned dump) are skipped. On error dst is returned unchanged.
func parseDiag(b []byte, proto uint8, seq uint32, dst []Conn) (_ []Conn, done bool, err error) {
	n0 := len(dst)
	for off := 0; off < len(b); {
		if len(b)-off < nlmsgHdrLen {
			return dst[:n0], false, fmt.Errorf("socket: inet_diag: truncated netlink header at offset %d of %d", off, len(b))
		}
		l := ne.Uint32(b[off+offNlLen:])
		if l < nlmsgHdrLen || uint64(l) > uint64(len(b)-off) {
			return dst[:n0], false, fmt.Errorf("socket: inet_diag: message at offset %d: length %d outside [%d, %d]", off, l, nlmsgHdrLen, len(b)-off)
		}
		m := b[off : off+int(l)]
		off += align4(int(l))
		if ne.Uint32(m[offNlSeq:]) != seq {
			continue
		}
		p := m[nlmsgHdrLen:]
		switch typ := ne.Uint16(m[offNlType:]); typ {
		case nlmsgDone:
			return dst, true, nil
		case nlmsgError:
			if len(p) < 4 {
				return dst[:n0], false, fmt.Errorf("socket: inet_diag: truncated NLMSG_ERROR")
			}
			e := int32(ne.Uint32(p))
			if e == 0 { // an acknowledgement, not an error
				continue
			}
			return dst[:n0], false, fmt.Errorf("socket: inet_diag: %w", syscall.Errno(-e))
		case nlmsgNoop:
		case sockDiagByFamily:
			c, err := parseDiagMsg(p, proto)
			if err != nil {
				return dst[:n0], false, err
			}
			dst = append(dst, c)
		default:
			return dst[:n0], false, fmt.Errorf("socket: inet_diag: unexpected message type %d", typ)
		}
	}
	return dst, false, nil
}

func parseDiagMsg(p []byte, proto uint8) (Conn, error) {
	if len(p) < inetDiagMsgLen {
		return Conn{}, fmt.Errorf("socket: inet_diag: inet_diag_msg is %d bytes, need %d", len(p), inetDiagMsgLen)
	}
	var v6 bool
	switch f := p[offDiagFamily]; f {
	case linuxInet:
	case linuxInet6:
		v6 = true
	default:
		return Conn{}, fmt.Errorf("socket: inet_diag: address family %d", f)
	}
	c := Conn{
		Proto:  proto,
		Local:  netip.AddrPortFrom(diagAddr(p[offDiagSrc:], v6), be16(p[offDiagSport:])),
		Remote: netip.AddrPortFrom(diagAddr(p[offDiagDst:], v6), be16(p[offDiagDport:])),
		UID:    ne.Uint32(p[offDiagUID:]),
		Inode:  uint64(ne.Uint32(p[offDiagInode:])),
	}
	if proto == TCP {
		c.State = linuxTCPState(p[offDiagState])
	}
	if v6 {
		v6only, ok, err := diagV6Only(p[align4(inetDiagMsgLen):])
		if err != nil {
			return Conn{}, err
		}
		c.DualStack = ok && !v6only && c.Local.Addr().IsUnspecified()
	}
	return c, nil
}

// diagAddr reads inet_diag_sockid's src or dst: the first 4 bytes for
// AF_INET, 16 for AF_INET6 (an IPv4-mapped address is unmapped).
func diagAddr(b []byte, v6 bool) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

// diagV6Only looks for INET_DIAG_SKV6ONLY among the attributes after the
// inet_diag_msg; ok is false when the kernel did not send it.
func diagV6Only(attrs []byte) (v6only, ok bool, err error) {
	for off := 0; off < len(attrs); {
		if len(attrs)-off < rtaHdrLen {
			return false, false, fmt.Errorf("socket: inet_diag: truncated attribute at offset %d", off)
		}
		l := int(ne.Uint16(attrs[off:]))
		if l < rtaHdrLen || l > len(attrs)-off {
			return false, false, fmt.Errorf("socket: inet_diag: attribute at offset %d: length %d outside [%d, %d]", off, l, rtaHdrLen, len(attrs)-off)
		}
		if ne.Uint16(attrs[off+2:]) == inetDiagSkV6Only && l > rtaHdrLen {
			return attrs[off+rtaHdrLen] != 0, true, nil
		}
		off += align4(l)
	}
	return false, false, nil
}

// linuxTCPState maps include/net/tcp_states.h to xnu's numbering.
func linuxTCPState(s uint8) State {
	switch s {
	case 1: // TCP_ESTABLISHED
		return Established
	case 2: // TCP_SYN_SENT
		return SynSent
	case 3, 12: // TCP_SYN_RECV, TCP_NEW_SYN_RECV (a request socket)
		return SynReceived
	case 4: // TCP_FIN_WAIT1
		return FinWait1
	case 5: // TCP_FIN_WAIT2
		return FinWait2
	case 6: // TCP_TIME_WAIT
		return TimeWait
	case 8: // TCP_CLOSE_WAIT
		return CloseWait
	case 9: // TCP_LAST_ACK
		return LastAck
	case 10: // TCP_LISTEN
		return Listen
	case 11: // TCP_CLOSING
		return Closing
	default: // TCP_CLOSE (7), TCP_BOUND_INACTIVE (13), unknown
		return Closed
	}
}
