package logfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// follower is a reader that tails the log the way forwarders do: it holds
// the file it reads open; at its end, if Path now names another file (a
// rotation), it reads the held file to its end, then opens the next
// generation. It finds that generation by inode, not by reopening Path
// (which, if two rotations passed, would skip one): its file is at
// Path.k, so the next one is at Path.(k-1), or Path when k is 1. Rotation
// renames top down, so while its file is still at Path.k after the open,
// the file it opened was the next generation.
//
// It checks each line as it comes: whole JSON, and the sequence number
// one more than the last one (no loss, no duplicate, in order).
type follower struct {
	path  string
	names []string // Path.1 … Path.keep

	f   *os.File
	ino uint64

	gen      atomic.Int64  // generations moved to
	maxBack  int           // the furthest back (k of Path.k) it found its file
	progress chan struct{} // signalled (cap 1) when gen grows
	next     atomic.Int64  // next sequence number expected

	partial []byte
	buf     []byte
}

func newFollower(path string, keep int) *follower {
	r := &follower{path: path, progress: make(chan struct{}, 1), buf: make([]byte, 1500)}
	for i := 1; i <= keep; i++ {
		r.names = append(r.names, path+"."+strconv.Itoa(i))
	}
	return r
}

func inode(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// start opens Path; the writer must have created it.
func (r *follower) start() error {
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	r.f, r.ino = f, inode(fi)
	return nil
}

// run reads until it has seen want lines. notify is signalled by the
// writer after each batch, done closed after its last one.
func (r *follower) run(want int, notify, done <-chan struct{}, deadline time.Time) error {
	defer func() { r.f.Close() }()
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	final := false
	for r.next.Load() < int64(want) {
		n, err := r.read()
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		fi, err := os.Lstat(r.path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if err != nil || inode(fi) != r.ino {
			if err := r.advance(deadline); err != nil {
				return err
			}
			continue
		}
		if final {
			return fmt.Errorf("writer done: got %d lines, want %d (partial %q)", r.next.Load(), want, r.partial)
		}
		select {
		case <-notify:
		case <-done:
			final = true
		case <-timeout.C:
			return fmt.Errorf("timeout: got %d lines, want %d", r.next.Load(), want)
		}
	}
	if n, err := r.read(); n > 0 || err != nil || len(r.partial) > 0 {
		return fmt.Errorf("more than %d lines (%d bytes, %v, partial %q)", want, n, err, r.partial)
	}
	return nil
}

// advance drains the held file and moves to the next generation.
func (r *follower) advance(deadline time.Time) error {
	for {
		n, err := r.read()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if len(r.partial) > 0 {
		return fmt.Errorf("rotated file ends in a torn line %q", r.partial)
	}
	for !time.Now().After(deadline) {
		k := 0
		for i, name := range r.names {
			if fi, err := os.Lstat(name); err == nil && inode(fi) == r.ino {
				k = i + 1
				break
			}
		}
		if k == 0 {
			// Being renamed right now, or removed: lines lost if it stays so.
			runtime.Gosched()
			continue
		}
		next := r.path
		if k > 1 {
			next = r.names[k-2]
		}
		f, err := os.Open(next)
		if err != nil {
			runtime.Gosched() // Path not created yet after the rename
			continue
		}
		if fi, err := os.Lstat(r.names[k-1]); err != nil || inode(fi) != r.ino {
			f.Close() // a rotation moved things meanwhile: look again
			continue
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		r.maxBack = max(r.maxBack, k)
		r.f.Close()
		r.f, r.ino = f, inode(fi)
		r.gen.Add(1)
		signal(r.progress)
		return nil
	}
	return fmt.Errorf("generation after %d not found (removed before it was read?)", r.gen.Load())
}

// read reads once from the held file and checks the complete lines.
func (r *follower) read() (int, error) {
	n, err := r.f.Read(r.buf)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		return n, err
	}
	r.partial = append(r.partial, r.buf[:n]...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		var v struct {
			Seq *int64 `json:"seq"`
		}
		l := r.partial[:i]
		if err := json.Unmarshal(l, &v); err != nil || v.Seq == nil {
			return n, fmt.Errorf("garbled line %q: %v", l, err)
		}
		if want := r.next.Load(); *v.Seq != want {
			return n, fmt.Errorf("got seq %d, want %d", *v.Seq, want)
		}
		if !bytes.Equal(l, line(int(*v.Seq))) {
			return n, fmt.Errorf("line %d altered: %q", *v.Seq, l)
		}
		r.next.Add(1)
		r.partial = r.partial[:copy(r.partial, r.partial[i+1:])]
	}
	return n, nil
}
