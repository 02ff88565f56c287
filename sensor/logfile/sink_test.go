package logfile

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gateFS holds the first write until released and counts fsyncs.
type gateFS struct {
	*faultFS
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	syncs   int
}

func newGateFS() *gateFS {
	return &gateFS{faultFS: newFaultFS(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateFS) write(f *os.File, p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.faultFS.write(f, p)
}

func (g *gateFS) fsync(f *os.File) error {
	g.mu.Lock()
	g.syncs++
	g.mu.Unlock()
	return g.faultFS.fsync(f)
}

// waitFor polls cond until it holds or a 10 s deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSinkWritesEveryLineInOrder(t *testing.T) {
	path := tempLog(t)
	s := NewSink(mustOpen(t, Options{Path: path}, defaultFS), SinkOptions{})
	for i := range 1000 {
		if !s.Send(line(i)) {
			t.Fatalf("line %d refused", i)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 1000))
	if st := s.Stats(); st.Writer.Lines != 1000 || st.Refused != 0 || st.Writer.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Lines that arrive while a write is in progress go out together: one
// WriteBatch, one fsync, per Batch lines.
func TestSinkBatchesWaitingLines(t *testing.T) {
	path := tempLog(t)
	g := newGateFS()
	s := NewSink(mustOpen(t, Options{Path: path}, g), SinkOptions{Batch: 256})
	s.Send(line(0))
	<-g.entered // the goroutine is writing line 0
	for i := 1; i <= 300; i++ {
		s.Send(line(i))
	}
	close(g.release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 301))
	// [0], [1..256], [257..300]
	if g.syncs != 3 {
		t.Errorf("fsyncs = %d, want 3 (one per batch)", g.syncs)
	}
}

// A full queue refuses and counts; it never blocks the sender.
func TestSinkQueueFullRefuses(t *testing.T) {
	path := tempLog(t)
	g := newGateFS()
	s := NewSink(mustOpen(t, Options{Path: path}, g), SinkOptions{Queue: 4})
	s.Send(line(0))
	<-g.entered
	for i := 1; i <= 4; i++ {
		if !s.Send(line(i)) {
			t.Fatalf("line %d refused with room in the queue", i)
		}
	}
	if s.Send(line(5)) || s.Send(line(6)) {
		t.Fatal("a full queue took a line")
	}
	if st := s.Stats(); st.Refused != 2 {
		t.Errorf("refused = %d, want 2", st.Refused)
	}
	close(g.release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 5))
}

// A read-only file system for a while: the Writer queues, the sink reports
// the outage once, retries, and reports the recovery; every line lands
// once, in order.
func TestSinkRetriesAfterFailure(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	var mu sync.Mutex
	var errs []error
	recovered := 0
	s := NewSink(mustOpen(t, Options{Path: path}, fs), SinkOptions{
		RetryEvery: time.Hour, // retries only when the test asks
		OnError:    func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
		OnRecover:  func() { mu.Lock(); recovered++; mu.Unlock() },
	})
	s.Send(line(0))
	waitFor(t, "line 0 written", func() bool { return s.Stats().Writer.Lines == 1 })
	fs.fail(0, errReadOnly)
	for i := 1; i <= 30; i++ {
		s.Send(line(i))
		waitFor(t, "line queued", func() bool { return s.Stats().Writer.Queued == int64(i) })
	}
	s.Retry()
	mu.Lock()
	if len(errs) != 1 || !errors.Is(errs[0], syscall.EROFS) {
		t.Errorf("errors reported %v, want one EROFS", errs)
	}
	mu.Unlock()
	fs.heal()
	s.Retry()
	waitFor(t, "recovery", func() bool { mu.Lock(); defer mu.Unlock(); return recovered == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 31))
	if st := s.Stats().Writer; st.Lines != 31 || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
	if len(errs) != 1 {
		t.Errorf("errors reported %d times, want once", len(errs))
	}
}

// Lines dropped by the Writer's full retry queue are reported every time,
// not once per outage.
func TestSinkReportsEveryDrop(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	var mu sync.Mutex
	drops := 0
	const queueBytes = 1000
	s := NewSink(mustOpen(t, Options{Path: path, MaxLine: 200, QueueBytes: queueBytes}, fs), SinkOptions{
		RetryEvery: time.Hour,
		OnError: func(err error) {
			if errors.Is(err, ErrDropped) {
				mu.Lock()
				drops++
				mu.Unlock()
			}
		},
	})
	fs.fail(0, errNoSpace)
	// The queue model of TestQueueOverflowDropsOldest, counting the
	// writes that dropped something.
	size, dropping := 0, 0
	var kept []int
	for i := range 60 {
		s.Send(line(i))
		waitFor(t, "line handled", func() bool { st := s.Stats().Writer; return st.Queued+st.Dropped == int64(i+1) })
		n := len(line(i)) + 1
		dropped := false
		for len(kept) > 0 && size+n > queueBytes {
			size -= len(line(kept[0])) + 1
			kept = kept[1:]
			dropped = true
		}
		kept = append(kept, i)
		size += n
		if dropped {
			dropping++
		}
	}
	mu.Lock()
	got := drops
	mu.Unlock()
	if dropping == 0 || got != dropping {
		t.Errorf("%d drops reported, want %d (one per write that dropped)", got, dropping)
	}
	fs.heal()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), kept)
}

// Reopen (SIGHUP after an external rotation) makes the sink write to a
// fresh file at the path.
func TestSinkReopen(t *testing.T) {
	path := tempLog(t)
	s := NewSink(mustOpen(t, Options{Path: path}, defaultFS), SinkOptions{})
	s.Send(line(0))
	waitFor(t, "line 0 written", func() bool { return s.Stats().Writer.Lines == 1 })
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	s.Reopen()
	waitFor(t, "the file reopened", func() bool { _, err := os.Stat(path); return err == nil })
	s.Send(line(1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path+".old", 0), []int{0})
	wantSeqs(t, readAll(t, path, 0), []int{1})
}
