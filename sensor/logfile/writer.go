package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultMode       os.FileMode = 0o640
	DefaultMaxSize    int64       = 64 << 20
	DefaultKeep                   = 5
	DefaultMaxLine                = 32 << 10
	DefaultQueueBytes             = 8 << 20

	// dirMode is the mode of a log directory Open creates.
	dirMode = 0o750
	// repairWindow bounds how far back Open looks for the end of the last
	// complete line (at least MaxLine+1). A longer unterminated tail was not
	// written by this package and is refused rather than cut.
	repairWindow = 1 << 20
)

var (
	// ErrLineTooLong: a line over Options.MaxLine was refused (never split).
	ErrLineTooLong = errors.New("logfile: line too long")
	// ErrInvalidLine: an empty line, or one holding a '\n', was refused: it
	// would not read back as exactly one line.
	ErrInvalidLine = errors.New("logfile: empty line or line with a newline")
	// ErrDropped: queued lines were dropped (queue full, or still queued at
	// Close).
	ErrDropped = errors.New("logfile: queued lines dropped")
	// ErrClosed: the Writer was closed.
	ErrClosed = errors.New("logfile: writer closed")
	// ErrUnsafeFile: the path is a symbolic link, not a regular file, has
	// other hard links, or ends with an unterminated tail longer than any
	// line this package writes.
	ErrUnsafeFile = errors.New("logfile: unsafe log file")
)

// Options configure a Writer. Zero fields take the defaults above.
type Options struct {
	// Path of the log, e.g. /var/log/macsensor/alerts.ndjson.
	Path string
	// Mode of the log file (default 0640). It is enforced with fchmod on a
	// file Open creates (whatever the umask) and on an existing file.
	// World-writable modes are refused.
	Mode os.FileMode
	// MaxSize: rotate before a line would make the file larger than this
	// (default 64 MiB). Negative: never rotate. A line longer than MaxSize
	// still goes, alone, into a fresh file.
	MaxSize int64
	// Keep is how many rotated files are kept: Path.1 … Path.Keep (default
	// 5). Path.Keep is removed at the next rotation.
	Keep int
	// MaxLine is the longest line accepted, without its '\n' (default
	// 32 KiB). Longer lines are refused with ErrLineTooLong, never split:
	// the caller cuts content before.
	MaxLine int
	// QueueBytes bounds the lines kept in memory while the file cannot be
	// written (default 8 MiB; at least MaxLine+1).
	QueueBytes int
	// NoSync skips the fsync after each batch (and of the directory after a
	// rotation). The zero value syncs.
	NoSync bool
}

// Stats are the Writer's counters since Open.
type Stats struct {
	Lines         int64 // complete lines written, each with its '\n'
	Bytes         int64 // bytes written, '\n' included
	Batches       int64 // WriteBatch calls
	ShortWrites   int64 // write(2) calls that wrote less than asked; the rest was written after
	Rotations     int64
	Repaired      int64 // unterminated tails cut (at Open, Reopen or recovery): lines, see RepairedBytes
	RepairedBytes int64 // bytes those cuts removed
	Retries       int64 // attempts to write lines that were queued after an error
	Queued        int64 // lines waiting now (a partly written line included)
	QueuedBytes   int64
	Dropped       int64 // queued lines given up: oldest first when the queue is full, the rest at Close
	TooLong       int64 // lines refused with ErrLineTooLong
	Invalid       int64 // lines refused with ErrInvalidLine
	WriteErrors   int64 // failed write(2), open or rotation attempts
	SyncErrors    int64 // failed fsyncs
	LastError     string
}

// Writer appends ndjson lines to a log file for forwarders that tail it.
// Its methods are safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	opt   Options
	sys   fsys
	dir   string
	names []string // names[i] is Path.(i+1)
	perm  uint32

	f        *os.File // nil while no file is open (a failed open is retried)
	dev, ino uint64
	size     int64 // bytes in the open file, as far as this writer knows
	unsynced bool  // bytes written since the last fsync

	// noRotate is set when a rotation failed: no new attempt until the next
	// WriteBatch or Retry, so a broken rename costs one try per batch.
	noRotate bool

	buf     []byte // the record being written: line + '\n'
	scratch []byte // tail scans

	head torn  // a line partly written, outside the queue
	q    queue // lines not written yet, oldest first

	soft   []error // errors that did not stop writing (rotation, fsync)
	closed bool
	st     Stats
}

// torn is a record whose write stopped part way: done bytes of buf are in
// the file (dev, ino) from offset at. When done is 0 the record is not on
// disk at all and is simply written first.
type torn struct {
	buf      []byte
	done     int
	at       int64
	dev, ino uint64
}

func (t *torn) empty() bool { return len(t.buf) == 0 }
func (t *torn) clear()      { t.buf, t.done = t.buf[:0], 0 }

// Open opens (creating it and its directory if missing) the log at
// opt.Path for appending. An unterminated last line, left by a crash in the
// middle of a write, is cut off (see doc.go) and counted in
// Stats.Repaired.
func Open(opt Options) (*Writer, error) {
	if defaultFS == nil {
		return nil, fmt.Errorf("logfile: not supported on %s", runtime.GOOS)
	}
	return open(opt, defaultFS)
}

func open(opt Options, sys fsys) (*Writer, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Writer{
		opt:     opt,
		sys:     sys,
		dir:     filepath.Dir(opt.Path),
		perm:    uint32(opt.Mode.Perm()),
		buf:     make([]byte, 0, 4096),
		scratch: make([]byte, 4096),
	}
	if opt.MaxSize > 0 {
		w.names = make([]string, opt.Keep)
		for i := range w.names {
			w.names[i] = opt.Path + "." + strconv.Itoa(i+1)
		}
	}
	if err := w.openCurrent(); err != nil {
		return nil, err
	}
	return w, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Path == "" {
		return o, errors.New("logfile: no path")
	}
	o.Path = filepath.Clean(o.Path)
	if o.Mode == 0 {
		o.Mode = DefaultMode
	}
	if o.Mode&^fs.ModePerm != 0 || o.Mode&0o002 != 0 {
		return o, fmt.Errorf("logfile: mode %#o: want permission bits, not world-writable", uint32(o.Mode))
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 0 {
		return o, fmt.Errorf("logfile: keep %d: want at least 1", o.Keep)
	}
	if o.MaxLine == 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxLine < 0 {
		return o, fmt.Errorf("logfile: max line %d: want at least 1", o.MaxLine)
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.QueueBytes < o.MaxLine+1 {
		return o, fmt.Errorf("logfile: queue of %d bytes cannot hold a line of %d", o.QueueBytes, o.MaxLine)
	}
	return o, nil
}

// WriteBatch appends lines, each given without its '\n', each with one
// write(2), then fsyncs once (unless NoSync). Lines still queued from an
// earlier failure are written first, so order is kept.
//
// A line that cannot be written is queued with every later one and retried
// by the next WriteBatch or Retry; the error says so (errors.Is finds the
// errno, e.g. syscall.ENOSPC). A line over MaxLine is refused
// (ErrLineTooLong), an empty one or one holding '\n' too (ErrInvalidLine);
// the batch's other lines are still written. Queue overflow drops the
// oldest queued lines (ErrDropped). Lines are copied when queued: the
// caller may reuse them on return.
func (w *Writer) WriteBatch(lines [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.st.Batches++
	w.noRotate = false
	werr := w.drain()
	var tooLong, invalid, dropped int
	for _, l := range lines {
		if len(l) > w.opt.MaxLine {
			w.st.TooLong++
			tooLong++
			continue
		}
		if len(l) == 0 || bytes.IndexByte(l, '\n') >= 0 {
			w.st.Invalid++
			invalid++
			continue
		}
		if w.pending() {
			// Something older waits: keep the order.
			dropped += w.enqueue(l, false)
			continue
		}
		w.buf = append(append(w.buf[:0], l...), '\n')
		if err := w.put(w.buf); err != nil {
			werr = err
			if w.head.empty() {
				// Nothing of it reached the file: queue it whole.
				dropped += w.enqueue(w.buf, true)
			}
		}
	}
	w.syncBatch()
	return w.result(werr, tooLong, invalid, dropped)
}

// Retry writes the queued lines, if any, and fsyncs. The daemon calls it on
// a timer so that queued alerts do not wait for the next one.
func (w *Writer) Retry() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.noRotate = false
	werr := w.drain()
	w.syncBatch()
	return w.result(werr, 0, 0, 0)
}

// Reopen closes the log and opens Path again: after an external rotation
// (newsyslog, an administrator's mv) and on SIGHUP. A line left half
// written in the old file is completed there if possible, else cut off and
// written whole to the new file.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.noRotate = false
	w.leave()
	werr := w.openCurrent()
	if werr == nil {
		werr = w.drain()
	}
	w.syncBatch()
	return w.result(werr, 0, 0, 0)
}

// Close writes what is queued if it can, fsyncs and closes the file. Lines
// it could not write are counted in Stats.Dropped and reported
// (ErrDropped). Later calls return ErrClosed, Close itself nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	werr := w.drain()
	w.leave()
	lost := w.q.len()
	if !w.head.empty() {
		lost++
	}
	w.q.reset()
	w.head.clear()
	if lost > 0 {
		w.st.Dropped += int64(lost)
		w.soft = append(w.soft, fmt.Errorf("logfile: %s: %d queued line(s) lost at close: %w", w.opt.Path, lost, ErrDropped))
	}
	return w.result(werr, 0, 0, 0)
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.st
	s.Queued = int64(w.q.len())
	s.QueuedBytes = int64(w.q.bytes)
	if !w.head.empty() {
		s.Queued++
		s.QueuedBytes += int64(len(w.head.buf) - w.head.done)
	}
	return s
}

func (w *Writer) pending() bool { return !w.head.empty() || w.q.len() > 0 }

// enqueue copies a line (rec: already ending in '\n') into the queue,
// dropping the oldest queued lines while it would not fit. It returns how
// many were dropped. A partly written line (w.head) is never dropped: it is
// outside the queue and at most MaxLine+1 bytes.
func (w *Writer) enqueue(l []byte, rec bool) int {
	n := len(l)
	if !rec {
		n++
	}
	dropped := 0
	for w.q.len() > 0 && w.q.bytes+n > w.opt.QueueBytes {
		w.q.pop()
		dropped++
	}
	w.st.Dropped += int64(dropped)
	b := make([]byte, n)
	copy(b, l)
	b[n-1] = '\n'
	w.q.push(b)
	return dropped
}

// drain writes the partly written line, then the queue, in order, stopping
// at the first error.
func (w *Writer) drain() error {
	if !w.pending() {
		return nil
	}
	w.st.Retries++
	if w.f == nil {
		if err := w.openCurrent(); err != nil {
			return err
		}
	}
	if !w.head.empty() {
		if err := w.settle(); err != nil {
			return err
		}
	}
	for w.q.len() > 0 {
		err := w.put(w.q.front())
		if err == nil || !w.head.empty() {
			// Written, or partly written and now held in w.head.
			w.q.pop()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// put appends one record (a line and its '\n') to the open file with one
// write(2), rotating first if it would grow the file past MaxSize. If the
// kernel takes only part of it, the rest is written by further write(2)
// calls. If a write fails after part of the record reached the file, the
// record moves to w.head, to be completed by settle.
func (w *Writer) put(rec []byte) error {
	if w.f == nil {
		if err := w.openCurrent(); err != nil {
			return err
		}
	}
	if w.opt.MaxSize > 0 && w.size > 0 && w.size+int64(len(rec)) > w.opt.MaxSize && !w.noRotate {
		if err := w.rotate(); err != nil {
			if w.f == nil {
				return err
			}
			// The old file is still open: a file over MaxSize beats a lost
			// line. The error is reported with the batch.
			w.soft = append(w.soft, err)
		}
	}
	at := w.size
	n, err := w.writeAll(rec)
	if err == nil {
		w.st.Lines++
		return nil
	}
	if n > 0 {
		h := &w.head
		h.buf = append(h.buf[:0], rec...)
		h.done, h.at, h.dev, h.ino = n, at, w.dev, w.ino
	}
	return w.writeErr(err)
}

// writeAll writes p at the end of the file: one write(2), and more only
// if the kernel took part of it (a short write, counted). It returns how
// many bytes reached the file.
func (w *Writer) writeAll(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.sys.write(w.f, p[done:])
		if n > 0 {
			done += n
			w.size += int64(n)
			w.st.Bytes += int64(n)
			w.unsynced = true
		}
		if err != nil {
			return done, err
		}
		if done < len(p) {
			w.st.ShortWrites++
			if n == 0 {
				return done, errors.New("write returned 0 bytes")
			}
		}
	}
	return done, nil
}

// writeErr counts a failed write and wraps it. EBADF means that something
// else in the process closed our descriptor: the path is reopened at the
// next attempt. The *os.File is closed right away, which only marks it
// closed (close(2) answers EBADF too); left to the garbage collector, its
// finalizer would close the descriptor number later, when it may belong
// to another file.
func (w *Writer) writeErr(err error) error {
	w.st.WriteErrors++
	if isBadFD(err) && w.f != nil {
		w.sys.close(w.f)
		w.f = nil
	}
	return fmt.Errorf("logfile: write %s: %w", w.opt.Path, err)
}

// settle finishes w.head. A line cut short by an error is completed in
// place when the file is exactly as the failed write left it: a forwarder
// that already read the first part then reads a whole line, and nothing is
// truncated. Otherwise (the file was truncated, replaced or appended to
// behind our back) its rest cannot be appended: any unterminated tail is cut
// off as at Open and the line is written whole.
func (w *Writer) settle() error {
	h := &w.head
	if h.done > 0 {
		fi, err := w.sys.fstat(w.f)
		if err != nil {
			return w.writeErr(err)
		}
		if fi.dev == h.dev && fi.ino == h.ino && fi.size == h.at+int64(h.done) {
			w.size = fi.size
			n, err := w.writeAll(h.buf[h.done:])
			h.done += n
			if err != nil {
				return w.writeErr(err)
			}
			w.st.Lines++
			h.clear()
			return nil
		}
		w.size = fi.size
		if err := w.repair(fi); err != nil {
			return err
		}
		h.done = 0
	}
	// Nothing of it is on disk: write it whole. put may tear it again, in
	// which case it refills h.buf from itself (same bytes).
	err := w.put(h.buf)
	if err == nil {
		h.clear()
	}
	return err
}

// leave prepares to stop writing to the open file (Reopen, Close): a torn
// line is completed if the write now succeeds, else its fragment is cut
// off so the file does not end in half a line; then fsync and close.
func (w *Writer) leave() {
	if w.f == nil {
		return
	}
	if h := &w.head; h.done > 0 {
		if err := w.settle(); err != nil && h.done > 0 {
			w.soft = append(w.soft, err)
			w.cutTorn()
		}
	}
	w.syncBatch()
	if err := w.sys.close(w.f); err != nil {
		w.soft = append(w.soft, fmt.Errorf("logfile: close %s: %w", w.opt.Path, err))
	}
	w.f = nil
}

// cutTorn removes w.head's fragment from the open file, where it is the
// last thing written, leaving the whole line to be written again.
func (w *Writer) cutTorn() {
	h := &w.head
	fi, err := w.sys.fstat(w.f)
	if err != nil {
		w.soft = append(w.soft, fmt.Errorf("logfile: stat %s: %w", w.opt.Path, err))
		return
	}
	if fi.dev == h.dev && fi.ino == h.ino && fi.size == h.at+int64(h.done) {
		if err := w.sys.ftruncate(w.f, h.at); err != nil {
			w.soft = append(w.soft, fmt.Errorf("logfile: cut torn line in %s: %w", w.opt.Path, err))
			return
		}
		w.st.Repaired++
		w.st.RepairedBytes += int64(h.done)
		w.size = h.at
	} else if err := w.repair(fi); err != nil {
		w.soft = append(w.soft, err)
		return
	}
	h.done = 0
}

// syncBatch fsyncs what this batch wrote. A failed fsync is counted and
// reported, and the lines are not written again: they are already in the
// file, where a forwarder may have read them, so rewriting them would
// duplicate them.
func (w *Writer) syncBatch() {
	if w.opt.NoSync || !w.unsynced || w.f == nil {
		return
	}
	w.unsynced = false
	if err := w.sys.fsync(w.f); err != nil {
		w.st.SyncErrors++
		w.soft = append(w.soft, fmt.Errorf("logfile: fsync %s: %w", w.opt.Path, err))
	}
}

// result builds the error of a call from what went wrong in it, records it
// in Stats.LastError and clears the soft errors.
func (w *Writer) result(werr error, tooLong, invalid, dropped int) error {
	if werr == nil && tooLong == 0 && invalid == 0 && dropped == 0 && len(w.soft) == 0 {
		return nil
	}
	errs := w.soft
	w.soft = nil
	if werr != nil {
		if n := w.q.len(); n > 0 || !w.head.empty() {
			if !w.head.empty() {
				n++
			}
			werr = fmt.Errorf("%w (%d line(s) queued)", werr, n)
		}
		errs = append(errs, werr)
	}
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("logfile: %s: queue full (%d bytes), %d oldest line(s) dropped: %w", w.opt.Path, w.opt.QueueBytes, dropped, ErrDropped))
	}
	if tooLong > 0 {
		errs = append(errs, fmt.Errorf("logfile: %d line(s) over %d bytes refused: %w", tooLong, w.opt.MaxLine, ErrLineTooLong))
	}
	if invalid > 0 {
		errs = append(errs, fmt.Errorf("logfile: %d line(s) refused: %w", invalid, ErrInvalidLine))
	}
	var err error
	if len(errs) == 1 {
		err = errs[0]
	} else {
		err = errors.Join(errs...)
	}
	w.st.LastError = err.Error()
	return err
}

// queue is a FIFO of records (lines with their '\n').
type queue struct {
	recs  [][]byte
	first int
	bytes int
}

func (q *queue) len() int        { return len(q.recs) - q.first }
func (q *queue) front() []byte   { return q.recs[q.first] }
func (q *queue) push(rec []byte) { q.recs = append(q.recs, rec); q.bytes += len(rec) }

func (q *queue) pop() {
	q.bytes -= len(q.recs[q.first])
	q.recs[q.first] = nil
	q.first++
	switch {
	case q.first == len(q.recs):
		q.recs, q.first = q.recs[:0], 0
	case q.first >= 1024 && q.first*2 >= len(q.recs):
		n := copy(q.recs, q.recs[q.first:])
		clear(q.recs[n:])
		q.recs, q.first = q.recs[:n], 0
	}
}

func (q *queue) reset() {
	clear(q.recs)
	q.recs, q.first, q.bytes = q.recs[:0], 0, 0
}
