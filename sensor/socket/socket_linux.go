package socket

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// linuxTables are the four (family, protocol) dumps of a poll, with the
// /proc/net file each falls back to.
var linuxTables = [...]struct {
	family uint8
	proto  uint8
	v6     bool
	path   string
}{
	{linuxInet, TCP, false, "/proc/net/tcp"},
	{linuxInet6, TCP, true, "/proc/net/tcp6"},
	{linuxInet, UDP, false, "/proc/net/udp"},
	{linuxInet6, UDP, true, "/proc/net/udp6"},
}

const (
	// diagBufLen holds one dump datagram: netlink_dump fills at most
	// SKB_WITH_OVERHEAD(32768) bytes per skb (net/netlink/af_netlink.c).
	diagBufLen = 64 << 10
	// diagTimeout bounds a read of the dump (SO_RCVTIMEO); a dump that
	// stalls fails over to /proc/net instead of blocking the poller.
	diagTimeoutSec = 5
)

// Table reads the kernel's socket table.
type Table struct {
	nl      int // NETLINK_SOCK_DIAG socket, -1 when unavailable
	seq     uint32
	req     []byte
	rbuf    []byte
	useProc [len(linuxTables)]bool // this table reads /proc/net
	procFD  [len(linuxTables)]int  // open /proc/net files, -1 until first use
	pbuf    []byte

	proc   *procFS
	owners *owners
	stats  Stats
}

// Open opens a NETLINK_SOCK_DIAG socket and /proc. If netlink is not
// available the Table reads /proc/net instead.
func Open() (*Table, error) { return open(true) }

func open(useNetlink bool) (*Table, error) {
	proc, err := openProcFS("/proc")
	if err != nil {
		return nil, err
	}
	t := &Table{
		nl:     -1,
		req:    make([]byte, 0, nlmsgHdrLen+inetDiagReqV2Len),
		proc:   proc,
		owners: newOwners(proc),
	}
	for i := range t.procFD {
		t.procFD[i] = -1
	}
	if useNetlink {
		t.nl, err = openDiag()
	}
	if !useNetlink || err != nil {
		for i := range t.useProc {
			t.useProc[i] = true
		}
		if err != nil {
			t.stats.NetlinkErrors++
		}
	} else {
		t.rbuf = make([]byte, diagBufLen)
	}
	return t, nil
}

func openDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, err
	}
	tv := unix.Timeval{Sec: diagTimeoutSec}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// List appends every TCP and UDP socket, IPv4 and IPv6, to dst, with its
// owner's pid in LastPID and EPID. A table whose inet_diag dump fails is read
// from /proc/net from then on (counted in Stats.NetlinkErrors). On error dst
// is returned unchanged.
func (t *Table) List(dst []Conn) ([]Conn, error) {
	n0 := len(dst)
	for i, tb := range linuxTables {
		if !t.useProc[i] {
			var err error
			if dst, err = t.dump(tb.family, tb.proto, dst); err == nil {
				continue
			}
			t.useProc[i] = true
			t.stats.NetlinkErrors++
		}
		var err error
		if dst, err = t.readProcNet(i, dst); err != nil {
			return dst[:n0], err
		}
	}
	if err := t.owners.resolve(dst[n0:]); err != nil {
		return dst[:n0], err
	}
	t.stats.Polls++
	return dst, nil
}

// dump runs one inet_diag dump. On error dst is returned unchanged.
func (t *Table) dump(family, proto uint8, dst []Conn) ([]Conn, error) {
	n0 := len(dst)
	t.seq++
	t.req = appendDiagRequest(t.req[:0], family, proto, t.seq)
	for {
		_, err := unix.Write(t.nl, t.req)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return dst, fmt.Errorf("socket: inet_diag request: %w", err)
		}
	}
	for {
		n, err := unix.Read(t.nl, t.rbuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst[:n0], fmt.Errorf("socket: inet_diag read: %w", err)
		}
		var done bool
		if dst, done, err = parseDiag(t.rbuf[:n], proto, t.seq, dst); err != nil {
			return dst[:n0], err
		}
		if done {
			return dst, nil
		}
	}
}

// readProcNet parses /proc/net/{tcp,tcp6,udp,udp6}. The file stays open; a
// pread from offset 0 restarts the seq_file (fs/seq_file.c seq_read_iter).
func (t *Table) readProcNet(i int, dst []Conn) ([]Conn, error) {
	tb := linuxTables[i]
	if t.procFD[i] < 0 {
		fd, err := unix.Open(tb.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return dst, fmt.Errorf("socket: open %s: %w", tb.path, err)
		}
		t.procFD[i] = fd
	}
	if t.pbuf == nil {
		t.pbuf = make([]byte, 64<<10)
	}
	n := 0
	for {
		if n == len(t.pbuf) {
			t.pbuf = append(t.pbuf, make([]byte, len(t.pbuf))...)
		}
		m, err := unix.Pread(t.procFD[i], t.pbuf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("socket: read %s: %w", tb.path, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	t.stats.ProcNetReads++
	return parseProcNet(t.pbuf[:n], tb.proto, tb.v6, dst)
}

// Stats returns the counters since Open.
func (t *Table) Stats() Stats {
	s := t.stats
	s.FDScans = t.owners.scans
	s.FDScanErrors = t.owners.errs
	s.Unowned = t.owners.unowned
	return s
}

// Close closes the netlink socket and the /proc descriptors.
func (t *Table) Close() error {
	var errs []error
	if t.nl >= 0 {
		errs = append(errs, unix.Close(t.nl))
		t.nl = -1
	}
	for i, fd := range t.procFD {
		if fd >= 0 {
			errs = append(errs, unix.Close(fd))
			t.procFD[i] = -1
		}
	}
	errs = append(errs, t.proc.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("socket: close: %w", err)
	}
	return nil
}
