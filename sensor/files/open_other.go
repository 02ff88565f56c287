//go:build !unix

package files

import "os"

// openFlags: this OS has no O_NOFOLLOW.
const openFlags = 0

// inode is unknown on this OS.
func inode(os.FileInfo) (uint64, bool) { return 0, false }
