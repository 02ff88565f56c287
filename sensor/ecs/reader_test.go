package ecs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// item is one result of Reader.Next: an event's JSON or an error.
type item struct {
	json string
	err  string
}

func readAll(t *testing.T, r *Reader) []item {
	t.Helper()
	var out []item
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		var le *LineError
		switch {
		case err == nil:
			out = append(out, item{json: string(e.AppendJSON(nil))})
		case errors.As(err, &le):
			out = append(out, item{err: err.Error()})
		default:
			out = append(out, item{err: "fatal: " + err.Error()})
			return out
		}
	}
}

func TestReaderLines(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 200) + `"}`
	input := "\xef\xbb\xbf{\"a\":1}\n" + // 1: BOM skipped
		"\n" + // 2: blank
		"   \t\r\n" + // 3: blank
		"{\"a\":2}\r\n" + // 4: CRLF
		"{\"a\":\n" + // 5: malformed
		long + "\n" + // 6: too long
		"{\"a\":3}\n" + // 7
		"not json\n" + // 8
		"{\"a\":4}" // 9: no final newline
	want := []item{
		{json: `{"a":1}`},
		{json: `{"a":2}`},
		{err: "ecs: line 5: offset 5: unexpected end of input"},
		{err: "ecs: line 6: line too long (over 100 bytes)"},
		{json: `{"a":3}`},
		{err: "ecs: line 8: offset 0: expected object"},
		{json: `{"a":4}`},
	}
	for _, workers := range []int{0, 1, 2, 4} {
		for _, size := range []int{1, 3, 64 << 10} {
			r := NewReader(&chunked{data: []byte(input), size: size}, ReaderOptions{Workers: workers, MaxLineBytes: 100})
			got := readAll(t, r)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("workers %d, reads of %d bytes:\ngot  %v\nwant %v", workers, size, got, want)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
			r.Close()
		}
	}
}

// chunked returns data size bytes per Read.
type chunked struct {
	data []byte
	size int
	err  error // returned once data is exhausted, instead of io.EOF
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := min(len(p), c.size, len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestReaderLongLines checks lines longer than the read buffer.
func TestReaderLongLines(t *testing.T) {
	big := `{"a":"` + strings.Repeat("y", 200<<10) + `"}`
	huge := `{"a":"` + strings.Repeat("z", 2<<20) + `"}`
	input := big + "\n" + huge + "\n" + `{"a":1}` + "\n" + huge
	for _, workers := range []int{1, 3} {
		r := NewReader(strings.NewReader(input), ReaderOptions{Workers: workers})
		got := readAll(t, r)
		want := []item{
			{json: big},
			{err: "ecs: line 2: line too long (over 1048576 bytes)"},
			{json: `{"a":1}`},
			{err: "ecs: line 4: line too long (over 1048576 bytes)"},
		}
		if len(got) != len(want) {
			t.Fatalf("workers %d: %d items, want %d", workers, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("workers %d, item %d: got %.80s…, want %.80s…", workers, i, got[i], want[i])
			}
		}
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, workers := range []int{1, 2} {
		r := NewReader(&chunked{data: []byte("{\"a\":1}\n{\"a\":2}\n{\"a\""), size: 5, err: boom}, ReaderOptions{Workers: workers})
		got := readAll(t, r)
		want := []item{{json: `{"a":1}`}, {json: `{"a":2}`}, {err: "fatal: ecs: read: boom"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("workers %d: got %v, want %v", workers, got, want)
		}
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Errorf("workers %d: error not sticky: %v", workers, err)
		}
	}
}

// TestReaderWorkersOrder checks that parallel decoding keeps input order,
// errors included, over many batches.
func TestReaderWorkersOrder(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 20000; i++ {
		switch {
		case i%997 == 0:
			b.WriteString("{\"broken\":\n")
		case i%1009 == 0:
			b.WriteString("\n")
		default:
			fmt.Fprintf(&b, `{"event":{"sequence":%d},"process":{"args":["a","%d"]},"x.y":%d}`+"\n", i, i, i%7)
		}
	}
	want := readAll(t, NewReader(bytes.NewReader(b.Bytes()), ReaderOptions{Workers: 1}))
	if len(want) != 20000-19 { // 19 blank lines; the 21 broken ones are errors
		t.Fatalf("%d items", len(want))
	}
	for _, workers := range []int{2, 4} {
		got := readAll(t, NewReader(bytes.NewReader(b.Bytes()), ReaderOptions{Workers: workers}))
		if len(got) != len(want) {
			t.Fatalf("workers %d: %d items, want %d", workers, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("workers %d, item %d: got %v, want %v", workers, i, got[i], want[i])
			}
		}
	}
}

// TestReaderClose stops the goroutines of a reader abandoned early.
func TestReaderClose(t *testing.T) {
	before := runtime.NumGoroutine()
	data := stream(t, 5000)
	r := NewReader(bytes.NewReader(data), ReaderOptions{Workers: 4})
	for i := 0; i < 10; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
	// Close waits for the goroutines; the count settles at once, but give
	// the runtime a deadline rather than assume.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestReaderFlatMemory reads a long generated stream without keeping the
// events: the heap must not grow with the input.
func TestReaderFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 220k lines")
	}
	line := stream(t, 2)
	heapAfter := func(lines int) uint64 {
		r := NewReader(&repeat{line: line, n: lines / 2, off: len(line)}, ReaderOptions{Workers: 2})
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			if n == lines/2 {
				runtime.GC()
			}
		}
		if n != lines {
			t.Fatalf("read %d, want %d", n, lines)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	small, large := heapAfter(20_000), heapAfter(200_000)
	if large > small+8<<20 {
		t.Errorf("heap in use: %d bytes after 20k lines, %d after 200k", small, large)
	}
}

// repeat yields line n times without holding the whole stream.
type repeat struct {
	line []byte
	n    int
	off  int
}

func (r *repeat) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if r.off == len(r.line) {
			if r.n == 0 {
				break
			}
			r.n--
			r.off = 0
		}
		k := copy(p, r.line[r.off:])
		r.off += k
		p = p[k:]
		total += k
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

func TestLineErrorUnwrap(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("x", 50)+"\n{]\n"), ReaderOptions{MaxLineBytes: 10})
	_, err := r.Next()
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("too long: %v", err)
	}
	_, err = r.Next()
	var se *SyntaxError
	var le *LineError
	if !errors.As(err, &se) || !errors.As(err, &le) || le.Line != 2 || se.Offset != 1 {
		t.Errorf("malformed: %v", err)
	}
}
