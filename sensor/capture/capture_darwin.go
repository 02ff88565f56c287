//go:build darwin

// syscall's BPF helpers (SetBpfBuflen, SetBpfInterface, SetBpf, ...) are
// frozen, not broken. The replacement staticcheck names, golang.org/x/net/bpf,
// assembles programs but performs none of these ioctls, and golang.org/x/sys/unix
// exports no BPF ioctl wrappers for darwin; replacing them means raw ioctls
// through unsafe pointers.
//lint:file-ignore SA1019 syscall's BPF ioctl helpers have no maintained replacement (see above)

package capture

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// bpfHandle is a /dev/bpf device attached to one interface (bpf(4); xnu
// bsd/net/bpf.c), read with blocking reads on its own goroutine.
//
// The runtime poller cannot be used: it registers EVFILT_READ and
// EVFILT_WRITE together (runtime/netpoll_kqueue.go) and xnu's bpfkqfilter
// rejects every filter but EVFILT_READ, so os.NewFile would leave the
// device unpolled. Instead reads block with a timeout (BIOCSRTIMEOUT), so
// that interrupt and close are seen within readTimeout, and the descriptor
// is closed only once no read is in flight (a descriptor closed under a
// blocked read could be reused by another open before that read returns).
//
// gopacket's bsdbpf is not used: it panics when no /dev/bpf device is free,
// cannot set a filter (its descriptor is unexported), allocates a buffer
// per read, and pads records to 8 bytes where xnu pads to 4 (bpfbuf.go).
// The ioctls are the syscall package's BSD BPF helpers (syscall/bpf_bsd.go),
// which call ioctl(2) through libSystem without cgo.
type bpfHandle struct {
	fd   int
	buf  []byte
	stop atomic.Bool
	mu   sync.RWMutex // read-held across a read or an ioctl; close write-holds it to close fd
	done bool         // fd closed
}

// readTimeout bounds how long a read blocks without frames: the delay
// before Run notices its context is done.
const readTimeout = 250 * time.Millisecond

// bpfBufLen is the kernel buffer asked for (BIOCSBLEN; xnu caps it at
// BPF_MAXBUFSIZE, 512 KiB). A read must use exactly the size granted:
// bpfread returns EINVAL otherwise.
const bpfBufLen = 512 << 10

// Data-link types (xnu bsd/net/bpf.h).
const (
	dltNull   = 0   // DLT_NULL: lo0, utun: 4-byte address family in host order
	dltEN10MB = 1   // DLT_EN10MB: Ethernet and Wi-Fi
	dltRaw    = 12  // DLT_RAW: raw IP
	dltLoop   = 108 // DLT_LOOP: 4-byte address family in network order
)

// maxBPFDevices bounds the /dev/bpfN probe (xnu creates devices on demand
// up to its bpf_maxdevices, 256 by default).
const maxBPFDevices = 256

func openHandle(name string) (handle, layers.LinkType, error) {
	fd, err := openBPFDevice()
	if err != nil {
		return nil, 0, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	// The buffer size must be set before the interface (bpf(4), BIOCSBLEN).
	n, err := syscall.SetBpfBuflen(fd, bpfBufLen)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCSBLEN: %w", name, err)
	}
	if err := syscall.SetBpfInterface(fd, name); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCSETIF: %w", name, err)
	}
	// Immediate mode: a read returns as soon as a frame is buffered, not
	// when the buffer fills; without frames it returns 0 bytes after the
	// timeout.
	if err := syscall.SetBpfImmediate(fd, 1); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCIMMEDIATE: %w", name, err)
	}
	tv := syscall.NsecToTimeval(int64(readTimeout))
	if err := syscall.SetBpfTimeout(fd, &tv); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCSRTIMEOUT: %w", name, err)
	}
	dlt, err := syscall.BpfDatalink(fd)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCGDLT: %w", name, err)
	}
	var link layers.LinkType
	switch dlt {
	case dltEN10MB:
		link = layers.LinkTypeEthernet
	case dltNull:
		link = layers.LinkTypeNull
	case dltLoop:
		link = layers.LinkTypeLoop
	case dltRaw:
		link = layers.LinkTypeRaw
	default:
		return nil, 0, fmt.Errorf("capture: %s: unsupported data-link type %d", name, dlt)
	}
	lh, _ := linkHeaderOf(link)
	prog, err := filterProgram(lh, false)
	if err != nil {
		return nil, 0, err
	}
	insns := make([]syscall.BpfInsn, len(prog))
	for i, in := range prog {
		insns[i] = syscall.BpfInsn{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	if err := syscall.SetBpf(fd, insns); err != nil {
		return nil, 0, fmt.Errorf("capture: %s: BIOCSETF: %w", name, err)
	}
	ok = true
	return &bpfHandle{fd: fd, buf: make([]byte, n)}, link, nil
}

// openBPFDevice opens the first free /dev/bpfN, read-only. EBUSY means
// another reader holds that one.
func openBPFDevice() (int, error) {
	for i := range maxBPFDevices {
		path := "/dev/bpf" + strconv.Itoa(i)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EBUSY):
			continue
		case errors.Is(err, unix.ENOENT):
			return -1, fmt.Errorf("capture: no free /dev/bpf device (%d busy)", i)
		default:
			return -1, fmt.Errorf("capture: open %s (needs root): %w", path, err)
		}
	}
	return -1, fmt.Errorf("capture: no free /dev/bpf device (%d busy)", maxBPFDevices)
}

// read blocks until frames arrive or the timeout passes (then it returns
// nil having called fn for nothing). The buffer is exactly the size
// BIOCSBLEN granted: bpfread returns EINVAL for any other.
func (h *bpfHandle) read(fn func(frame []byte, ts int64)) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.done || h.stop.Load() {
		return os.ErrClosed
	}
	n, err := unix.Read(h.fd, h.buf)
	switch {
	case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
		return nil
	case err != nil:
		return err
	}
	return walkBPF(h.buf[:n], fn)
}

func (h *bpfHandle) interrupt() error {
	h.stop.Store(true)
	return nil
}

// kernelDrops reads BIOCGSTATS, cumulative since open.
func (h *bpfHandle) kernelDrops() (uint64, bool, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.done {
		return 0, true, os.ErrClosed
	}
	st, err := syscall.BpfStats(h.fd)
	if err != nil {
		return 0, true, err
	}
	return uint64(st.Drop), true, nil
}

// close waits for a read in flight (at most readTimeout) and closes fd.
func (h *bpfHandle) close() error {
	h.stop.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	h.done = true
	return unix.Close(h.fd)
}

// newLocalAddrs: xnu's filter cannot see direction, so SYNs are sorted by
// their source address in user space.
func newLocalAddrs() *localAddrs { return &localAddrs{list: interfaceAddrs} }

// interfaceAddrs lists this host's addresses (for localAddrs).
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
