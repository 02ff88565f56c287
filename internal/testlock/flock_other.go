//go:build !linux && !darwin

package testlock

import (
	"fmt"
	"runtime"
)

func acquire(path string) (func(), error) {
	return nil, fmt.Errorf("testlock: %s: not supported on %s", path, runtime.GOOS)
}
