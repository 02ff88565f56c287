//go:build !darwin

package proc

import (
	"errors"
	"runtime"
)

var errNoKinfo = errors.New("proc: kern.proc.all and kern.procargs2 exist only on macOS, not on " + runtime.GOOS)

// RawProcAll reports that kern.proc.all is macOS only.
func RawProcAll() ([]byte, error) { return nil, errNoKinfo }

// RawProcargs2 reports that kern.procargs2 is macOS only.
func RawProcargs2(pid int32) ([]byte, error) { return nil, errNoKinfo }
