//go:build linux || darwin

package codesign

import (
	"os"

	"golang.org/x/sys/unix"
)

func keyOfStat(st *unix.Stat_t) (Key, bool) {
	k := Key{
		Dev:   uint64(st.Dev),
		Ino:   st.Ino,
		Size:  st.Size,
		Mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		Ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}
	return k, uint32(st.Mode)&unix.S_IFMT == unix.S_IFREG
}

// statKey stats path (following symlinks, as exec did) and returns its
// identity; regular is false for anything but a regular file.
func statKey(path string) (k Key, regular bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Key{}, false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	k, regular = keyOfStat(&st)
	return k, regular, nil
}

// openKey opens path without following a final symlink and without
// blocking on a FIFO, and returns the identity of what it opened (fstat
// of the descriptor, not of the path).
func openKey(path string) (*os.File, Key, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, Key{}, false, err
	}
	k, regular, err := fileKey(f)
	if err != nil {
		f.Close()
		return nil, Key{}, false, err
	}
	return f, k, regular, nil
}

// fileKey is the identity of an open file (fstat).
func fileKey(f *os.File) (Key, bool, error) {
	var st unix.Stat_t
	rc, err := f.SyscallConn()
	if err != nil {
		return Key{}, false, err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = unix.Fstat(int(fd), &st) }); err != nil {
		return Key{}, false, err
	}
	if ferr != nil {
		return Key{}, false, &os.PathError{Op: "fstat", Path: f.Name(), Err: ferr}
	}
	k, regular := keyOfStat(&st)
	return k, regular, nil
}
