//go:build linux || darwin

package testlock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func acquire(path string) (func(), error) {
	// O_NOFOLLOW: the file lives in a shared temporary directory.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testlock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("testlock: flock %s: %w", path, err)
	}
	// Closing the only descriptor of the open file releases the lock.
	return func() { f.Close() }, nil
}
