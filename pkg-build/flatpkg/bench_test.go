package flatpkg

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkBuild packages an 8 MiB file that compresses about as well as
// a Go binary (half random, half zero); gzip -9 of the Payload dominates.
func BenchmarkBuild(b *testing.B) {
	p := sample()
	bin := make([]byte, 8<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(bin)/2; i++ {
		bin[i] = byte(r.Uint32())
	}
	p.Files[0].Data = bin
	b.SetBytes(int64(len(bin)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(p); err != nil {
			b.Fatal(err)
		}
	}
}
