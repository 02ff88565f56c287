package socket

import (
	"bytes"
	"fmt"
	"net/netip"
)

// /proc/net/{tcp,tcp6,udp,udp6} (net/ipv4/tcp_ipv4.c get_tcp4_sock,
// net/ipv6/tcp_ipv6.c get_tcp6_sock, net/ipv4/udp.c udp4_format_sock,
// net/ipv6/datagram.c __ip6_dgram_sock_seq_show): a header line, then one line
// per socket whose whitespace-separated fields are
//
//	0 sl  1 local_address  2 rem_address  3 st  4 tx_queue:rx_queue
//	5 tr:tm->when  6 retrnsmt  7 uid  8 timeout  9 inode  ...
//
// An address is ADDR:PORT in hex. ADDR is the in-memory __be32 words of the
// address printed with %08X as host-order integers (one word for IPv4, four
// for IPv6), so each word is decoded as a host-order integer and stored back
// in host order to recover the network bytes. PORT is the port as a number.
// This file is untagged so that the parser is tested on every OS.

const (
	procFieldLocal  = 1
	procFieldRemote = 2
	procFieldState  = 3
	procFieldUID    = 7
	procFieldInode  = 9
)

// parseProcNet appends a Conn per socket line of one /proc/net file; v6
// selects the tcp6/udp6 address format. On error dst is returned unchanged.
func parseProcNet(data []byte, proto uint8, v6 bool, dst []Conn) ([]Conn, error) {
	n0 := len(dst)
	line := 0
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		if line == 1 || len(bytes.TrimSpace(l)) == 0 {
			continue // the header
		}
		c, err := parseProcNetLine(l, proto, v6)
		if err != nil {
			return dst[:n0], fmt.Errorf("socket: /proc/net line %d: %w", line, err)
		}
		dst = append(dst, c)
	}
	return dst, nil
}

func parseProcNetLine(l []byte, proto uint8, v6 bool) (Conn, error) {
	var f [procFieldInode + 1][]byte
	n := 0
	for n < len(f) {
		for len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			l = l[1:]
		}
		if len(l) == 0 {
			break
		}
		end := 0
		for end < len(l) && l[end] != ' ' && l[end] != '\t' {
			end++
		}
		f[n], l = l[:end], l[end:]
		n++
	}
	if n < len(f) {
		return Conn{}, fmt.Errorf("%d fields, need %d", n, len(f))
	}
	local, err := procAddrPort(f[procFieldLocal], v6)
	if err != nil {
		return Conn{}, fmt.Errorf("local address %q: %w", f[procFieldLocal], err)
	}
	remote, err := procAddrPort(f[procFieldRemote], v6)
	if err != nil {
		return Conn{}, fmt.Errorf("remote address %q: %w", f[procFieldRemote], err)
	}
	st, ok := parseUint(f[procFieldState], 16, 8)
	if !ok {
		return Conn{}, fmt.Errorf("state %q", f[procFieldState])
	}
	uid, ok := parseUint(f[procFieldUID], 10, 32)
	if !ok {
		return Conn{}, fmt.Errorf("uid %q", f[procFieldUID])
	}
	inode, ok := parseUint(f[procFieldInode], 10, 64)
	if !ok {
		return Conn{}, fmt.Errorf("inode %q", f[procFieldInode])
	}
	c := Conn{Proto: proto, Local: local, Remote: remote, UID: uint32(uid), Inode: inode}
	if proto == TCP {
		c.State = linuxTCPState(uint8(st))
	}
	return c, nil
}

func procAddrPort(s []byte, v6 bool) (netip.AddrPort, error) {
	i := bytes.IndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	hexAddr, hexPort := s[:i], s[i+1:]
	port, ok := parseUint(hexPort, 16, 16)
	if !ok || len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("bad port")
	}
	words := 1
	if v6 {
		words = 4
	}
	if len(hexAddr) != 8*words {
		return netip.AddrPort{}, fmt.Errorf("address is %d hex digits, want %d", len(hexAddr), 8*words)
	}
	var a [16]byte
	for w := 0; w < words; w++ {
		v, ok := parseUint(hexAddr[8*w:8*w+8], 16, 32)
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("bad hex")
		}
		ne.PutUint32(a[4*w:], uint32(v))
	}
	var addr netip.Addr
	if v6 {
		addr = netip.AddrFrom16(a).Unmap()
	} else {
		addr = netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// parseUint parses a non-empty unsigned number in base 10 or 16 that fits in
// bits, without allocating.
func parseUint(s []byte, base, bits int) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var v uint64
	for _, ch := range s {
		var d uint64
		switch {
		case ch >= '0' && ch <= '9':
			d = uint64(ch - '0')
		case base == 16 && ch >= 'a' && ch <= 'f':
			d = uint64(ch-'a') + 10
		case base == 16 && ch >= 'A' && ch <= 'F':
			d = uint64(ch-'A') + 10
		default:
			return 0, false
		}
		if v > (1<<64-1-d)/uint64(base) {
			return 0, false
		}
		v = v*uint64(base) + d
	}
	if bits < 64 && v >= 1<<bits {
		return 0, false
	}
	return v, true
}
