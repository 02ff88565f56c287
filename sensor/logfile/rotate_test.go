package logfile

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const followLines = 10000

// writeFollowed writes followLines lines in batches of 1 to 50 while a
// follower reads them concurrently. Before each batch, wait (if not nil)
// may block until the follower has caught up enough.
func writeFollowed(t *testing.T, opt Options, wait func(w *Writer, r *follower) error) (*Writer, *follower) {
	t.Helper()
	w := mustOpen(t, opt, defaultFS)
	r := newFollower(opt.Path, opt.Keep)
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	notify, done := make(chan struct{}, 1), make(chan struct{})
	deadline := time.Now().Add(2 * time.Minute)
	result := make(chan error, 1)
	go func() { result <- r.run(followLines, notify, done, deadline) }()

	rng := rand.New(rand.NewPCG(1, 2))
	var werr error
	for i := 0; i < followLines && werr == nil; {
		n := min(1+rng.IntN(50), followLines-i)
		if wait != nil {
			if werr = wait(w, r); werr != nil {
				break
			}
		}
		if err := w.WriteBatch(lines(i, i+n)); err != nil {
			werr = err
		}
		signal(notify)
		i += n
	}
	if err := w.Close(); err != nil && werr == nil {
		werr = err
	}
	close(done)
	rerr := <-result
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if rerr != nil {
		t.Fatalf("follower: %v", rerr)
	}
	if got := r.next.Load(); got != followLines {
		t.Fatalf("follower read %d lines", got)
	}
	return w, r
}

// Keep is large enough that no file is removed: the follower may fall any
// distance behind and still reads every line exactly once, in order.
func TestRotationFollowedKeepAll(t *testing.T) {
	path := tempLog(t)
	opt := Options{Path: path, MaxSize: 4096, Keep: 1000}
	w, r := writeFollowed(t, opt, nil)
	st := w.Stats()
	if st.Rotations < 100 || st.Rotations >= int64(opt.Keep) {
		t.Fatalf("%d rotations: want at least 100 and fewer than Keep", st.Rotations)
	}
	if r.gen.Load() != st.Rotations {
		t.Fatalf("follower saw %d generations, writer rotated %d times", r.gen.Load(), st.Rotations)
	}
	// Every generation is still on disk, under exactly these names, none
	// over MaxSize, and together they hold every line once.
	for i := int64(1); i <= st.Rotations; i++ {
		fi, err := os.Stat(path + "." + strconv.FormatInt(i, 10))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > opt.MaxSize {
			t.Fatalf("%s: %d bytes", fi.Name(), fi.Size())
		}
	}
	if _, err := os.Stat(path + "." + strconv.FormatInt(st.Rotations+1, 10)); !os.IsNotExist(err) {
		t.Fatalf("unexpected generation: %v", err)
	}
	wantSeqs(t, readAll(t, path, opt.Keep), seqRange(0, followLines))
	t.Logf("%d rotations; the follower was up to %d generations behind", st.Rotations, r.maxBack)
	if st.Lines != followLines || st.Dropped != 0 || st.Repaired != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Keep 1: a rotation removes Path.1, so the follower must keep up. The
// writer waits until the follower has reached the current generation
// before a batch that may rotate (a batch is smaller than MaxSize, so it
// rotates at most once): the invariant rotations ≤ follower's generation
// + Keep holds, and nothing the follower has not read is removed. A real
// forwarder gets the same guarantee as long as it is never more than
// Keep files (Keep×MaxSize bytes) behind.
func TestRotationFollowedKeepSmall(t *testing.T) {
	path := tempLog(t)
	opt := Options{Path: path, MaxSize: 8192, Keep: 1}
	waits := 0
	wait := func(w *Writer, r *follower) error {
		timeout := time.NewTimer(time.Minute)
		defer timeout.Stop()
		for w.Stats().Rotations+1 > r.gen.Load()+int64(opt.Keep) {
			waits++
			select {
			case <-r.progress:
			case <-timeout.C:
				return errors.New("follower does not keep up")
			}
		}
		return nil
	}
	w, r := writeFollowed(t, opt, wait)
	st := w.Stats()
	if st.Rotations < 50 {
		t.Fatalf("%d rotations", st.Rotations)
	}
	if r.gen.Load() != st.Rotations {
		t.Fatalf("follower saw %d generations, writer rotated %d times", r.gen.Load(), st.Rotations)
	}
	// Only Path and Path.1 remain: the older generations were removed.
	if _, err := os.Stat(path + ".2"); !os.IsNotExist(err) {
		t.Fatalf("Path.2: %v", err)
	}
	got := readAll(t, path, opt.Keep)
	wantSeqs(t, got, seqRange(followLines-len(got), followLines))
	t.Logf("%d rotations, the writer waited for the follower %d times", st.Rotations, waits)
}

// What Keep protects against: a follower more than Keep generations behind
// finds the file after the one it holds removed. (It still reads the file
// it holds to its end: an open file outlives its name.)
func TestRotationFollowerTooFarBehind(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxSize: 200, Keep: 1}, defaultFS)
	defer w.Close()
	r := newFollower(path, 1)
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	defer r.f.Close()
	n := 0
	for w.Stats().Rotations < 3 {
		w.WriteBatch(lines(n, n+1))
		n++
	}
	err := r.advance(time.Now().Add(100 * time.Millisecond))
	if err == nil {
		t.Fatal("follower found its way although generation 1 was removed")
	}
	if r.next.Load() == 0 {
		t.Fatal("the held file was not read")
	}
}

// Rotation keeps exactly Path.1 … Path.Keep, newest first, and removes
// Path.Keep's content at the next rotation.
func TestRotationNames(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxSize: 250, Keep: 3}, defaultFS)
	n := 0
	for w.Stats().Rotations < 6 {
		if err := w.WriteBatch(lines(n, n+1)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	w.Close()
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 250 || fi.Size() == 0 {
			t.Fatalf("%s: %d bytes", name, fi.Size())
		}
	}
	if _, err := os.Stat(path + ".4"); !os.IsNotExist(err) {
		t.Fatalf("Path.4: %v", err)
	}
	got := readAll(t, path, 3)
	wantSeqs(t, got, seqRange(n-len(got), n))
}

// A line longer than MaxSize goes, alone, into a fresh file: no rotation
// loop, no lost line.
func TestRotationLineOverMaxSize(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxSize: 40, Keep: 10}, defaultFS)
	if err := w.WriteBatch(lines(0, 5)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if st := w.Stats(); st.Rotations != 4 {
		t.Fatalf("%d rotations for 5 lines, each over MaxSize", st.Rotations)
	}
	wantSeqs(t, readAll(t, path, 10), seqRange(0, 5))
}

func TestNoRotationWhenMaxSizeNegative(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxSize: -1}, defaultFS)
	w.WriteBatch(lines(0, 100))
	w.Close()
	if st := w.Stats(); st.Rotations != 0 {
		t.Fatalf("%d rotations", st.Rotations)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 100))
}

// If someone moved the file away without telling us, rotation does not
// rename their new file (or nothing) to Path.1: it opens Path afresh.
func TestRotationAfterExternalMove(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxSize: 300, Keep: 2}, defaultFS)
	defer w.Close()
	w.WriteBatch(lines(0, 2))
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	n := 2
	for !fileExists(path) {
		w.WriteBatch(lines(n, n+1))
		n++
	}
	w.WriteBatch(lines(n, n+1))
	n++
	if st := w.Stats(); st.Rotations != 0 {
		t.Fatalf("%d rotations counted", st.Rotations)
	}
	if fileExists(path + ".1") {
		t.Fatal("Path.1 created")
	}
	moved := readAll(t, path+".moved", 0)
	wantSeqs(t, moved, seqRange(0, len(moved)))
	wantSeqs(t, readAll(t, path, 0), seqRange(len(moved), n))
}

func fileExists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// A failing rename keeps the lines flowing into the current file, reports
// the error and tries again at the next batch.
func TestRotationRenameFailure(t *testing.T) {
	path := tempLog(t)
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: path, MaxSize: 200, Keep: 2}, fs)
	defer w.Close()
	fs.setRenameErr(syscall.EACCES)
	err := w.WriteBatch(lines(0, 10))
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("err = %v", err)
	}
	st := w.Stats()
	if st.Lines != 10 || st.Rotations != 0 || st.WriteErrors != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v: want 10 lines, one failed rotation tried once", st)
	}
	fs.setRenameErr(nil)
	if err := w.WriteBatch(lines(10, 11)); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Rotations != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantSeqs(t, readAll(t, path, 2), seqRange(0, 11))
}
