//go:build unix

package files

import (
	"os"
	"syscall"
)

// openFlags: never follow a link in the last component; never block on a
// FIFO.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// inode returns a file's inode number.
func inode(fi os.FileInfo) (uint64, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), true
	}
	return 0, false
}
