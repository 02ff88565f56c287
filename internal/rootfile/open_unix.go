//go:build unix

package rootfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// openFlags: O_NOFOLLOW refuses a symbolic link as the last element
// (ELOOP); O_NONBLOCK keeps a FIFO planted at the path from blocking the
// open (the type check refuses it next).
const openFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK

// testHookChecked runs after a file passed its checks and before it is
// read (tests swap the path there).
var testHookChecked func(path string)

// Read returns the contents of the regular file at path after checking,
// on the open descriptor, that root alone could have written it (see
// Check). Errors wrap fs.ErrNotExist for a missing file and ErrUnsafe for a
// refused one.
func Read(path string, opt Options) ([]byte, error) {
	fd, err := unix.Open(path, openFlags, 0)
	if err != nil {
		return nil, openErr(path, err, opt)
	}
	return readFD(fd, path, opt)
}

// ReadPath reads a rule path: a regular file (one File), or a folder whose
// entries named *suffix are read, in name order; sub-folders are ignored.
// The path itself is opened once and checked on its descriptor; each entry
// is opened relative to the folder's descriptor (openat, O_NOFOLLOW) and
// checked likewise. An entry that fails is a File with Err set; the others
// are still read. The error is the path's own: missing (wraps
// fs.ErrNotExist), refused (wraps ErrUnsafe) or unreadable.
func ReadPath(path, suffix string, opt Options) ([]File, error) {
	fd, err := unix.Open(path, openFlags, 0)
	if err != nil {
		return nil, openErr(path, err, opt)
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat() // fstat(2) on the descriptor
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rootfile: %w", err)
	}
	if !fi.IsDir() {
		data, err := readChecked(f, fi, path, opt)
		if err != nil {
			return nil, err
		}
		return []File{{Path: path, Data: data}}, nil
	}
	defer f.Close()
	if err := checkInfo(path, fi, true, opt); err != nil {
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("rootfile: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, name := range names {
		p := filepath.Join(path, name)
		efd, err := unix.Openat(int(f.Fd()), name, openFlags, 0)
		if err != nil {
			out = append(out, File{Path: p, Err: openErr(p, err, opt)})
			continue
		}
		data, err := readFD(efd, p, opt)
		out = append(out, File{Path: p, Data: data, Err: err})
	}
	return out, nil
}

// readFD checks and reads the regular file open on fd, and closes it.
func readFD(fd int, path string, opt Options) ([]byte, error) {
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat() // fstat(2) on the descriptor
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rootfile: %w", err)
	}
	return readChecked(f, fi, path, opt)
}

// readChecked checks fi (f's fstat) and reads f, and closes f.
func readChecked(f *os.File, fi fs.FileInfo, path string, opt Options) ([]byte, error) {
	defer f.Close()
	if err := checkInfo(path, fi, false, opt); err != nil {
		return nil, err
	}
	if testHookChecked != nil {
		testHookChecked(path)
	}
	max := opt.maxSize()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("rootfile: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("rootfile: %s: larger than %d bytes", path, max)
	}
	return data, nil
}

func checkInfo(path string, fi fs.FileInfo, dir bool, opt Options) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("rootfile: %s: cannot read its owner", path)
	}
	return Check(path, st.Uid, fi.Mode(), dir, opt)
}

// openErr names a symbolic link refused by O_NOFOLLOW (ELOOP on linux and
// darwin) as Check does.
func openErr(path string, err error, opt Options) error {
	if errors.Is(err, unix.ELOOP) {
		return Check(path, 0, fs.ModeSymlink, false, opt)
	}
	return fmt.Errorf("rootfile: %w", &fs.PathError{Op: "open", Path: path, Err: err})
}
