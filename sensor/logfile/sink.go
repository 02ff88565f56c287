package logfile

import (
	"errors"
	"sync/atomic"
	"time"
)

// Sink defaults.
const (
	DefaultSinkQueue = 4096
	DefaultSinkBatch = 256
	DefaultRetry     = time.Second
)

// SinkOptions configure a Sink. Zero values take the defaults.
type SinkOptions struct {
	// Queue is how many lines may wait for the sink's goroutine (default
	// DefaultSinkQueue). Send refuses a line when it is full.
	Queue int
	// Batch is the most lines handed to one WriteBatch (one fsync;
	// default DefaultSinkBatch).
	Batch int
	// RetryEvery is how often lines the Writer queued after a failure are
	// retried (default DefaultRetry).
	RetryEvery time.Duration
	// OnError receives, on the sink's goroutine, the Writer's errors: each
	// distinct message once until the Writer recovers, and every error
	// that wraps ErrDropped (lines lost). nil: errors are only counted.
	OnError func(err error)
	// OnRecover is called, on the sink's goroutine, when the Writer
	// succeeds again after errors and has nothing left queued.
	OnRecover func()
}

// SinkStats are a Sink's counters.
type SinkStats struct {
	Writer  Stats  // the Writer's own counters
	Refused uint64 // lines Send refused: the sink's queue was full
}

// Sink owns a Writer and the goroutine that writes it: callers hand it
// lines through a bounded channel and never wait on the disk. The
// goroutine takes every line already waiting (up to Batch) into one
// WriteBatch, so a burst costs one fsync; retries what the Writer queued
// after a failure every RetryEvery; and reopens the file on request (the
// SIGHUP of an external log rotation). Send, Reopen, Retry and Close are
// called by one goroutine (the owner); Stats by any.
type Sink struct {
	w        *Writer
	opt      SinkOptions
	lines    chan []byte
	reopen   chan struct{}
	retry    chan struct{}
	done     chan struct{}
	closed   bool
	closeErr error
	refused  atomic.Uint64
	// stats is the Writer's counters as of its last call, published by the
	// goroutine: Stats never waits on a Writer stuck in a slow write.
	stats atomic.Pointer[Stats]
}

// NewSink starts the goroutine that writes lines to w. The Sink owns w
// from now on: Close closes it.
func NewSink(w *Writer, opt SinkOptions) *Sink {
	if opt.Queue <= 0 {
		opt.Queue = DefaultSinkQueue
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultSinkBatch
	}
	if opt.RetryEvery <= 0 {
		opt.RetryEvery = DefaultRetry
	}
	s := &Sink{w: w, opt: opt, lines: make(chan []byte, opt.Queue),
		reopen: make(chan struct{}, 1), retry: make(chan struct{}, 1), done: make(chan struct{})}
	s.publish()
	go s.loop()
	return s
}

// Send queues a copy of line and reports whether there was room; a refused
// line is counted (SinkStats.Refused). It never blocks.
func (s *Sink) Send(line []byte) bool {
	select {
	case s.lines <- append([]byte(nil), line...):
		return true
	default:
		s.refused.Add(1)
		return false
	}
}

// Reopen asks the goroutine to reopen the file (Writer.Reopen).
func (s *Sink) Reopen() { nudge(s.reopen) }

// Retry asks the goroutine to retry the Writer's queued lines now rather
// than at the next RetryEvery tick.
func (s *Sink) Retry() { nudge(s.retry) }

func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Close writes the lines waiting, closes the Writer and waits for the
// goroutine to end. It returns the Writer's Close error. Send must not be
// called after Close; a second Close returns the first one's error.
func (s *Sink) Close() error {
	if !s.closed {
		s.closed = true
		close(s.lines)
	}
	<-s.done
	return s.closeErr
}

// Stats returns the counters. The Writer's are those of its last call: a
// write in progress (a slow disk) does not block Stats.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Writer: *s.stats.Load(), Refused: s.refused.Load()}
}

func (s *Sink) publish() {
	st := s.w.Stats()
	s.stats.Store(&st)
}

func (s *Sink) loop() {
	defer close(s.done)
	tick := time.NewTicker(s.opt.RetryEvery)
	defer tick.Stop()
	batch := make([][]byte, 0, s.opt.Batch)
	var last string // the cause last reported; "" when healthy
	for {
		select {
		case l, ok := <-s.lines:
			closed := !ok
			if ok {
				batch = append(batch, l)
				closed = s.takeWaiting(&batch)
			}
			if len(batch) > 0 {
				s.report(s.w.WriteBatch(batch), &last)
				clear(batch)
				batch = batch[:0]
			}
			if closed {
				s.closeErr = s.w.Close()
				s.report(s.closeErr, &last)
				return
			}
		case <-s.reopen:
			s.report(s.w.Reopen(), &last)
		case <-s.retry:
			s.retryQueued(&last)
		case <-tick.C:
			s.retryQueued(&last)
		}
	}
}

func (s *Sink) retryQueued(last *string) {
	if s.w.Stats().Queued > 0 {
		s.report(s.w.Retry(), last)
	}
}

// takeWaiting appends the lines already waiting, up to the batch's
// capacity. It reports whether the channel was closed.
func (s *Sink) takeWaiting(batch *[][]byte) (closed bool) {
	for len(*batch) < cap(*batch) {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return true
			}
			*batch = append(*batch, l)
		default:
			return false
		}
	}
	return false
}

// report hands err to OnError once per distinct cause (the innermost error:
// an outage that keeps failing with EROFS is reported once however the
// queued count in the message grows), always when lines were dropped, and
// calls OnRecover when the Writer is healthy again.
func (s *Sink) report(err error, last *string) {
	s.publish()
	if err == nil {
		if *last != "" && s.w.Stats().Queued == 0 {
			*last = ""
			if s.opt.OnRecover != nil {
				s.opt.OnRecover()
			}
		}
		return
	}
	c := cause(err)
	if !errors.Is(err, ErrDropped) && c == *last {
		return
	}
	*last = c
	if s.opt.OnError != nil {
		s.opt.OnError(err)
	}
}

// cause is the message of the innermost error of err's single-error chain.
func cause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
