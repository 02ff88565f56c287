package logfile

import (
	"bytes"
	"fmt"
	"testing"
)

// benchLines returns n lines of about 2 KiB, the size of an alert.
func benchLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"seq":%d,"message":"%s"}`, i, bytes.Repeat([]byte{'m'}, 2000))
	}
	return out
}

// BenchmarkWriteBatch: batches of 1 and 100 lines of ~2 KiB, with and
// without the fsync per batch. Rotation is on (8 MiB, Keep 2) so that the
// disk use stays bounded; its cost is included.
//
//	go test -run '^$' -bench WriteBatch -benchtime 1s ./sensor/logfile/
func BenchmarkWriteBatch(b *testing.B) {
	for _, n := range []int{1, 100} {
		for _, sync := range []bool{true, false} {
			b.Run(fmt.Sprintf("lines=%d/sync=%t", n, sync), func(b *testing.B) {
				w := mustOpen(b, Options{Path: tempLog(b), MaxSize: 8 << 20, Keep: 2, NoSync: !sync}, defaultFS)
				defer w.Close()
				batch := benchLines(n)
				var size int64
				for _, l := range batch {
					size += int64(len(l) + 1)
				}
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := w.WriteBatch(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*int64(n)), "ns/line")
			})
		}
	}
}

// Steady state allocates nothing: the record buffer is reused.
func TestWriteBatchAllocs(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		w := mustOpen(t, Options{Path: tempLog(t), MaxSize: -1, NoSync: noSync}, defaultFS)
		batch := benchLines(10)
		w.WriteBatch(batch) // grows the buffer
		if n := testing.AllocsPerRun(100, func() {
			if err := w.WriteBatch(batch); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("NoSync %t: %.1f allocations per batch", noSync, n)
		}
		w.Close()
	}
}
