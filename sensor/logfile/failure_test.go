package logfile

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// EROFS for a while: every line written meanwhile is queued and, once the
// file system accepts writes again, written exactly once, in order.
func TestWriteErrorQueuesAndRecovers(t *testing.T) {
	for _, how := range []string{"WriteBatch", "Retry"} {
		t.Run(how, func(t *testing.T) {
			path := tempLog(t)
			fs := newFaultFS()
			w := mustOpen(t, Options{Path: path}, fs)
			defer w.Close()
			if err := w.WriteBatch(lines(0, 10)); err != nil {
				t.Fatal(err)
			}
			fs.fail(0, errReadOnly)
			for i := 10; i < 40; i += 10 {
				err := w.WriteBatch(lines(i, i+10))
				if !errors.Is(err, syscall.EROFS) {
					t.Fatalf("err = %v, want EROFS", err)
				}
			}
			st := w.Stats()
			if st.Queued != 30 || st.Lines != 10 || st.Dropped != 0 {
				t.Fatalf("stats while failing %+v", st)
			}
			if err := w.Retry(); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("retry while failing: %v", err)
			}
			wantSeqs(t, readAll(t, path, 0), seqRange(0, 10))
			fs.heal()
			var err error
			if how == "Retry" {
				err = w.Retry()
			} else {
				err = w.WriteBatch(lines(40, 45))
			}
			if err != nil {
				t.Fatal(err)
			}
			end := 40
			if how == "WriteBatch" {
				end = 45
			}
			wantSeqs(t, readAll(t, path, 0), seqRange(0, end))
			st = w.Stats()
			if st.Queued != 0 || st.QueuedBytes != 0 || st.Lines != int64(end) || st.Dropped != 0 || st.Repaired != 0 {
				t.Fatalf("stats after recovery %+v", st)
			}
			if st.Retries < 4 {
				t.Fatalf("retries %d", st.Retries)
			}
		})
	}
}

// ENOSPC after N bytes: the write that crosses N is short, the rest of the
// line fails, a torn line is on disk meanwhile. Once space is back, the
// line is completed in place (nothing cut, nothing written twice).
func TestTornLineCompletedInPlace(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	w.WriteBatch(lines(0, 3))
	before, _ := os.ReadFile(path)
	fs.fail(int64(len(line(3))+1+10), errNoSpace) // line 3 fits, line 4 tears after 10 bytes
	err := w.WriteBatch(lines(3, 8))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(path)
	wantOnDisk := append(append(before, line(3)...), '\n')
	wantOnDisk = append(wantOnDisk, line(4)[:10]...)
	if !bytes.Equal(b, wantOnDisk) {
		t.Fatalf("on disk while failing:\n%q\nwant\n%q", b, wantOnDisk)
	}
	st := w.Stats()
	if st.Queued != 4 || st.ShortWrites != 1 || st.Lines != 4 {
		t.Fatalf("stats while failing %+v", st)
	}
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 8))
	st = w.Stats()
	if st.Queued != 0 || st.Lines != 8 || st.Repaired != 0 || st.Dropped != 0 {
		t.Fatalf("stats after recovery %+v", st)
	}
}

// The same, with the rest of the torn line failing several times, and
// making progress a few bytes at a time.
func TestTornLineCompletedPiecemeal(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	fs.fail(5, errNoSpace)
	w.WriteBatch(lines(0, 3))
	for i := 0; i < 20; i++ {
		fs.fail(3, errNoSpace)
		w.Retry()
	}
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 3))
	if st := w.Stats(); st.Repaired != 0 || st.Lines != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// If the file changed behind our back while a line was torn (here someone
// appended to it), the rest cannot be appended: the unterminated tail is
// cut and the line written whole.
func TestTornLineCutWhenFileChanged(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	w.WriteBatch(lines(0, 2))
	fs.fail(7, errNoSpace)
	w.WriteBatch(lines(2, 4))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("junk"))
	f.Close()
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 4))
	if st := w.Stats(); st.Repaired != 1 || st.RepairedBytes != 7+4 || st.Lines != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// Reopen while a line is torn and the disk still full: the fragment is cut
// from the file it was started in; the line is written whole later.
func TestTornLineCutAtReopen(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	w.WriteBatch(lines(0, 2))
	fs.fail(9, errNoSpace)
	w.WriteBatch(lines(2, 5))
	if err := w.Reopen(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("reopen: %v", err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 2)) // clean: the fragment is gone
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 5))
	if st := w.Stats(); st.Repaired != 1 || st.RepairedBytes != 9 || st.Lines != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// Close with the disk full: a torn fragment is cut, the queued lines are
// counted as dropped and reported; the next Open finds a clean file.
func TestCloseWhileFailing(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	w.WriteBatch(lines(0, 2))
	fs.fail(9, errNoSpace)
	w.WriteBatch(lines(2, 6))
	err := w.Close()
	if !errors.Is(err, ErrDropped) {
		t.Fatalf("close: %v", err)
	}
	st := w.Stats()
	if st.Dropped != 4 || st.Repaired != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 2))
	w = mustOpen(t, Options{Path: path}, defaultFS)
	defer w.Close()
	if st := w.Stats(); st.Repaired != 0 {
		t.Fatalf("reopen repaired %+v", st)
	}
}

// A queue too small for the outage: exactly the oldest lines that do not
// fit are dropped and counted, the newest ones arrive, in order.
func TestQueueOverflowDropsOldest(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	const queueBytes = 1000
	w := mustOpen(t, Options{Path: path, MaxLine: 200, QueueBytes: queueBytes}, fs)
	defer w.Close()
	fs.fail(0, errNoSpace)
	var droppedErrs int
	for i := 0; i < 60; i++ {
		if err := w.WriteBatch(lines(i, i+1)); errors.Is(err, ErrDropped) {
			droppedErrs++
		}
	}
	// The queue model: sizes are line+'\n'; the oldest go first.
	var kept []int
	size := 0
	dropped := 0
	for i := 0; i < 60; i++ {
		n := len(line(i)) + 1
		for len(kept) > 0 && size+n > queueBytes {
			size -= len(line(kept[0])) + 1
			kept = kept[1:]
			dropped++
		}
		kept = append(kept, i)
		size += n
	}
	st := w.Stats()
	if st.Dropped != int64(dropped) || st.Queued != int64(len(kept)) || st.QueuedBytes != int64(size) {
		t.Fatalf("stats %+v, want %d dropped, %d queued (%d bytes)", st, dropped, len(kept), size)
	}
	if dropped == 0 || droppedErrs == 0 {
		t.Fatalf("nothing dropped (%d, %d)", dropped, droppedErrs)
	}
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), kept)
}

// A partly written line is never dropped by the overflow: it is completed
// first; the queue behind it drops its oldest.
func TestQueueOverflowKeepsTornLine(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path, MaxLine: 200, QueueBytes: 300}, fs)
	defer w.Close()
	fs.fail(4, errNoSpace)
	for i := 0; i < 30; i++ {
		w.WriteBatch(lines(i, i+1))
	}
	fs.heal()
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, path, 0)
	if seqOf(t, got[0]) != 0 {
		t.Fatalf("torn line 0 not completed first: %q", got[0])
	}
	rest := got[1:]
	first := seqOf(t, rest[0])
	wantSeqs(t, rest, seqRange(first, 30))
	st := w.Stats()
	if st.Dropped != int64(first-1) || st.Repaired != 0 {
		t.Fatalf("stats %+v, first kept %d", st, first)
	}
}

// Short writes everywhere: every line takes several write(2) calls, each
// counted; all lines arrive whole.
func TestShortWritesCompleted(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	fs.setShort(7)
	if err := w.WriteBatch(lines(0, 50)); err != nil {
		t.Fatal(err)
	}
	wantShort, wantWrites := 0, 0
	for _, l := range lines(0, 50) {
		calls := (len(l) + 1 + 6) / 7
		wantWrites += calls
		wantShort += calls - 1
	}
	st := w.Stats()
	if st.ShortWrites != int64(wantShort) || fs.writes != wantWrites {
		t.Fatalf("short writes %d (want %d), write calls %d (want %d)", st.ShortWrites, wantShort, fs.writes, wantWrites)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 50))
}

// A descriptor closed behind our back (EBADF): the writer forgets it and
// reopens the path; nothing is lost.
func TestBadDescriptorReopens(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	w.WriteBatch(lines(0, 2))
	fs.fail(0, syscall.EBADF)
	if err := w.WriteBatch(lines(2, 4)); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("err = %v", err)
	}
	if w.f != nil {
		t.Fatal("descriptor not forgotten")
	}
	fs.heal()
	if err := w.WriteBatch(lines(4, 5)); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 5))
}

// A failed fsync is reported and counted; the lines, already in the file,
// are not written again.
func TestSyncErrorNotRewritten(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path}, fs)
	defer w.Close()
	fs.setSyncErr(syscall.EIO)
	if err := w.WriteBatch(lines(0, 3)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("err = %v", err)
	}
	fs.setSyncErr(nil)
	if err := w.WriteBatch(lines(3, 4)); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 4))
	if st := w.Stats(); st.SyncErrors != 1 || st.Queued != 0 || st.Lines != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// If the fresh file cannot be created after a rotation, lines queue until
// a retry creates it.
func TestOpenFailureAfterRotationQueues(t *testing.T) {
	path := tempLog(t)
	fs := &openFailFS{faultFS: newFaultFS()}
	w := mustOpen(t, Options{Path: path, MaxSize: 300, Keep: 5}, fs)
	defer w.Close()
	fs.err = syscall.EMFILE
	var err error
	n := 0
	for err == nil {
		err = w.WriteBatch(lines(n, n+1))
		n++
	}
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("err = %v", err)
	}
	w.WriteBatch(lines(n, n+5))
	n += 5
	if st := w.Stats(); st.Queued != 6 || st.Rotations != 1 {
		t.Fatalf("stats %+v", st)
	}
	fs.err = nil
	if err := w.Retry(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 5), seqRange(0, n))
}

type openFailFS struct {
	*faultFS
	err error
}

func (f *openFailFS) openAppend(path string, perm uint32) (*os.File, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.faultFS.openAppend(path, perm)
}

// A forwarder tailing the file while the disk fills up and frees again
// reads every line once and never a torn one: torn lines are completed in
// place, so what it holds of one is followed by the rest.
func TestFailureFollowed(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path, MaxSize: -1}, fs)
	r := newFollower(path, 0)
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	notify, done := make(chan struct{}, 1), make(chan struct{})
	result := make(chan error, 1)
	const total = 2000
	go func() { result <- r.run(total, notify, done, time.Now().Add(time.Minute)) }()
	n := 0
	for round := 0; n < total; round++ {
		switch round % 4 {
		case 1:
			fs.fail(int64(round*13%97), errNoSpace) // tears a line mid-way
		case 3:
			fs.heal()
		}
		k := min(1+round%17, total-n)
		w.WriteBatch(lines(n, n+k))
		n += k
		signal(notify)
		if round%4 == 2 {
			w.Retry()
			signal(notify)
		}
	}
	fs.heal()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	close(done)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Lines != total || st.Dropped != 0 || st.Repaired != 0 || st.ShortWrites == 0 {
		t.Fatalf("stats %+v", st)
	}
}
