package ecs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
)

// DefaultMaxLineBytes is the longest line a Reader decodes by default.
const DefaultMaxLineBytes = 1 << 20

// ErrLineTooLong is the error of a LineError for a line longer than
// ReaderOptions.MaxLineBytes.
var ErrLineTooLong = errors.New("ecs: line too long")

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Workers is the number of goroutines decoding in parallel. With 0 or
	// 1, Next decodes in the caller's goroutine. Events come out in input
	// order either way.
	Workers int
	// MaxLineBytes is the longest line decoded (without its newline);
	// a longer one is reported as a *LineError wrapping ErrLineTooLong and
	// skipped. 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// Annotate, if set, is called once for each goroutine that decodes
	// (each worker, or the caller's with Workers ≤ 1); the function it
	// returns is then called on that goroutine for every event it
	// decoded, before Next returns the event (it may set Event.Note).
	Annotate func() func(*Event)
}

// LineError is a malformed line: reading goes on with the next line.
type LineError struct {
	Line int // 1-based line number
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("ecs: line %d: %s", e.Line, strings.TrimPrefix(e.Err.Error(), "ecs: "))
}

func (e *LineError) Unwrap() error { return e.Err }

// Reader reads ndjson events. Blank lines are skipped, a UTF-8 byte order
// mark before the first line is ignored, and a "\r\n" line ending is
// accepted. Next and Close are called from one goroutine.
//
// Memory: the input is read in chunks of chunkBytes that are never
// rewritten, and decoded events alias them (no copy per line; the strings
// of a run of members a shape remembered alias that memory's copy of the
// run, never rewritten either: see runMemo); events are made in slabs, one
// allocation per batch of lines, as are their string arrays and generic
// fields. An event therefore keeps its chunk and its
// batch's memory alive, about 250 KiB, not just its own kilobyte or so:
// memory is bounded by the events the caller keeps times that, never by
// the length of the input. For a replay the events kept are the reorder
// window, whose batches are live anyway, and the events pending sequences
// hold: the engine keeps a Reader's events themselves only while they are
// among the last 16,384 it processed, and copies an older one
// (detect.Options.KeepEvents). With Workers > 1 a fixed number of batches
// circulates.
type Reader struct {
	lines splitter
	dec   decoder
	max   int
	err   error   // sticky: the read error or io.EOF
	slab  []Event // Workers <= 1: the events still free in the current slab

	annotate func() func(*Event) // ReaderOptions.Annotate
	note     func(*Event)        // Workers <= 1: annotate's function

	// With Workers > 1.
	workers    int
	started    bool
	free       chan *batch // recycled batches; their number bounds memory
	results    chan *batch // in input order, to Next
	stop       chan struct{}
	ended      chan struct{} // closed once a batch holds the end of input
	mu         sync.Mutex    // guards lines and inputEnded
	inputEnded bool
	wg         sync.WaitGroup
	cur        *batch
	next       int
	closed     bool
}

// Sizes of the reading and decoding units. A chunk is one read(2) of
// input; a batch is the unit of work of a decoding goroutine and of event
// allocation. Both are small enough that an event kept for long (a pending
// sequence) keeps little else alive, and large enough that allocations
// and channel operations are rare per event.
const (
	chunkBytes = 128 << 10
	batchLines = 128
	batchBytes = 128 << 10
	slabEvents = 64 // Workers <= 1: events per slab
)

// NewReader returns a Reader of ndjson events from r.
func NewReader(r io.Reader, opt ReaderOptions) *Reader {
	limit := opt.MaxLineBytes
	if limit <= 0 {
		limit = DefaultMaxLineBytes
	}
	rd := &Reader{
		lines:    splitter{r: r, max: limit},
		workers:  opt.Workers,
		max:      limit,
		annotate: opt.Annotate,
	}
	rd.dec.shared = true
	return rd
}

// Next returns the next event. At the end of the input it returns io.EOF;
// for a malformed or over-long line it returns a *LineError, after which
// Next continues with the following line. Any other error comes from the
// underlying reader and is final.
func (r *Reader) Next() (*Event, error) {
	if r.workers > 1 {
		return r.nextParallel()
	}
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, num, tooLong, err := r.lines.next()
		if err != nil {
			r.err = err
			return nil, err
		}
		if tooLong {
			return nil, lineTooLong(num, r.max)
		}
		if isBlank(line) {
			continue
		}
		if len(r.slab) == 0 {
			r.slab = newSlab(slabEvents)
		}
		e := &r.slab[0]
		// Decode with a copy of the decoder on the stack (see Decode).
		d := r.dec
		err = d.decode(line, e)
		r.dec = d
		if err != nil {
			*e = Event{} // the slot is reused for the next line
			return nil, &LineError{Line: num, Err: err}
		}
		r.slab = r.slab[1:]
		if r.annotate != nil {
			if r.note == nil {
				r.note = r.annotate()
			}
			if r.note != nil {
				r.note(e)
			}
		}
		return e, nil
	}
}

// Close stops the decoding goroutines of a Reader with Workers > 1 and
// waits for them; it does not close the underlying reader, and a Read
// blocked there delays it. Next after Close returns an error. Close is
// needed only when the input is abandoned before io.EOF or a read error.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.started {
		close(r.stop)
		r.wg.Wait()
	}
	if r.err == nil {
		r.err = errors.New("ecs: reader closed")
	}
	return nil
}

// newSlab returns n zeroed events in one allocation, each page of it
// already written to.
//
// A slab this large is often fresh memory from the kernel, which the Go
// runtime knows to be zero and does not clear. If the first access to a
// page of it is a read (the decoder's d.e.Has |= bit), Linux maps the
// shared zero page, and the write that follows takes a copy-on-write
// fault that flushes the TLB of every CPU running the process
// (mm/memory.c: do_wp_page → ptep_clear_flush). In a replay that was a
// fifth of the CPU time; one store per event first makes every fault a
// plain write fault.
func newSlab(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i].Has = 0
	}
	return evs
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// splitter splits the input into lines with their numbers. It reads into
// chunks that it never rewrites: a line it returns stays valid and
// unchanged for good, so events may alias it. A line that does not fit in
// the rest of a chunk moves to a new one (its start is copied); a line
// longer than a chunk gets a chunk of its own, up to the line limit.
type splitter struct {
	r    io.Reader
	max  int
	buf  []byte // the current chunk: bytes before end are never rewritten
	pos  int    // start of the data not yet split
	seen int    // buf[pos:seen] holds no newline
	end  int    // end of the data read
	num  int    // number of the last line returned
	err  error  // the read error or io.EOF, once the input has ended
	skip bool   // discarding the rest of an over-long line
}

var bom = []byte("\xef\xbb\xbf")

// next returns the next line without its line ending. tooLong reports a
// line over max (its bytes are not returned).
func (s *splitter) next() (line []byte, num int, tooLong bool, err error) {
	for {
		if i := bytes.IndexByte(s.buf[s.seen:s.end], '\n'); i >= 0 {
			line = s.buf[s.pos : s.seen+i]
			s.pos = s.seen + i + 1
			s.seen = s.pos
			return s.emit(line)
		}
		s.seen = s.end
		if s.err != nil {
			// A read error drops a partial last line; at the end of the
			// input it is a line.
			if s.err != io.EOF || (s.pos == s.end && !s.skip) {
				return nil, 0, false, s.err
			}
			line = s.buf[s.pos:s.end]
			s.pos, s.seen = s.end, s.end
			return s.emit(line)
		}
		s.fill()
	}
}

func (s *splitter) emit(line []byte) ([]byte, int, bool, error) {
	s.num++
	if s.skip {
		s.skip = false
		return nil, s.num, true, nil
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if s.num == 1 {
		line = bytes.TrimPrefix(line, bom)
	}
	if len(line) > s.max {
		return nil, s.num, true, nil
	}
	return line, s.num, false, nil
}

// fill reads more input, after the partial line buf[pos:end].
func (s *splitter) fill() {
	// The partial line can still lose a "\r" and, on line 1, a byte order
	// mark; past that it is over the limit: drop what is read of it.
	limit := s.max + 1
	if s.num == 0 {
		limit += len(bom)
	}
	if s.skip || s.end-s.pos > limit {
		s.skip = true
		s.pos = s.end
	}
	if s.end == len(s.buf) {
		n := s.end - s.pos
		c := make([]byte, max(chunkBytes, 2*n))
		copy(c, s.buf[s.pos:s.end])
		s.buf, s.pos, s.seen, s.end = c, 0, n, n
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		if n < 0 || n > len(s.buf)-s.end {
			s.err = errors.New("ecs: read: reader returned an invalid count")
			return
		}
		s.end += n
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("ecs: read: %w", err)
			}
			s.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	s.err = fmt.Errorf("ecs: read: %w", io.ErrNoProgress)
}

func lineTooLong(num, limit int) error {
	return &LineError{Line: num, Err: fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, limit)}
}

// Parallel decoding. Each worker takes a free batch, fills it with the
// next lines under r.mu (splitting is sequential) and, still holding the
// lock, queues it for Next, so that batches reach Next in input order;
// then it decodes the batch and signals done. Next waits for a batch's
// done before returning its events. Reading is thus a short section of
// whichever worker needs work, not a goroutine of its own that the
// scheduler would have to fit in between the workers and Next on few
// CPUs. A fixed number of batches circulates, so memory is bounded
// whatever the input length; channel operations are per batch, never per
// event.

type batch struct {
	lines  []batchLine
	events []Event // the batch's slab, made by the worker
	errs   []error // per line: nil, or why it has no event
	err    error   // after the lines: the read error or io.EOF
	done   chan struct{}
}

type batchLine struct {
	b       []byte // aliases a chunk of the splitter
	num     int
	tooLong bool
}

func (r *Reader) start() {
	r.started = true
	n := 2*r.workers + 2
	r.free = make(chan *batch, n)
	r.results = make(chan *batch, n)
	r.stop = make(chan struct{})
	r.ended = make(chan struct{})
	for i := 0; i < n; i++ {
		r.free <- &batch{done: make(chan struct{}, 1)}
	}
	r.wg.Add(r.workers)
	for i := 0; i < r.workers; i++ {
		go r.work()
	}
}

// work fills and decodes batches until the input ends or Close.
func (r *Reader) work() {
	defer r.wg.Done()
	d := decoder{shared: true}
	var note func(*Event)
	if r.annotate != nil {
		note = r.annotate()
	}
	for {
		var b *batch
		select {
		case b = <-r.free:
		case <-r.stop:
			return
		case <-r.ended:
			return
		}
		if !r.fill(b) {
			return
		}
		evs := newSlab(len(b.lines))
		for k, l := range b.lines {
			if l.tooLong {
				b.errs = append(b.errs, lineTooLong(l.num, r.max))
				continue
			}
			if err := d.decode(l.b, &evs[k]); err != nil {
				evs[k] = Event{}
				b.errs = append(b.errs, &LineError{Line: l.num, Err: err})
				continue
			}
			b.errs = append(b.errs, nil)
			if note != nil {
				note(&evs[k])
			}
		}
		b.events = evs
		b.done <- struct{}{}
		// If Next was waiting for this batch, it is now runnable on this
		// P, but would wait for this worker to block or be preempted; with
		// as many workers as CPUs that held the consumer, the serial part
		// of the pipeline, back for most of a batch. Let it run.
		runtime.Gosched()
	}
}

// fill reads the next lines into b and queues it for Next. It reports
// false, queuing nothing, if an earlier batch ended the input.
func (r *Reader) fill(b *batch) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inputEnded {
		return false
	}
	size := 0
	for len(b.lines) < batchLines && size < batchBytes {
		line, num, tooLong, err := r.lines.next()
		if err != nil {
			b.err = err
			r.inputEnded = true
			close(r.ended)
			break
		}
		if !tooLong && isBlank(line) {
			continue
		}
		size += len(line)
		b.lines = append(b.lines, batchLine{b: line, num: num, tooLong: tooLong})
	}
	// results holds every batch at once, so this never blocks. Once
	// queued, b belongs to this worker until done, then to Next.
	r.results <- b
	return true
}

func (r *Reader) nextParallel() (*Event, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.started {
		r.start()
	}
	for {
		if b := r.cur; b != nil {
			if k := r.next; k < len(b.errs) {
				r.next++
				if err := b.errs[k]; err != nil {
					return nil, err
				}
				return &b.events[k], nil
			}
			if b.err != nil {
				r.err = b.err
				r.cur = nil
				r.wg.Wait()
				return nil, r.err
			}
			r.recycle(b)
		}
		b := <-r.results
		<-b.done
		r.cur, r.next = b, 0
	}
}

// recycle returns a consumed batch to the workers, holding no reference
// to its chunks, events or errors.
func (r *Reader) recycle(b *batch) {
	r.cur = nil
	clear(b.lines)
	b.lines = b.lines[:0]
	clear(b.errs)
	b.errs = b.errs[:0]
	b.events = nil
	b.err = nil
	r.free <- b
}
