//go:build !unix

package doctor

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
)

func fileOwner(fi fs.FileInfo) (uint32, bool) { return 0, false }

func openAppendNoFollow(p string) (*os.File, error) {
	return nil, errors.New("doctor: not supported on " + runtime.GOOS)
}

func createPrivate(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}
