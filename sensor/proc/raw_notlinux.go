//go:build !linux

package proc

import (
	"errors"
	"runtime"
)

var errNoProcfs = errors.New("proc: /proc is read only on Linux, not on " + runtime.GOOS)

// RawStat reports that /proc is read only on Linux.
func RawStat(pid int32) ([]byte, error) { return nil, errNoProcfs }

// RawCmdline reports that /proc is read only on Linux.
func RawCmdline(pid int32) ([]byte, error) { return nil, errNoProcfs }

// RawStats reports that /proc is read only on Linux.
func RawStats() (map[int32][]byte, error) { return nil, errNoProcfs }

// BootClock reports that /proc is read only on Linux.
func BootClock() (bootNs, tickNs int64, err error) { return 0, 0, errNoProcfs }
