//go:build !unix

package launchd

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

func fileUID(fs.FileInfo) (uint32, error) {
	return 0, fmt.Errorf("file ownership check not supported on %s", runtime.GOOS)
}

func openNoFollow(string) (*os.File, error) {
	return nil, fmt.Errorf("opening without following symlinks not supported on %s", runtime.GOOS)
}
