package socket

import (
	"errors"
	"fmt"
	"syscall"
	_ "unsafe" // for go:linkname
)

// sysctl is the standard library's raw sysctl(3) wrapper (libSystem, no cgo).
// It is linknamed rather than using unix.SysctlRaw so that the read goes into
// a buffer reused across polls: SysctlRaw resolves the name and allocates a
// fresh buffer on every call. The standard library keeps the symbol for
// exactly this use (src/syscall/linkname_bsd.go: "golang.org/x/net linknames
// sysctl. Do not remove or change the type signature", go.dev/issue/67401);
// golang.org/x/net/route declares it the same way.
//
//go:linkname sysctl syscall.sysctl
func sysctl(mib []int32, old *byte, oldlen *uintptr, new *byte, newlen uintptr) error

// pcblists are the two sysctls, in the order List reads them.
var pcblists = [...]struct {
	name  string
	proto uint8
}{
	{"net.inet.tcp.pcblist_n", TCP},
	{"net.inet.udp.pcblist_n", UDP},
}

const (
	// maxAttempts bounds the reads of one sysctl per List: each ENOMEM
	// (the table grew past the buffer) probes the size again and retries.
	maxAttempts = 5
	ctlMaxName  = 12 // CTL_MAXNAME, bsd/sys/sysctl.h
)

// Table reads the kernel's socket table.
type Table struct {
	mibs  [len(pcblists)][]int32
	buf   []byte
	stats Stats
}

// Open resolves the two sysctl names; it reads nothing yet.
func Open() (*Table, error) {
	t := &Table{}
	for i, p := range pcblists {
		mib, err := nameToMIB(p.name)
		if err != nil {
			return nil, fmt.Errorf("socket: sysctl %s: %w", p.name, err)
		}
		t.mibs[i] = mib
	}
	return t, nil
}

// List appends every TCP and UDP socket, IPv4 and IPv6, to dst. On error dst
// is returned unchanged.
func (t *Table) List(dst []Conn) ([]Conn, error) {
	n0 := len(dst)
	for i, p := range pcblists {
		b, err := t.read(t.mibs[i])
		if err != nil {
			return dst[:n0], fmt.Errorf("socket: sysctl %s: %w", p.name, err)
		}
		if dst, err = DecodePcblist(b, p.proto, dst); err != nil {
			return dst[:n0], err
		}
	}
	t.stats.Polls++
	return dst, nil
}

// Stats returns the counters since Open.
func (t *Table) Stats() Stats { return t.stats }

// Close releases the buffer. The Table holds no descriptor.
func (t *Table) Close() error {
	t.buf = nil
	return nil
}

// read returns the sysctl's value in t.buf. It first reads into the buffer
// kept from the previous poll; only when that is too small (ENOMEM, xnu's
// sysctl_old_user) does it ask for the size and grow the buffer.
// get_pcblist_n's size estimate already carries n/8 spare sockets.
func (t *Table) read(mib []int32) ([]byte, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if len(t.buf) > 0 {
			n := uintptr(len(t.buf))
			err := sysctl(mib, &t.buf[0], &n, nil, 0)
			if err == nil {
				if n > uintptr(len(t.buf)) {
					return nil, fmt.Errorf("sysctl wrote %d bytes into %d", n, len(t.buf))
				}
				return t.buf[:n], nil
			}
			if !errors.Is(err, syscall.ENOMEM) {
				return nil, err
			}
			t.stats.Retries++
		}
		var need uintptr
		if err := sysctl(mib, nil, &need, nil, 0); err != nil {
			return nil, err
		}
		if size := int(need + need/4 + 4096); size > len(t.buf) {
			t.buf = make([]byte, size)
		}
	}
	return nil, fmt.Errorf("table still growing after %d attempts: %w", maxAttempts, syscall.ENOMEM)
}

// nameToMIB resolves a sysctl name to its numeric form with the kernel's
// name2oid node {0, 3} (sysctl_sysctl_name2oid, bsd/kern/kern_newsysctl.c),
// as sysctlnametomib(3) does. The net.inet.*.pcblist_n nodes are OID_AUTO, so
// their numbers differ between boots and must be looked up.
func nameToMIB(name string) ([]int32, error) {
	var out [(ctlMaxName + 2) * 4]byte // the kernel may write 2 words past CTL_MAXNAME
	n := uintptr(ctlMaxName * 4)
	in := []byte(name)
	if err := sysctl([]int32{0, 3}, &out[0], &n, &in[0], uintptr(len(in))); err != nil {
		return nil, err
	}
	if n == 0 || n%4 != 0 || n > ctlMaxName*4 {
		return nil, fmt.Errorf("name2oid returned %d bytes", n)
	}
	mib := make([]int32, n/4)
	for i := range mib {
		mib[i] = int32(le.Uint32(out[4*i:]))
	}
	return mib, nil
}
