package ecs

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
)

func readLine(b *testing.B, name string) []byte {
	b.Helper()
	line, err := os.ReadFile("testdata/" + name)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.TrimSpace(line)
}

func benchDecode(b *testing.B, name string) {
	line := readLine(b, name)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var e Event
		if err := Decode(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeProcess decodes a 773-byte Elastic Defend process event.
func BenchmarkDecodeProcess(b *testing.B) { benchDecode(b, "process.ndjson") }

// BenchmarkDecodeNetwork decodes an 836-byte Elastic Defend network event.
func BenchmarkDecodeNetwork(b *testing.B) { benchDecode(b, "network.ndjson") }

// BenchmarkDecodeReplayProcess and BenchmarkDecodeReplayNetwork decode the
// two line shapes of cmd/macsensor's generated replay stream (writeStream).
func BenchmarkDecodeReplayProcess(b *testing.B) { benchDecode(b, "defend_process.ndjson") }

func BenchmarkDecodeReplayNetwork(b *testing.B) { benchDecode(b, "defend_network.ndjson") }

func BenchmarkAppendJSON(b *testing.B) {
	var e Event
	if err := Decode(readLine(b, "process.ndjson"), &e); err != nil {
		b.Fatal(err)
	}
	dst := e.AppendJSON(nil)
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		dst = e.AppendJSON(dst[:0])
	}
}

// stream returns n ndjson lines alternating the process and network
// events, each with its own sequence number.
func stream(tb testing.TB, n int) []byte {
	tb.Helper()
	var evs [2]Event
	for i, name := range []string{"process.ndjson", "network.ndjson"} {
		line, err := os.ReadFile("testdata/" + name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := Decode(line, &evs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	var out []byte
	for i := 0; i < n; i++ {
		e := &evs[i%2]
		e.Event.Sequence = int64(i)
		e.Event.ID = "ev-" + strconv.Itoa(i)
		out = e.AppendJSON(out)
		out = append(out, '\n')
	}
	return out
}

func BenchmarkReader(b *testing.B) {
	data := stream(b, 100_000)
	for _, workers := range []int{1, 2} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				r := NewReader(bytes.NewReader(data), ReaderOptions{Workers: workers})
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 100_000 {
					b.Fatalf("read %d events, want 100000", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/event")
		})
	}
}

// BenchmarkDecodeLine decodes the replay stream's lines as a Reader does
// (aliasing the line, memory shared between events), reusing one event:
// the decoder's own cost, without allocation or garbage collection.
func BenchmarkDecodeLine(b *testing.B) {
	for _, name := range []string{"defend_process", "defend_network", "process", "network"} {
		b.Run(name, func(b *testing.B) {
			line := readLine(b, name+".ndjson")
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			d := decoder{shared: true}
			var e Event
			for b.Loop() {
				e = Event{}
				d.strs = d.strs[:0] // the previous event is dropped
				if err := d.decode(line, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopySet deep-copies a decoded Elastic Defend process event into
// a reused Copy, as the engine does for each event a pending sequence
// keeps (outside a Reader's KeepEvents).
func BenchmarkCopySet(b *testing.B) {
	var e Event
	if err := Decode(readLine(b, "defend_process.ndjson"), &e); err != nil {
		b.Fatal(err)
	}
	var c Copy
	b.ReportAllocs()
	for b.Loop() {
		c.Set(&e)
	}
}
