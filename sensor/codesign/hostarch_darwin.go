package codesign

import (
	"sync"

	"golang.org/x/sys/unix"
)

// hostArch is the architecture native processes run as on this Mac: arm64
// when the CPU is Apple silicon (sysctl hw.optional.arm64 == 1, which an
// x86_64 build of the sensor running under Rosetta also sees), else x86_64.
// The slice of a universal binary that runs is the host's.
var hostArch = sync.OnceValue(func() string {
	if v, err := unix.SysctlUint32("hw.optional.arm64"); err == nil && v == 1 {
		return "arm64"
	}
	return "x86_64"
})
