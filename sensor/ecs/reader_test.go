package ecs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
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

// TestReaderAnnotate: each decoding goroutine gets its own annotating
// function, which sees every event it decoded (and no line that failed)
// before Next returns it.
func TestReaderAnnotate(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 5000; i++ {
		if i%101 == 0 {
			b.WriteString("{\"broken\":\n")
			continue
		}
		fmt.Fprintf(&b, `{"event":{"sequence":%d}}`+"\n", i)
	}
	for _, workers := range []int{1, 2, 4} {
		var mu sync.Mutex
		made := 0
		annotate := func() func(*Event) {
			mu.Lock()
			made++
			id := uint64(made)
			mu.Unlock()
			return func(e *Event) {
				e.Note.Owner = id
				e.Note.Words[0] = uint64(e.Event.Sequence) + 1
			}
		}
		r := NewReader(bytes.NewReader(b.Bytes()), ReaderOptions{Workers: workers, Annotate: annotate})
		events, bad := 0, 0
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				bad++
				continue
			}
			events++
			if e.Note.Owner == 0 || e.Note.Owner > uint64(workers) || e.Note.Words[0] != uint64(e.Event.Sequence)+1 {
				t.Fatalf("workers %d: event %d has note %+v", workers, e.Event.Sequence, e.Note)
			}
		}
		if events != 5000-50 || bad != 50 {
			t.Errorf("workers %d: %d events, %d bad lines", workers, events, bad)
		}
		if made < 1 || made > max(workers, 1) {
			t.Errorf("workers %d: %d annotating functions made", workers, made)
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

// referenceRead is the Reader's contract written plainly: split at "\n",
// drop one "\r" before it and a byte order mark before line 1, report a
// line over limit, skip blank lines, decode the rest.
func referenceRead(input string, limit int) []item {
	lines := strings.Split(input, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var out []item
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if i == 0 {
			l = strings.TrimPrefix(l, "\xef\xbb\xbf")
		}
		if len(l) > limit {
			out = append(out, item{err: fmt.Sprintf("ecs: line %d: line too long (over %d bytes)", i+1, limit)})
			continue
		}
		if strings.TrimLeft(l, " \t\r\n") == "" {
			continue
		}
		var e Event
		if err := Decode([]byte(l), &e); err != nil {
			out = append(out, item{err: (&LineError{Line: i + 1, Err: err}).Error()})
			continue
		}
		out = append(out, item{json: string(e.AppendJSON(nil))})
	}
	return out
}

// TestReaderAgainstReference reads random streams whose lines straddle
// chunk boundaries, outgrow a chunk, sit just under and over the limit,
// and end with or without a newline, in reads of several sizes.
func TestReaderAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const limit = 3 * chunkBytes
	line := func() string {
		switch rng.IntN(10) {
		case 0:
			return ""
		case 1:
			return " \t"
		case 2:
			return `{"a":`
		case 3: // long: up to over the limit
			n := chunkBytes/2 + rng.IntN(3*chunkBytes)
			return `{"a":"` + strings.Repeat("x", n) + `"}`
		case 4: // right at the limit
			return `{"a":"` + strings.Repeat("y", limit-8+rng.IntN(2)) + `"}`
		}
		return fmt.Sprintf(`{"event":{"sequence":%d},"process":{"args":["a","%d"]},"x":"%s"}`,
			rng.IntN(1000), rng.IntN(9), strings.Repeat("z", rng.IntN(300)))
	}
	for round := range 12 {
		var b strings.Builder
		if round%3 == 0 {
			b.WriteString("\xef\xbb\xbf")
		}
		for n := 5 + rng.IntN(40); n > 0; n-- {
			b.WriteString(line())
			if rng.IntN(4) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
		if round%2 == 0 {
			b.WriteString(line()) // no final newline
		}
		input := b.String()
		want := referenceRead(input, limit)
		for _, workers := range []int{1, 2} {
			for _, size := range []int{7, 4093, 1 << 20} {
				got := readAll(t, NewReader(&chunked{data: []byte(input), size: size}, ReaderOptions{Workers: workers, MaxLineBytes: limit}))
				if len(got) != len(want) {
					t.Fatalf("round %d, workers %d, reads of %d: %d items, want %d", round, workers, size, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("round %d, workers %d, reads of %d, item %d:\ngot  %.100s\nwant %.100s", round, workers, size, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestReaderEventsStayValid keeps every event to the end: events alias
// the Reader's chunks, which must never be rewritten.
func TestReaderEventsStayValid(t *testing.T) {
	data := stream(t, 3000)
	want := readAll(t, NewReader(bytes.NewReader(data), ReaderOptions{}))
	for _, workers := range []int{1, 2} {
		r := NewReader(&chunked{data: data, size: 1000}, ReaderOptions{Workers: workers})
		var kept []*Event
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, e)
		}
		if len(kept) != len(want) {
			t.Fatalf("workers %d: %d events, want %d", workers, len(kept), len(want))
		}
		for i, e := range kept {
			if got := string(e.AppendJSON(nil)); got != want[i].json {
				t.Fatalf("workers %d, event %d changed:\n%s\nwant\n%s", workers, i, got, want[i].json)
			}
		}
	}
}

// TestReaderAllocs pins the Reader's allocations: per batch of lines,
// not per event (learning the stream's two shapes costs a few hundred,
// once per decoder).
func TestReaderAllocs(t *testing.T) {
	const n = 20000
	data := stream(t, n)
	for _, workers := range []int{1, 2} {
		allocs := testing.AllocsPerRun(5, func() {
			r := NewReader(bytes.NewReader(data), ReaderOptions{Workers: workers})
			defer r.Close()
			for {
				if _, err := r.Next(); err != nil {
					break
				}
			}
		})
		if perEvent := allocs / n; perEvent > 0.05 {
			t.Errorf("workers %d: %.3f allocations per event (%.0f for %d)", workers, perEvent, allocs, n)
		}
	}
}
