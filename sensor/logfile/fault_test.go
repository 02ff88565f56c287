package logfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// faultFS wraps the real file system and injects failures: a write budget
// after which writes fail (ENOSPC after N bytes: the write that crosses it
// is short, as on a full disk), an error for every write (EROFS for a
// while), short writes, failing renames and fsyncs.
type faultFS struct {
	fsys
	mu        sync.Mutex
	budget    int64 // bytes writes may still take; < 0: no limit
	writeErr  error // returned once the budget is spent
	shortMax  int   // a write takes at most this many bytes; 0: no limit
	renameErr error
	syncErr   error
	writes    int
}

func newFaultFS() *faultFS { return &faultFS{fsys: defaultFS, budget: -1} }

// fail makes writes fail with err after n more bytes.
func (f *faultFS) fail(n int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget, f.writeErr = n, err
}

// heal lets writes through again.
func (f *faultFS) heal() { f.fail(-1, nil) }

func (f *faultFS) setShort(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shortMax = n
}

func (f *faultFS) setRenameErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renameErr = err
}

func (f *faultFS) setSyncErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncErr = err
}

func (f *faultFS) write(file *os.File, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	n := len(p)
	if f.shortMax > 0 && n > f.shortMax {
		n = f.shortMax
	}
	if f.budget >= 0 {
		if f.budget == 0 {
			return 0, f.writeErr
		}
		if int64(n) > f.budget {
			n = int(f.budget)
		}
	}
	m, err := f.fsys.write(file, p[:n])
	if f.budget >= 0 {
		f.budget -= int64(m)
	}
	return m, err
}

func (f *faultFS) rename(from, to string) error {
	f.mu.Lock()
	err := f.renameErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.fsys.rename(from, to)
}

func (f *faultFS) fsync(file *os.File) error {
	f.mu.Lock()
	err := f.syncErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.fsys.fsync(file)
}

// line returns the JSON line with sequence number i; its padding varies so
// that lines have different lengths.
func line(i int) []byte {
	pad := bytes.Repeat([]byte{'x'}, (i*37)%61)
	return fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, i, pad)
}

// lines returns line(from) … line(to-1).
func lines(from, to int) [][]byte {
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, line(i))
	}
	return out
}

// seqOf decodes a line written by line.
func seqOf(t testing.TB, l []byte) int {
	t.Helper()
	var v struct {
		Seq *int `json:"seq"`
	}
	if err := json.Unmarshal(l, &v); err != nil || v.Seq == nil {
		t.Fatalf("not a whole line: %q (%v)", l, err)
	}
	return *v.Seq
}

// readAll returns the lines of path.keep … path.1, path, oldest first,
// failing if a file does not end with '\n'.
func readAll(t testing.TB, path string, keep int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := keep; i >= 0; i-- {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		b, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			continue
		}
		if b[len(b)-1] != '\n' {
			t.Fatalf("%s ends in a torn line: %q", name, tail(b))
		}
		out = append(out, bytes.Split(b[:len(b)-1], []byte{'\n'})...)
	}
	return out
}

func tail(b []byte) []byte {
	if len(b) > 80 {
		return b[len(b)-80:]
	}
	return b
}

// wantSeqs checks that got holds exactly the lines with sequence numbers
// want, in order.
func wantSeqs(t testing.TB, got [][]byte, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i, l := range got {
		if s := seqOf(t, l); s != want[i] {
			t.Fatalf("line %d: seq %d, want %d", i, s, want[i])
		}
		if !bytes.Equal(l, line(want[i])) {
			t.Fatalf("line %d: %q, want %q", i, l, line(want[i]))
		}
	}
}

func seqRange(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func tempLog(t testing.TB) string {
	return filepath.Join(t.TempDir(), "alerts.ndjson")
}

func mustOpen(t testing.TB, opt Options, sys fsys) *Writer {
	t.Helper()
	w, err := open(opt, sys)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	errNoSpace  = syscall.ENOSPC
	errReadOnly = syscall.EROFS
)
