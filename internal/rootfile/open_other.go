//go:build !unix

package rootfile

import (
	"fmt"
	"runtime"
)

// Read is not supported off unix: there is no O_NOFOLLOW and no owner to
// check.
func Read(path string, opt Options) ([]byte, error) {
	return nil, fmt.Errorf("rootfile: %s: checked reads are not supported on %s", path, runtime.GOOS)
}

// ReadPath is not supported off unix.
func ReadPath(path, suffix string, opt Options) ([]File, error) {
	return nil, fmt.Errorf("rootfile: %s: checked reads are not supported on %s", path, runtime.GOOS)
}
