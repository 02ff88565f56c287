//go:build !unix

package workflow

import "os"

// openFlags: this OS has no O_NOFOLLOW; os.Root still keeps the read
// inside the bundle.
const openFlags = 0

// links returns 1: this OS's hard links are not checked.
func links(os.FileInfo) uint64 { return 1 }
