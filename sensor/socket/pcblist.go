package socket

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The output of net.inet.{tcp,udp}.pcblist_n (xnu bsd/netinet/in_pcblist.c,
// get_pcblist_n) is a stream of records, each starting with u32 len, u32 kind
// and followed by the next record at ROUNDUP64(len):
//
//	xinpgen                      header: xig_len, xig_count, xig_gen, xig_sogen
//	per socket:
//	  xinpcb_n     XSO_INPCB     ports, inp_gencnt, inp_vflag, addresses
//	  xsocket_n    XSO_SOCKET    xso_protocol, xso_family, so_uid, so_last_pid, so_e_pid
//	  xsockbuf_n   XSO_RCVBUF
//	  xsockbuf_n   XSO_SNDBUF
//	  xsockstat_n  XSO_STATS
//	  xtcpcb_n     XSO_TCPCB     t_state (TCP only)
//	xinpgen                      trailer, written only when there was a socket
//
// The structs are declared under #pragma pack(4) (bsd/netinet/in_pcb.h,
// bsd/sys/socketvar.h, bsd/netinet/tcp_var.h), so a u64 may sit at a 4-aligned
// offset: fields are read with encoding/binary at the named offsets below,
// never through a Go struct. Their sizes changed across releases (xsocket_n is
// 76 bytes on macOS 11 and 12 and 104 from macOS 13), so the decoder never
// assumes a size: it dispatches on kind and advances by the record's len.
// All integers other than ports are little-endian on both Mac architectures.

var le = binary.LittleEndian

// Record kinds (bsd/sys/socketvar.h XSO_*).
const (
	xsoSocket = 0x001
	xsoRcvbuf = 0x002
	xsoSndbuf = 0x004
	xsoStats  = 0x008
	xsoInpcb  = 0x010
	xsoTcpcb  = 0x020
)

// struct xinpgen (bsd/netinet/in_pcb.h).
const (
	xinpgenLen  = 24 // sizeof(struct xinpgen)
	offGenCount = 4  // u32 xig_count
	offGenGen   = 8  // u64 xig_gen (inp_gen_t)
)

// Every record: u32 len, u32 kind.
const (
	offRecLen  = 0
	offRecKind = 4
	recHdrLen  = 8
)

// struct xinpcb_n (bsd/netinet/in_pcb.h).
const (
	offInpFport  = 16 // u16 inp_fport, network byte order
	offInpLport  = 18 // u16 inp_lport, network byte order
	offInpGencnt = 28 // u64 inp_gencnt, 4-aligned
	offInpVflag  = 44 // u8 inp_vflag
	offInpFaddr  = 48 // inp_dependfaddr: in6_addr, or in_addr_4in6 whose IPv4 part is at +12
	offInpFaddr4 = 60
	offInpLaddr  = 64 // inp_dependladdr, same layout
	offInpLaddr4 = 76
	minInpcbLen  = 80 // through the local address
)

// struct xsocket_n (bsd/sys/socketvar.h).
const (
	offSoProtocol = 36 // int xso_protocol
	offSoFamily   = 40 // int xso_family
	offSoUID      = 64 // uid_t so_uid
	offSoLastPID  = 68 // pid_t so_last_pid
	offSoEPID     = 72 // pid_t so_e_pid
	minSocketLen  = 76 // sizeof(struct xsocket_n) on macOS 11 and 12
)

// struct xtcpcb_n (bsd/netinet/tcp_var.h).
const (
	offTState   = 36 // int t_state
	minTcpcbLen = 40
)

// inp_vflag bits (bsd/netinet/in_pcb.h) and address families
// (bsd/sys/socket.h).
const (
	inpIPv4      = 0x1
	inpIPv6      = 0x2
	darwinInet   = 2
	darwinInet6  = 30
	maxXnuTState = int32(TimeWait)
)

func align8(n int) int { return (n + 7) &^ 7 }

// pcbItem holds the records of one socket while its group is read.
type pcbItem struct {
	off int    // offset of the xinpcb_n record, for errors
	inp []byte // xinpcb_n; nil when no group is open
	so  []byte // xsocket_n
	tcp []byte // xtcpcb_n
}

// DecodePcblist decodes one net.inet.{tcp,udp}.pcblist_n buffer (untagged,
// pure Go) and appends a Conn per socket to dst; proto is 6 or 17, the
// protocol of the sysctl the buffer came from.
//
// A socket whose inp_gencnt is greater than the header's xig_gen was created
// while the kernel copied the list and is skipped, as netstat does. A socket
// of another protocol (xso_protocol set and different from proto) is skipped.
// On error dst is returned unchanged: a malformed buffer yields no Conn.
func DecodePcblist(buf []byte, proto uint8, dst []Conn) ([]Conn, error) {
	n0 := len(dst)
	dst, err := decodePcblist(buf, proto, dst)
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

func decodePcblist(buf []byte, proto uint8, dst []Conn) ([]Conn, error) {
	if len(buf) < xinpgenLen {
		return dst, fmt.Errorf("socket: pcblist: truncated: %d bytes, header needs %d", len(buf), xinpgenLen)
	}
	hlen := le.Uint32(buf[offRecLen:])
	if hlen < xinpgenLen || uint64(hlen) > uint64(len(buf)) {
		return dst, fmt.Errorf("socket: pcblist: header length %d outside [%d, %d]", hlen, xinpgenLen, len(buf))
	}
	gen := le.Uint64(buf[offGenGen:])
	off := align8(int(hlen))
	if off >= len(buf) && le.Uint32(buf[offGenCount:]) == 0 {
		// No socket: get_pcblist_n returns after the header, with no trailer.
		return dst, nil
	}

	var item pcbItem
	for {
		if len(buf)-off < recHdrLen {
			return dst, fmt.Errorf("socket: pcblist: truncated at offset %d of %d: no trailing xinpgen", off, len(buf))
		}
		rlen := le.Uint32(buf[off+offRecLen:])
		kind := le.Uint32(buf[off+offRecKind:])
		if rlen < recHdrLen {
			return dst, fmt.Errorf("socket: pcblist: record at offset %d: length %d < %d", off, rlen, recHdrLen)
		}
		if uint64(rlen) > uint64(len(buf)-off) {
			return dst, fmt.Errorf("socket: pcblist: record at offset %d: length %d runs past the end (%d bytes left)", off, rlen, len(buf)-off)
		}
		n := int(rlen)
		if n <= xinpgenLen {
			// The trailing xinpgen: netstat (network_cmds inet.c) ends the
			// list at the first record no longer than struct xinpgen, as no
			// per-socket record is that short.
			var err error
			if dst, err = item.flush(dst, proto, gen); err != nil {
				return dst, err
			}
			if end := align8(off + n); end < len(buf) {
				return dst, fmt.Errorf("socket: pcblist: %d bytes of trailing garbage after the trailer at offset %d", len(buf)-end, off)
			}
			return dst, nil
		}
		rec := buf[off : off+n]
		switch kind {
		case xsoInpcb:
			var err error
			if dst, err = item.flush(dst, proto, gen); err != nil {
				return dst, err
			}
			item = pcbItem{off: off, inp: rec}
		case xsoSocket, xsoTcpcb, xsoRcvbuf, xsoSndbuf, xsoStats:
			if item.inp == nil {
				return dst, fmt.Errorf("socket: pcblist: record of kind %#x at offset %d before any xinpcb_n", kind, off)
			}
			switch kind {
			case xsoSocket:
				if item.so != nil {
					return dst, fmt.Errorf("socket: pcblist: socket at offset %d: second xsocket_n at offset %d", item.off, off)
				}
				item.so = rec
			case xsoTcpcb:
				if item.tcp != nil {
					return dst, fmt.Errorf("socket: pcblist: socket at offset %d: second xtcpcb_n at offset %d", item.off, off)
				}
				item.tcp = rec
			}
		default:
			// A kind this decoder does not know (a newer kernel): skipped by
			// its length like the buffers and statistics.
		}
		off += align8(n)
	}
}

// flush appends the Conn of the open group, if any, and closes it.
func (it *pcbItem) flush(dst []Conn, proto uint8, gen uint64) ([]Conn, error) {
	if it.inp == nil {
		return dst, nil
	}
	inp, so, tcp, off := it.inp, it.so, it.tcp, it.off
	*it = pcbItem{}
	if so == nil {
		return dst, fmt.Errorf("socket: pcblist: socket at offset %d: no xsocket_n", off)
	}
	if len(inp) < minInpcbLen {
		return dst, fmt.Errorf("socket: pcblist: socket at offset %d: xinpcb_n is %d bytes, need %d", off, len(inp), minInpcbLen)
	}
	if len(so) < minSocketLen {
		return dst, fmt.Errorf("socket: pcblist: socket at offset %d: xsocket_n is %d bytes, need %d", off, len(so), minSocketLen)
	}
	if tcp != nil && len(tcp) < minTcpcbLen {
		return dst, fmt.Errorf("socket: pcblist: socket at offset %d: xtcpcb_n is %d bytes, need %d", off, len(tcp), minTcpcbLen)
	}

	// Freed and reallocated while the kernel copied the list
	// (in_pcblist.c compares inp_gencnt with the generation it put in the
	// header; netstat skips these too).
	if le.Uint64(inp[offInpGencnt:]) > gen {
		return dst, nil
	}
	if p := int32(le.Uint32(so[offSoProtocol:])); p != 0 && p != int32(proto) {
		return dst, nil
	}

	// The family comes from inp_vflag, not xso_family: the user-space flows
	// that macOS 12 and later append to the list (ntstat.c,
	// nstat_userland_list_snapshot) leave xso_family 0.
	//
	// Dual stack (INP_IPV4|INP_IPV6) is an AF_INET6 socket bound to the
	// unspecified address without IPV6_V6ONLY (tcp6_usr_bind in
	// bsd/netinet/tcp_usrreq.c, udp6_bind and udp6_attach in
	// bsd/netinet6/udp6_usrreq.c); binding or connecting it to an IPv4-mapped
	// address clears INP_IPV6 and moves it to the IPv4 fields, and an IPv4
	// connection accepted on such a listener is plain INP_IPV4
	// (tcp_input.c). So a dual-stack pcb is a wildcard listener or an
	// unconnected datagram socket whose address lives in the in6_addr view:
	// it is reported as IPv6 ([::]:port), the socket's real family, with
	// DualStack set. The kernel reads it the same way: nstat_tcp_copy_descriptor
	// and nstat_udp_copy_descriptor (bsd/net/ntstat.c) test INP_IPV6 first.
	var v6 bool
	vflag := inp[offInpVflag]
	switch {
	case vflag&inpIPv6 != 0:
		v6 = true
	case vflag&inpIPv4 != 0:
	default:
		switch le.Uint32(so[offSoFamily:]) {
		case darwinInet6:
			v6 = true
		case darwinInet:
		default:
			return dst, nil // not an internet pcb: nothing to report
		}
	}

	c := Conn{
		Proto:     proto,
		Local:     netip.AddrPortFrom(pcbAddr(inp, offInpLaddr, offInpLaddr4, v6), be16(inp[offInpLport:])),
		Remote:    netip.AddrPortFrom(pcbAddr(inp, offInpFaddr, offInpFaddr4, v6), be16(inp[offInpFport:])),
		UID:       le.Uint32(so[offSoUID:]),
		LastPID:   int32(le.Uint32(so[offSoLastPID:])),
		EPID:      int32(le.Uint32(so[offSoEPID:])),
		DualStack: vflag&(inpIPv4|inpIPv6) == inpIPv4|inpIPv6,
	}
	if proto == TCP && tcp != nil {
		// t_state is an int; a value outside xnu's TCPS_* range is not a
		// state this package can name and is reported as Closed.
		if s := int32(le.Uint32(tcp[offTState:])); s >= 0 && s <= maxXnuTState {
			c.State = State(s)
		}
	}
	return append(dst, c), nil
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// pcbAddr reads the 16-byte address at off16 (IPv6) or its IPv4 part at off4.
//
// xnu keeps KAME's embedded scope: the interface index of a link-local or
// interface/link-local multicast address sits in bytes 2-3 of the in6_addr
// (IN6_IS_SCOPE_EMBED, bsd/netinet6/in6.h; netstat's inet6print clears it
// before printing). Those bytes are zero in every real such address, so they
// are cleared; the zone is not kept, because ECS ip fields take no zone.
func pcbAddr(inp []byte, off16, off4 int, v6 bool) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte(inp[off4 : off4+4]))
	}
	a := [16]byte(inp[off16 : off16+16])
	if scopeEmbedded(a) {
		a[2], a[3] = 0, 0
	}
	return netip.AddrFrom16(a).Unmap()
}

// scopeEmbedded reports IN6_IS_SCOPE_EMBED: fe80::/10, ff01::/16 (interface-
// local multicast) and ff02::/16 (link-local multicast).
func scopeEmbedded(a [16]byte) bool {
	return (a[0] == 0xfe && a[1]&0xc0 == 0x80) ||
		(a[0] == 0xff && (a[1]&0x0f == 0x01 || a[1]&0x0f == 0x02))
}
