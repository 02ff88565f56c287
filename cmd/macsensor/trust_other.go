//go:build !unix

package main

import (
	"fmt"
	"runtime"
)

func checkRootOnly(path string) error {
	return fmt.Errorf("%s: file ownership checks are not supported on %s", path, runtime.GOOS)
}
