package rootfile

import (
	"errors"
	"fmt"
	"io/fs"
)

// DefaultMaxSize bounds what Read reads when Options.MaxSize is 0: a
// configuration, rule or exceptions file is a few KiB.
const DefaultMaxSize = 8 << 20

// ErrUnsafe is wrapped by every refusal of a file or folder anyone but
// root could have written or redirected.
var ErrUnsafe = errors.New("unsafe file")

// Options relaxes the checks for callers that are not the daemon on its
// installed paths.
type Options struct {
	// AnyOwner accepts a file not owned by root (tests, a user checking a
	// file before installing it). The symlink, type and group/other-write
	// checks still apply.
	AnyOwner bool
	// MaxSize is the largest file read (0: DefaultMaxSize).
	MaxSize int64
}

func (o Options) maxSize() int64 {
	if o.MaxSize > 0 {
		return o.MaxSize
	}
	return DefaultMaxSize
}

// Check applies the trust checks to a file's owner uid and mode (as fstat
// returns them). dir says whether a folder is expected instead of a
// regular file. The error names the path and the problem and the command
// that fixes it, and wraps ErrUnsafe. Read and ReadPath call it on the open
// descriptor; it is exported so that the checks can be tested without
// root.
func Check(path string, uid uint32, mode fs.FileMode, dir bool, opt Options) error {
	switch {
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("rootfile: %s: %w: is a symbolic link; the daemon runs as root and reads only files root controls", path, ErrUnsafe)
	case dir && !mode.IsDir():
		return fmt.Errorf("rootfile: %s: %w: not a folder (mode %v)", path, ErrUnsafe, mode)
	case !dir && !mode.IsRegular():
		return fmt.Errorf("rootfile: %s: %w: not a regular file (mode %v)", path, ErrUnsafe, mode)
	case !opt.AnyOwner && uid != 0:
		return fmt.Errorf("rootfile: %s: %w: owned by uid %d, not root (sudo chown root %s)", path, ErrUnsafe, uid, path)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("rootfile: %s: %w: writable by group or others (mode %04o; sudo chmod go-w %s)", path, ErrUnsafe, uint32(mode.Perm()), path)
	}
	return nil
}

// File is one file ReadPath read: its contents, or why it was refused or
// could not be read.
type File struct {
	Path string
	Data []byte
	Err  error
}
