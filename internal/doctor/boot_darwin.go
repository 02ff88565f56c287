package doctor

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// bootTime is sysctl kern.boottime.
func bootTime() (time.Time, error) {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return time.Time{}, fmt.Errorf("doctor: sysctl kern.boottime: %w", err)
	}
	return time.Unix(tv.Sec, int64(tv.Usec)*1e3), nil
}
