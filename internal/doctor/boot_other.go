//go:build !darwin && !linux

package doctor

import (
	"errors"
	"runtime"
	"time"
)

// bootTime reports that this OS is not supported.
func bootTime() (time.Time, error) {
	return time.Time{}, errors.New("doctor: boot time: not supported on " + runtime.GOOS)
}
