//go:build linux || darwin

package logfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// defaultFS is the real file system. It uses the standard library's
// syscall and os packages only.
var defaultFS fsys = unixFS{}

type unixFS struct{}

// openFlags: O_APPEND makes every write(2) land at the current end of the
// file, atomically with respect to the offset (see doc.go). O_RDWR rather
// than O_WRONLY so that the writer can pread the tail of the very file it
// appends to when it repairs a torn line, without a second lookup of the
// path (which may name another file by then). O_NONBLOCK only so that
// opening a FIFO planted at the path cannot block; it is cleared right after
// and has no effect on regular files.
const openFlags = syscall.O_RDWR | syscall.O_APPEND | syscall.O_CREAT | syscall.O_CLOEXEC | syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func (unixFS) openAppend(path string, perm uint32) (*os.File, error) {
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = syscall.Open(path, openFlags, perm)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// A blocking descriptor: NewFile keeps it out of the netpoller, and
	// Fd returns it as is.
	return os.NewFile(uintptr(fd), path), nil
}

// write is one raw write(2), not (*os.File).Write, which hides short
// writes by looping.
func (unixFS) write(f *os.File, p []byte) (int, error) {
	fd := int(f.Fd())
	for {
		n, err := syscall.Write(fd, p)
		if err == syscall.EINTR && n <= 0 {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// fsync is (*os.File).Sync: fsync(2) on linux; on darwin
// fcntl(F_FULLFSYNC), falling back to fsync(2) where the file system does
// not support it (go/src/internal/poll/fd_fsync_darwin.go). darwin's
// fsync(2) only hands the data to the drive, which may keep it in its
// volatile cache (fsync(2) man page); xnu bsd/kern/kern_descrip.c passes
// F_FULLFSYNC down to the file system, which also flushes the drive's
// cache (DKIOCSYNCHRONIZECACHE).
func (unixFS) fsync(f *os.File) error { return unwrapPath(f.Sync()) }

func (unixFS) fstat(f *os.File) (fileInfo, error) {
	var st syscall.Stat_t
	fd := int(f.Fd())
	if err := retryEINTR(func() error { return syscall.Fstat(fd, &st) }); err != nil {
		return fileInfo{}, err
	}
	return toInfo(&st), nil
}

func (unixFS) pread(f *os.File, p []byte, off int64) (int, error) {
	fd := int(f.Fd())
	for {
		n, err := syscall.Pread(fd, p, off)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

func (unixFS) ftruncate(f *os.File, size int64) error {
	fd := int(f.Fd())
	return retryEINTR(func() error { return syscall.Ftruncate(fd, size) })
}

func (unixFS) fchmod(f *os.File, perm uint32) error {
	fd := int(f.Fd())
	return retryEINTR(func() error { return syscall.Fchmod(fd, perm) })
}

func (unixFS) close(f *os.File) error       { return unwrapPath(f.Close()) }
func (unixFS) rename(from, to string) error { return syscall.Rename(from, to) }

// unlink, not os.Remove, which would also remove an empty directory.
func (unixFS) unlink(path string) error { return syscall.Unlink(path) }

func (unixFS) lstat(path string) (fileInfo, error) {
	var st syscall.Stat_t
	if err := retryEINTR(func() error { return syscall.Lstat(path, &st) }); err != nil {
		return fileInfo{}, err
	}
	return toInfo(&st), nil
}

func (unixFS) mkdirAll(dir string, perm uint32) error {
	// Find the missing components first: only those get perm forced on
	// them; an existing parent's mode is the administrator's business.
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, fs.FileMode(perm)); err != nil {
		return unwrapPath(err)
	}
	for _, d := range missing {
		// mkdir(2) filters the mode through the umask; chmod(2) does not.
		if err := syscall.Chmod(d, perm); err != nil {
			return err
		}
	}
	return nil
}

// syncDir is a plain fsync(2) of the directory: it makes the renames and
// the creation durable.
func (unixFS) syncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = retryEINTR(func() error { return syscall.Fsync(fd) })
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func toInfo(st *syscall.Stat_t) fileInfo {
	// Field widths differ: Dev is int32 on darwin, Nlink uint16 on darwin
	// and uint32/uint64 on linux, Mode uint16 on darwin.
	fi := fileInfo{
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		size:  st.Size,
		nlink: uint64(st.Nlink),
		perm:  uint32(st.Mode) & 0o7777,
	}
	switch uint32(st.Mode) & syscall.S_IFMT {
	case syscall.S_IFREG:
		fi.kind = kindRegular
	case syscall.S_IFDIR:
		fi.kind = kindDir
	case syscall.S_IFLNK:
		fi.kind = kindSymlink
	}
	return fi
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// unwrapPath returns the errno inside an *os.PathError, so that every
// fsys method returns bare errnos and the writer adds the context once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// isSymlinkErr reports the error open(2) gives for O_NOFOLLOW on a symbolic
// link: ELOOP on both linux (fs/namei.c) and darwin (bsd/vfs/vfs_lookup.c).
func isSymlinkErr(err error) bool { return errors.Is(err, syscall.ELOOP) }

// isBadFD reports a descriptor closed behind our back: the writer reopens
// the path.
func isBadFD(err error) bool { return errors.Is(err, syscall.EBADF) }
