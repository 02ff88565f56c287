package procevents

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// rcvBuf is the receive buffer asked for the netlink socket. A proc_event
// message is 76 bytes of payload but costs an skb (~768 bytes of
// truesize) in the socket's budget; 4 MiB holds some 5,000 events, a few
// seconds of a fork storm, before the kernel drops and reports ENOBUFS.
const rcvBuf = 4 << 20

// Source reads the Linux process connector. Read is for one goroutine;
// Close and Stats may be called from any.
type Source struct {
	f  *os.File // the netlink socket, non-blocking, in Go's poller
	rc interface {
		Read(func(uintptr) bool) error
	}
	buf    []byte
	mono   int64 // CLOCK_REALTIME − CLOCK_MONOTONIC at Open, ns
	closed atomic.Bool
	c      counters
	// raw, if set (by the fixture capture test), sees every datagram.
	raw func(b []byte)
}

// Open subscribes to the process connector. It needs CAP_NET_ADMIN in the
// initial user and pid namespaces: netlink_bind refuses the CN_IDX_PROC
// group to others (the connector does not set NL_CFG_F_NONROOT_RECV,
// net/netlink/af_netlink.c), and cn_proc_mcast_ctl ignores listen requests
// from other namespaces without an error (drivers/connector/cn_proc.c): a
// socket opened there would stay silent, so Open checks the namespaces
// first and refuses with ErrNamespace.
func Open() (*Source, error) {
	if err := checkInitNamespaces(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("procevents: netlink connector socket: %w", err)
	}
	fail := func(what string, err error) (*Source, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("procevents: %s: %w", what, err)
	}
	// SO_RCVBUFFORCE passes rmem_max as root; SO_RCVBUF is the fallback.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fail("bind to the process connector group (CAP_NET_ADMIN needed)", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fail("getsockname", errors.New("not a netlink address"))
	}
	if err := unix.Sendto(fd, ListenRequest(nl.Pid, true), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("send PROC_CN_MCAST_LISTEN", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-connector")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("procevents: %w", err)
	}
	var rt, mt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mt)
	return &Source{f: f, rc: rc, buf: make([]byte, 64<<10), mono: rt.Nano() - mt.Nano()}, nil
}

// ErrNamespace is Open's error outside the initial pid or user namespace
// (a container), where the kernel accepts a listen request and never
// sends an event.
var ErrNamespace = errors.New("procevents: the process connector sends events only to the initial pid and user namespaces, and this process runs in a container's")

// The inode numbers of the initial namespaces are fixed
// (PROC_USER_INIT_INO and PROC_PID_INIT_INO, include/linux/proc_ns.h);
// every other namespace gets a fresh one.
const (
	initUserNSIno = 0xEFFFFFFD
	initPidNSIno  = 0xEFFFFFFC
)

// checkInitNamespaces returns ErrNamespace when /proc/self/ns/pid or
// /proc/self/ns/user is not the initial namespace. (The NSpid line of
// /proc/self/status cannot tell: a container's own /proc shows only the
// levels from its namespace down.) A kernel without /proc/self/ns (before
// 3.8) is not refused: Open then behaves as before.
func checkInitNamespaces() error {
	for _, c := range []struct {
		path string
		ino  uint64
	}{{"/proc/self/ns/pid", initPidNSIno}, {"/proc/self/ns/user", initUserNSIno}} {
		var st unix.Stat_t
		if unix.Stat(c.path, &st) == nil && st.Ino != c.ino {
			return fmt.Errorf("%w (%s is namespace %d)", ErrNamespace, c.path, st.Ino)
		}
	}
	return nil
}

// Read blocks until the kernel sends events and appends them to dst[:0].
// It returns ErrLost (with no events) when the kernel dropped some, and
// ErrClosed once Close was called. Messages not from the kernel (another
// process may send to this socket's port id) are dropped and counted.
func (s *Source) Read(dst []Event) ([]Event, error) {
	dst = dst[:0]
	for {
		if s.closed.Load() {
			return dst, ErrClosed
		}
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := s.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), s.buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if s.closed.Load() || errors.Is(err, os.ErrClosed) {
				return dst, ErrClosed
			}
			return dst, fmt.Errorf("procevents: read: %w", err)
		}
		if rerr != nil {
			if rerr == unix.ENOBUFS {
				s.c.lost.Add(1)
				return dst, ErrLost
			}
			if rerr == unix.EINTR {
				continue
			}
			return dst, fmt.Errorf("procevents: recvfrom: %w", rerr)
		}
		s.c.messages.Add(1)
		if s.raw != nil {
			s.raw(s.buf[:n])
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			s.c.spoofed.Add(1)
			continue
		}
		k := len(dst)
		var ignored int
		dst, ignored, err = ParseConnector(s.buf[:n], dst)
		s.c.ignored.Add(uint64(ignored))
		if err != nil {
			s.c.malformed.Add(1)
		}
		for i := k; i < len(dst); i++ {
			dst[i].Time += s.mono
		}
		if len(dst) > 0 {
			s.c.events.Add(uint64(len(dst)))
			return dst, nil
		}
	}
}

// Close stops the source; a blocked Read returns ErrClosed.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("procevents: close: %w", err)
	}
	return nil
}

// Stats returns the counters.
func (s *Source) Stats() Stats { return s.c.snapshot() }

// ReportsEveryExec reports true: the connector sends an exec event for every
// exec of every process (drivers/connector/cn_proc.c, proc_exec_connector,
// called from exec_binprm), so a forked child need not be read before it.
func (s *Source) ReportsEveryExec() bool { return true }
