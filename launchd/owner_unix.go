//go:build unix

package launchd

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// fileUID returns the owner of a file from its stat(2) result.
func fileUID(fi fs.FileInfo) (uint32, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("no stat_t for %s", fi.Name())
	}
	return st.Uid, nil
}

// openNoFollow opens path read-only and fails (ELOOP) if its last element
// is a symbolic link, closing the window between Lstat and open. O_NONBLOCK
// keeps a FIFO planted at the path from blocking the daemon; the caller
// checks the opened file is regular before reading.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
