package logfile

import "os"

// fileKind is the type of a file as stat(2) reports it, reduced to what the
// writer decides on.
type fileKind uint8

const (
	kindOther fileKind = iota
	kindRegular
	kindDir
	kindSymlink
)

func (k fileKind) String() string {
	switch k {
	case kindRegular:
		return "regular file"
	case kindDir:
		return "directory"
	case kindSymlink:
		return "symbolic link"
	}
	return "special file"
}

// fileInfo is the part of stat(2) the writer uses.
type fileInfo struct {
	dev, ino uint64
	size     int64
	nlink    uint64
	perm     uint32 // permission bits (st_mode & 07777)
	kind     fileKind
}

// fsys is every system call the writer makes. The production value is
// defaultFS (sys_unix.go); tests wrap it to inject failures (ENOSPC after N
// bytes, EROFS for a while, short writes, failing renames).
//
// Errors are returned as the kernel gave them (syscall.Errno), unwrapped:
// the writer adds the context.
type fsys interface {
	// openAppend opens path with O_RDWR|O_APPEND|O_CREAT|O_CLOEXEC|O_NOFOLLOW
	// and creation mode perm (before umask; the writer fchmods after).
	openAppend(path string, perm uint32) (*os.File, error)
	// write is one write(2): it may write less than len(p).
	write(f *os.File, p []byte) (int, error)
	// fsync makes the file's data durable (F_FULLFSYNC on darwin).
	fsync(f *os.File) error
	fstat(f *os.File) (fileInfo, error)
	pread(f *os.File, p []byte, off int64) (int, error)
	ftruncate(f *os.File, size int64) error
	fchmod(f *os.File, perm uint32) error
	close(f *os.File) error
	lstat(path string) (fileInfo, error)
	rename(from, to string) error
	unlink(path string) error
	// mkdirAll creates dir and its missing parents; the directories it
	// creates get exactly perm, whatever the umask.
	mkdirAll(dir string, perm uint32) error
	// syncDir fsyncs a directory so that renames and creations in it are
	// durable.
	syncDir(dir string) error
}
