//go:build linux

package capture

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel's checker (net/core/filter.c, bpf_check_classic) accepts every
// program, the xnu variants included: attaching a filter to an ordinary
// UDP socket needs no privilege.
func TestFilterKernelAccepts(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no UDP socket: %v", err)
	}
	defer unix.Close(fd)
	for _, l := range links {
		for _, pktType := range []bool{true, false} {
			prog := mustFilter(t, l.link, pktType)
			f := make([]unix.SockFilter, len(prog))
			for i, in := range prog {
				f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
			}
			fp := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
			if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
				t.Errorf("%s pktType=%v: kernel rejected the program: %v", l.name, pktType, err)
			}
		}
	}
	// And the checker does reject a broken one, so the test means something.
	bad := []unix.SockFilter{{Code: bpfJMP | bpfJEQ | bpfK, Jt: 5, Jf: 5}}
	fp := unix.SockFprog{Len: 1, Filter: &bad[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err == nil {
		t.Error("kernel accepted a program jumping past its end")
	}
}
