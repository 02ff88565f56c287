//go:build linux

package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// packetHandle is an AF_PACKET socket bound to one interface (packet(7)),
// read through the runtime poller.
type packetHandle struct {
	f   *os.File
	buf []byte
}

// The ARPHRD_* link types a packet socket reports
// (include/uapi/linux/if_arp.h) that the filter and decoder handle.
const (
	arphrdEther    = 1      // Ethernet
	arphrdPPP      = 512    // PPP: frames start at the IP header
	arphrdRawIP    = 519    // raw IP
	arphrdLoopback = 772    // lo: Ethernet-framed, zero MACs
	arphrdNone     = 0xfffe // tun, WireGuard: frames start at the IP header
)

// recvBuf is the socket receive buffer asked for: room for bursts while
// the reader is scheduled out.
const recvBuf = 4 << 20

// openHandle opens a packet socket on one interface with the filter
// attached before the socket receives anything: it is created with
// protocol 0 (no traffic), bound to learn the link type, given the filter,
// and only then bound to ETH_P_ALL. Capture needs CAP_NET_RAW.
func openHandle(name string) (handle, layers.LinkType, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: %w", name, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: packet socket (needs root or CAP_NET_RAW): %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: bind: %w", name, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: getsockname: %w", name, err)
	}
	ll, isLL := sa.(*unix.SockaddrLinklayer)
	if !isLL {
		return nil, 0, fmt.Errorf("capture: %s: getsockname: not a link-layer address", name)
	}
	var link layers.LinkType
	switch ll.Hatype {
	case arphrdEther, arphrdLoopback:
		link = layers.LinkTypeEthernet
	case arphrdNone, arphrdRawIP, arphrdPPP:
		link = layers.LinkTypeRaw
	default:
		return nil, 0, fmt.Errorf("capture: %s: unsupported link type ARPHRD %d", name, ll.Hatype)
	}
	lh, _ := linkHeaderOf(link)
	prog, err := filterProgram(lh, true)
	if err != nil {
		return nil, 0, err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: attach filter: %w", name, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: bind: %w", name, err)
	}
	// A smaller buffer than asked is not fatal: drops are counted.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuf)
	ok = true
	// The descriptor is non-blocking, so os.NewFile registers it with the
	// runtime poller: Read parks the goroutine, deadlines and Close wake it.
	return &packetHandle{
		f:   os.NewFile(uintptr(fd), "packet:"+name),
		buf: make([]byte, filterSnapLen),
	}, link, nil
}

func (h *packetHandle) read(fn func(frame []byte, ts int64)) error {
	n, err := h.f.Read(h.buf)
	if err != nil {
		return err
	}
	// The socket has no timestamp option set: the read time stands in for
	// the capture time (they differ by the scheduling delay only).
	fn(h.buf[:n], time.Now().UnixNano())
	return nil
}

func (h *packetHandle) interrupt() error { return h.f.SetReadDeadline(time.Unix(1, 0)) }

// kernelDrops reads PACKET_STATISTICS, which the kernel resets on every
// read (net/packet/af_packet.c, packet_getsockopt).
func (h *packetHandle) kernelDrops() (uint64, bool, error) {
	rc, err := h.f.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var st *unix.TpacketStats
	var serr error
	if err := rc.Control(func(fd uintptr) {
		st, serr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); err != nil {
		return 0, false, err
	}
	if serr != nil {
		return 0, false, serr
	}
	return uint64(st.Drops), false, nil
}

func (h *packetHandle) close() error { return h.f.Close() }

// htons converts to network byte order, as packet sockets take protocols.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// newLocalAddrs returns nil: the Linux filter checks direction itself.
func newLocalAddrs() *localAddrs { return nil }
