package host

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysGethostuuid is gethostuuid(unsigned char *uuid_buf, const struct
// timespec *timeoutp, int spi): system call 142 in xnu
// bsd/kern/syscalls.master, implemented in bsd/kern/sys_generic.c. The
// kernel answers with IOBSDGetPlatformUUID (iokit/bsddev/IOKitBSDInit.cpp),
// which parses the IOPlatformUUID property of IOPlatformExpertDevice: the
// value `ioreg -rd1 -c IOPlatformExpertDevice` shows and Elastic Agent
// reports as host.id. libSystem's gethostuuid(3) passes spi = 0, as here.
//
// It is issued as a raw system call without cgo: unix.Syscall on darwin
// traps into the kernel directly ($GOROOT/src/syscall/asm_darwin_*.s).
// x/sys has no libSystem wrapper for it (go-sysinfo needs cgo for the same
// call), and a trampoline of our own would need per-architecture assembly;
// see sensor/proc/proc_darwin.go for the same choice. The number is defined
// here rather than taken from x/sys, which marks its darwin SYS_* constants
// deprecated because Apple does not promise them stable; 142 has not
// changed since Mac OS X 10.5.
//
// Never sysctl kern.uuid for host.id: that is the UUID of the kernel
// build, identical on every Mac running the same macOS build.
const sysGethostuuid = 142

// Read returns this machine's identity. On error, Info holds what could be
// read.
func Read() (Info, error) {
	var info Info
	var errs []error

	id, err := hostUUID()
	if err != nil {
		errs = append(errs, err)
	}
	info.ID = id

	if info.Hostname, err = os.Hostname(); err != nil {
		errs = append(errs, fmt.Errorf("host: hostname: %w", err))
	}
	info.Name = info.Hostname

	machine, err := unix.Sysctl("hw.machine")
	if err != nil {
		errs = append(errs, fmt.Errorf("host: sysctl hw.machine: %w", err))
	}
	// sysctl.proc_translated is 1 in a process run by Rosetta; the
	// sysctl does not exist on Macs without Rosetta (ENOENT).
	translated, err := unix.SysctlUint32("sysctl.proc_translated")
	if err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("host: sysctl sysctl.proc_translated: %w", err))
	}
	info.Architecture = architecture(machine, translated == 1)

	// kern.osproductversion answers "10.16" to a binary built against an
	// SDK older than 11 (xnu's SYSTEM_VERSION_COMPAT); Go's linker
	// stamps SDK 12.0 (cmd/link/internal/ld/macho.go), so the real
	// version is returned.
	version, err := unix.Sysctl("kern.osproductversion")
	if err != nil {
		errs = append(errs, fmt.Errorf("host: sysctl kern.osproductversion: %w", err))
	}
	release, err := unix.Sysctl("kern.osrelease")
	if err != nil {
		errs = append(errs, fmt.Errorf("host: sysctl kern.osrelease: %w", err))
	}
	info.OS = darwinOS(version, release)
	return info, errors.Join(errs...)
}

// hostUUID calls gethostuuid with the 5-second timeout go-sysinfo uses: the
// kernel waits for the platform expert to publish the UUID early in boot.
func hostUUID() (string, error) {
	var id [16]byte
	timeout := unix.Timespec{Sec: 5}
	_, _, e := unix.Syscall(sysGethostuuid, uintptr(unsafe.Pointer(&id[0])), uintptr(unsafe.Pointer(&timeout)), 0)
	if e != 0 {
		return "", fmt.Errorf("host: gethostuuid: %w", e)
	}
	if id == ([16]byte{}) {
		return "", errors.New("host: gethostuuid: all-zero UUID")
	}
	return formatUUID(id), nil
}
