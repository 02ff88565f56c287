package logfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// openCurrent opens Path for appending, after checking that it is safe to
// (see checkFile), enforces the mode and cuts an unterminated tail.
func (w *Writer) openCurrent() error {
	err := w.openPath()
	if err != nil {
		w.st.WriteErrors++
	}
	return err
}

func (w *Writer) openPath() error {
	p := w.opt.Path
	fi, err := w.sys.lstat(p)
	switch {
	case err == nil:
		if err := checkFile(p, fi); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := w.sys.mkdirAll(w.dir, dirMode); err != nil {
			return fmt.Errorf("logfile: create directory %s: %w", w.dir, err)
		}
	default:
		return fmt.Errorf("logfile: stat %s: %w", p, err)
	}
	// O_NOFOLLOW closes the race between the lstat above and the open: a
	// symlink planted in between makes open fail (ELOOP) instead of
	// sending root's writes, and the fchmod below, to its target.
	f, err := w.sys.openAppend(p, w.perm)
	if err != nil {
		if isSymlinkErr(err) {
			return fmt.Errorf("logfile: %s is a symbolic link: %w", p, ErrUnsafeFile)
		}
		return fmt.Errorf("logfile: open %s: %w", p, err)
	}
	fail := func(err error) error {
		w.sys.close(f)
		return err
	}
	if fi, err = w.sys.fstat(f); err != nil {
		return fail(fmt.Errorf("logfile: stat %s: %w", p, err))
	}
	if err := checkFile(p, fi); err != nil {
		return fail(err)
	}
	// open(2) applies the umask to a created file's mode, and an existing
	// file keeps whatever mode it had: fchmod sets exactly Mode.
	if fi.perm != w.perm {
		if err := w.sys.fchmod(f, w.perm); err != nil {
			return fail(fmt.Errorf("logfile: chmod %s: %w", p, err))
		}
	}
	w.f, w.dev, w.ino, w.size = f, fi.dev, fi.ino, fi.size
	if err := w.repair(fi); err != nil {
		w.f = nil
		return fail(err)
	}
	return nil
}

// checkFile refuses what root must not append to: a symbolic link (its
// target could be any file), anything but a regular file (a FIFO would
// block, a device would take the writes), and a file with other hard links
// (the same: another name for some other file; fchmod would change it).
func checkFile(path string, fi fileInfo) error {
	switch {
	case fi.kind != kindRegular:
		return fmt.Errorf("logfile: %s is a %s: %w", path, fi.kind, ErrUnsafeFile)
	case fi.nlink > 1:
		return fmt.Errorf("logfile: %s has %d hard links: %w", path, fi.nlink, ErrUnsafeFile)
	}
	return nil
}

// repair cuts an unterminated tail off the open file (fi is its fstat),
// counting it in Stats.Repaired (one per cut) and Stats.RepairedBytes.
//
// A tail without '\n' is what a crash in the middle of a write leaves (or a
// short write whose rest failed; or, after a power loss on some file
// systems, a run of zero bytes). It is cut with ftruncate to the end of the
// last complete line: the one truncation this package does, and never of a
// complete line. The alternative, appending '\n' to terminate the fragment,
// would ship a broken JSON line to the SIEM.
//
// The trade-off: a forwarder may already have read the fragment.
// Forwarders normally ship only '\n'-terminated lines, so it has not
// shipped it, but it may hold it in its buffer, at a read offset past the
// new end of file. If it then sees the file shrink (Filebeat's filestream
// compares sizes between scans: filebeat/input/filestream/fswatch.go), it
// takes it for a truncation and reads the whole file again from offset 0:
// duplicates. If instead the file has grown past its offset by its next
// look, it appends the bytes after its offset to the fragment it holds:
// one garbled line, and the start of the first line written after the cut
// is lost. Both need a forwarder that read the fragment and kept the file
// open across the daemon's restart (filestream closes an inactive file
// after 5 minutes by default), so they are rare; while the daemon runs, a
// torn line is completed in place instead (settle), which has neither
// problem. Renaming a torn file aside, as at a rotation, would avoid both
// too (the fragment is never terminated, so never shipped), at the price
// of a rotated file that ends in half a line; DESIGN.md asks for the
// repair, so the cut stays.
//
// The search goes back at most repairWindow bytes (or MaxLine+1 if
// larger): a longer unterminated tail was not written by this package, and
// the file is refused rather than cut.
func (w *Writer) repair(fi fileInfo) error {
	if fi.size == 0 {
		return nil
	}
	window := int64(repairWindow)
	if m := int64(w.opt.MaxLine) + 1; m > window {
		window = m
	}
	end, err := lastLineEnd(fdReader{w.sys, w.f}, fi.size, window, w.scratch)
	if err != nil {
		return fmt.Errorf("logfile: repair %s: %w", w.opt.Path, err)
	}
	if end == fi.size {
		return nil
	}
	if err := w.sys.ftruncate(w.f, end); err != nil {
		return fmt.Errorf("logfile: repair %s: cut %d bytes: %w", w.opt.Path, fi.size-end, err)
	}
	w.st.Repaired++
	w.st.RepairedBytes += fi.size - end
	w.size = end
	return nil
}

var errTailTooLong = fmt.Errorf("unterminated last line longer than the repair window: %w", ErrUnsafeFile)

// lastLineEnd returns the offset just after the last '\n' among the first
// size bytes of r (0 if there is none), looking back at most window bytes:
// further than that, it returns errTailTooLong. buf is scratch space; it
// reads len(buf) bytes at a time.
func lastLineEnd(r io.ReaderAt, size, window int64, buf []byte) (int64, error) {
	end := size
	for end > 0 {
		if size-end >= window {
			return 0, errTailTooLong
		}
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if rest := window - (size - end); n > rest {
			n = rest
		}
		chunk := buf[:n]
		if _, err := r.ReadAt(chunk, end-n); err != nil {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				return end - n + int64(i) + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}

// fdReader reads the open log with pread(2).
type fdReader struct {
	sys fsys
	f   *os.File
}

func (r fdReader) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := r.sys.pread(r.f, p[done:], off+int64(done))
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.ErrUnexpectedEOF // the file shrank under us
		}
	}
	return done, nil
}

// rotate moves the full file aside and opens a fresh one: Path.Keep is
// removed, Path.(i) renamed to Path.(i+1) for i = Keep-1 … 1, Path renamed
// to Path.1, and a new Path created with Mode. Renames only, never a copy
// or a truncation: a reader that holds the old file open reads it to its
// end, and one that follows the name finds the new file (see doc.go).
//
// If the open file is no longer at Path (moved by someone else since we
// opened it), nothing is renamed: Path is just opened afresh.
func (w *Writer) rotate() error {
	// The old file's last batch is made durable before it is renamed.
	w.syncBatch()
	fi, err := w.sys.lstat(w.opt.Path)
	if err == nil && fi.dev == w.dev && fi.ino == w.ino {
		if err := w.shift(); err != nil {
			w.noRotate = true
			w.st.WriteErrors++
			return err
		}
		w.st.Rotations++
	}
	if err := w.sys.close(w.f); err != nil {
		w.soft = append(w.soft, fmt.Errorf("logfile: close %s: %w", w.opt.Path, err))
	}
	w.f = nil
	if err := w.openCurrent(); err != nil {
		return err
	}
	if !w.opt.NoSync {
		if err := w.sys.syncDir(w.dir); err != nil {
			w.st.SyncErrors++
			w.soft = append(w.soft, fmt.Errorf("logfile: fsync directory %s: %w", w.dir, err))
		}
	}
	return nil
}

// shift renames the files one generation up. A missing generation is
// skipped. Any other failure stops it before a rename could replace a file
// not yet moved.
func (w *Writer) shift() error {
	last := w.names[len(w.names)-1]
	if err := w.sys.unlink(last); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logfile: rotate: remove %s: %w", last, err)
	}
	for i := len(w.names) - 1; i >= 1; i-- {
		if err := w.sys.rename(w.names[i-1], w.names[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logfile: rotate: rename %s: %w", w.names[i-1], err)
		}
	}
	if err := w.sys.rename(w.opt.Path, w.names[0]); err != nil {
		return fmt.Errorf("logfile: rotate: rename %s: %w", w.opt.Path, err)
	}
	return nil
}
