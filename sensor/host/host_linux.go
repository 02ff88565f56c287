package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// machineIDFiles are read in order: systemd's, then D-Bus's older copy
// (machine-id(5)).
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// osReleaseFiles are read in order (os-release(5)).
var osReleaseFiles = []string{"/etc/os-release", "/usr/lib/os-release"}

// Read returns this machine's identity. On error, Info holds what could be
// read; a missing os-release is not an error (host.os.name is then "Linux").
func Read() (Info, error) {
	var info Info
	var errs []error

	id, err := readFirst(machineIDFiles, parseMachineID)
	if err != nil {
		errs = append(errs, err)
	}
	info.ID = id

	if info.Hostname, err = os.Hostname(); err != nil {
		errs = append(errs, fmt.Errorf("host: hostname: %w", err))
	}
	info.Name = info.Hostname

	info.OS, err = readFirst(osReleaseFiles, func(b []byte) (OS, error) { return parseOSRelease(b), nil })
	if errors.Is(err, fs.ErrNotExist) {
		info.OS, err = parseOSRelease(nil), nil
	}
	if err != nil {
		errs = append(errs, err)
	}

	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		errs = append(errs, fmt.Errorf("host: uname: %w", err))
	} else {
		info.OS.Kernel = unix.ByteSliceToString(u.Release[:])
		info.Architecture = architecture(unix.ByteSliceToString(u.Machine[:]), false)
	}
	return info, errors.Join(errs...)
}

// readFirst parses the first of files that exists. If none does, the error
// wraps fs.ErrNotExist.
func readFirst[T any](files []string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	var errs []error
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v, err := parse(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w (%s)", err, name))
			continue
		}
		return v, nil
	}
	return zero, fmt.Errorf("host: %w", errors.Join(errs...))
}
