//go:build unix

package workflow

import (
	"os"
	"syscall"
)

// openFlags: never follow a link in the last component; never block on a
// FIFO.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// links returns the hard-link count of a file, 1 when unknown.
func links(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
