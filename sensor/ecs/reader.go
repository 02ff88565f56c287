package ecs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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
// accepted. Memory stays flat in the input's length: a line's bytes are
// released once the line is decoded (the event keeps its own copy), and
// with Workers > 1 a fixed number of batches circulates. Next and Close
// are called from one goroutine.
type Reader struct {
	lines lineReader
	dec   decoder
	err   error // sticky: the read error or io.EOF

	// With Workers > 1.
	workers int
	max     int
	started bool
	free    chan *batch // recycled batches; their number bounds memory
	work    chan *batch // to the workers
	results chan *batch // in input order, to Next
	stop    chan struct{}
	wg      sync.WaitGroup
	cur     *batch
	next    int
	closed  bool
}

// NewReader returns a Reader of ndjson events from r.
func NewReader(r io.Reader, opt ReaderOptions) *Reader {
	limit := opt.MaxLineBytes
	if limit <= 0 {
		limit = DefaultMaxLineBytes
	}
	return &Reader{
		lines:   lineReader{br: bufio.NewReaderSize(r, 64<<10), max: limit},
		workers: opt.Workers,
		max:     limit,
	}
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
		e, slab := newEvent()
		// Decode with a copy of the decoder on the stack (see Decode).
		d := r.dec
		err = d.decode(line, e, slab)
		r.dec = d
		if err != nil {
			return nil, &LineError{Line: num, Err: err}
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

// eventBlock is an Event allocated together with the first memory for its
// string arrays (event.category, event.type, process.args): one allocation
// instead of two for a typical event.
type eventBlock struct {
	e    Event
	strs [8]string
}

func newEvent() (*Event, []string) {
	b := new(eventBlock)
	return &b.e, b.strs[:0]
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// lineReader splits the input into lines with their numbers.
type lineReader struct {
	br   *bufio.Reader
	max  int
	num  int
	long []byte // a line longer than the bufio buffer, up to max
}

// next returns the next line without its line ending, valid until the
// following call. tooLong reports a line over max (its bytes are skipped).
func (l *lineReader) next() (line []byte, num int, tooLong bool, err error) {
	frag, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the bufio buffer: gather it in l.long, up to max
		// plus a line ending; past that, skip to the newline.
		l.long = append(l.long[:0], frag...)
		for err == bufio.ErrBufferFull {
			frag, err = l.br.ReadSlice('\n')
			switch {
			case tooLong:
			case len(l.long)+len(frag) > l.max+2:
				tooLong = true
				l.long = l.long[:0]
			default:
				l.long = append(l.long, frag...)
			}
		}
		frag = l.long
	}
	if err != nil && err != io.EOF {
		return nil, 0, false, fmt.Errorf("ecs: read: %w", err)
	}
	if err == io.EOF && len(frag) == 0 && !tooLong {
		return nil, 0, false, io.EOF
	}
	l.num++
	if n := len(frag); n > 0 && frag[n-1] == '\n' {
		frag = frag[:n-1]
	}
	if n := len(frag); n > 0 && frag[n-1] == '\r' {
		frag = frag[:n-1]
	}
	if l.num == 1 {
		frag = bytes.TrimPrefix(frag, []byte("\xef\xbb\xbf"))
	}
	if len(frag) > l.max {
		tooLong = true
	}
	return frag, l.num, tooLong, nil
}

func lineTooLong(num, limit int) error {
	return &LineError{Line: num, Err: fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, limit)}
}

// Parallel decoding. One goroutine (fill) reads batches of lines and
// hands each to the workers and, in input order, to Next; Next waits for
// a batch's done signal before returning its events. A fixed number of
// batches circulates, so memory is bounded whatever the input length.

const (
	batchLines = 256
	batchBytes = 256 << 10
)

type batch struct {
	data   []byte
	lines  []batchLine
	events []*Event
	errs   []error
	err    error // after the lines: the read error or io.EOF
	done   chan struct{}
}

type batchLine struct {
	start, end int
	num        int
	tooLong    bool
}

func (r *Reader) start() {
	r.started = true
	n := 2*r.workers + 2
	r.free = make(chan *batch, n)
	r.work = make(chan *batch, n)
	r.results = make(chan *batch, n)
	r.stop = make(chan struct{})
	for i := 0; i < n; i++ {
		r.free <- &batch{done: make(chan struct{}, 1)}
	}
	r.wg.Add(1 + r.workers)
	go r.fill()
	for i := 0; i < r.workers; i++ {
		go r.decodeBatches()
	}
}

// fill reads batches until the input ends or Close.
func (r *Reader) fill() {
	defer r.wg.Done()
	defer close(r.work)
	defer close(r.results)
	for {
		var b *batch
		select {
		case b = <-r.free:
		case <-r.stop:
			return
		}
		for len(b.lines) < batchLines && len(b.data) < batchBytes {
			line, num, tooLong, err := r.lines.next()
			if err != nil {
				b.err = err
				break
			}
			if tooLong {
				b.lines = append(b.lines, batchLine{num: num, tooLong: true})
				continue
			}
			if isBlank(line) {
				continue
			}
			start := len(b.data)
			b.data = append(b.data, line...)
			b.lines = append(b.lines, batchLine{start: start, end: len(b.data), num: num})
		}
		// The channels hold every batch at once, so these sends never
		// block. Once sent, b belongs to the workers and to Next.
		last := b.err != nil
		r.work <- b
		r.results <- b
		if last {
			return
		}
	}
}

func (r *Reader) decodeBatches() {
	defer r.wg.Done()
	var d decoder
	for b := range r.work {
		for _, l := range b.lines {
			if l.tooLong {
				b.events = append(b.events, nil)
				b.errs = append(b.errs, lineTooLong(l.num, r.max))
				continue
			}
			e, slab := newEvent()
			if err := d.decode(b.data[l.start:l.end], e, slab); err != nil {
				b.events = append(b.events, nil)
				b.errs = append(b.errs, &LineError{Line: l.num, Err: err})
				continue
			}
			b.events = append(b.events, e)
			b.errs = append(b.errs, nil)
		}
		b.done <- struct{}{}
	}
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
			if r.next < len(b.events) {
				e, err := b.events[r.next], b.errs[r.next]
				b.events[r.next], b.errs[r.next] = nil, nil
				r.next++
				if err != nil {
					return nil, err
				}
				return e, nil
			}
			if b.err != nil {
				r.err = b.err
				r.cur = nil
				r.wg.Wait()
				return nil, r.err
			}
			r.recycle(b)
		}
		b, ok := <-r.results
		if !ok {
			r.err = io.EOF // not reached: the last batch carries the error
			return nil, r.err
		}
		<-b.done
		r.cur, r.next = b, 0
	}
}

// recycle returns a consumed batch to fill.
func (r *Reader) recycle(b *batch) {
	r.cur = nil
	b.data = b.data[:0]
	b.lines = b.lines[:0]
	b.events = b.events[:0]
	b.errs = b.errs[:0]
	b.err = nil
	r.free <- b
}
