package socket

import (
	"fmt"
	"io"
	"strconv"

	"golang.org/x/sys/unix"
)

// procFS reads process and fd lists from /proc with getdents64 into reused
// buffers, so that listing the pids on every poll allocates nothing.
type procFS struct {
	root  int // /proc, kept open and rewound each poll
	dents []byte
	fdDir []byte
	link  []byte
	path  []byte
}

var _ procSource = (*procFS)(nil)

func openProcFS(root string) (*procFS, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: open %s: %w", root, err)
	}
	return &procFS{
		root:  fd,
		dents: make([]byte, 32<<10),
		fdDir: make([]byte, 16<<10),
		link:  make([]byte, 64), // "socket:[4294967295]" is 19 bytes
	}, nil
}

func (p *procFS) close() error {
	if p.root < 0 {
		return nil
	}
	err := unix.Close(p.root)
	p.root = -1
	return err
}

// pids appends the numeric entries of /proc: thread-group leaders, which own
// the fd tables.
func (p *procFS) pids(dst []int32) ([]int32, error) {
	if _, err := unix.Seek(p.root, 0, io.SeekStart); err != nil {
		return dst, fmt.Errorf("socket: rewind /proc: %w", err)
	}
	for {
		n, err := getdents(p.root, p.dents)
		if err != nil {
			return dst, fmt.Errorf("socket: read /proc: %w", err)
		}
		if n == 0 {
			return dst, nil
		}
		for b := p.dents[:n]; len(b) > 0; {
			var name []byte
			if name, b, err = nextDirent(b); err != nil {
				return dst, err
			}
			if pid, ok := parsePID(name); ok {
				dst = append(dst, pid)
			}
		}
	}
}

// socketInodes appends the inodes of the sockets in /proc/<pid>/fd.
func (p *procFS) socketInodes(pid int32, dst []uint64) ([]uint64, error) {
	p.path = strconv.AppendInt(p.path[:0], int64(pid), 10)
	p.path = append(p.path, "/fd"...)
	fd, err := unix.Openat(p.root, string(p.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dst, err // ESRCH/ENOENT: exited; EACCES: not ours to read
	}
	defer unix.Close(fd)
	for {
		n, err := getdents(fd, p.fdDir)
		if err != nil {
			return dst, err
		}
		if n == 0 {
			return dst, nil
		}
		for b := p.fdDir[:n]; len(b) > 0; {
			var name []byte
			if name, b, err = nextDirent(b); err != nil {
				return dst, err
			}
			if len(name) == 0 || name[0] == '.' {
				continue
			}
			l, err := unix.Readlinkat(fd, string(name), p.link)
			if err != nil {
				continue // closed since the listing
			}
			if ino, ok := parseSocketLink(p.link[:l]); ok {
				dst = append(dst, ino)
			}
		}
	}
}

func getdents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}
