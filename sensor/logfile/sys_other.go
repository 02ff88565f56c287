//go:build !linux && !darwin

package logfile

// defaultFS is nil: Open reports "not supported on GOOS".
var defaultFS fsys

func isSymlinkErr(error) bool { return false }
func isBadFD(error) bool      { return false }
