//go:build !darwin && !linux

package host

import (
	"errors"
	"runtime"
)

// Read reports that this GOOS is not supported.
func Read() (Info, error) {
	return Info{}, errors.New("host: not supported on " + runtime.GOOS)
}
