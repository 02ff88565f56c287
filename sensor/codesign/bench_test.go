package codesign

import (
	"os"
	"sync/atomic"
	"testing"

	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// First sight of a universal binary: sentry-cli 3.8.0 (28.6 MB, x86_64 +
// arm64, Developer ID): one read of the file, SHA-256 of all of it, the
// page hashes of the arm64 slice, CMS and chain. MB/s is of the whole file.
// The file is in the page cache after the first iteration: this measures
// CPU, not the disk.
func BenchmarkVerifyUniversalCold(b *testing.B) {
	p := fixture.SentryCLI(b)
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if in := VerifyFile(p, Options{Arch: "arm64", Now: testNow}); !in.Trusted {
			b.Fatal(in.Detail)
		}
	}
}

// The same file, thin (gofmt, 2.9 MB arm64).
func BenchmarkVerifyThin(b *testing.B) {
	p := fixture.Gofmt(b)
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if in := VerifyFile(p, Options{Arch: "arm64", Now: testNow}); !in.Trusted {
			b.Fatal(in.Detail)
		}
	}
}

func warmCache(b *testing.B) (*Cache, string, Key) {
	p := fixture.SentryCLI(b)
	c := NewCache(CacheOptions{Verify: Options{Arch: "arm64", Now: testNow}})
	_, k, _ := c.Lookup(p)
	if in, ok := c.Await(k, 60e9); !ok || !in.Trusted {
		b.Fatalf("%+v", in)
	}
	return c, p, k
}

// A warm hit when the caller has the file's identity (the pipeline keeps
// the Key with the process): a map lookup under a mutex.
func BenchmarkCacheHitKey(b *testing.B) {
	c, p, k := warmCache(b)
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.LookupKey(p, k); !ok {
			b.Fatal("miss")
		}
	}
}

// A warm hit by path: one stat(2) plus the map lookup.
func BenchmarkCacheHitPath(b *testing.B) {
	c, p, _ := warmCache(b)
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Lookup(p); !ok {
			b.Fatal("miss")
		}
	}
}

// Hits while a worker verifies a 28.6 MB binary over and over on another
// goroutine: what an exec storm's events pay while a first sighting is
// being hashed (the worker holds no lock while it reads and hashes).
func BenchmarkCacheHitDuringVerify(b *testing.B) {
	c, p, k := warmCache(b)
	defer c.Close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			VerifyFile(p, Options{Arch: "arm64", Now: testNow})
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.LookupKey(p, k); !ok {
			b.Fatal("miss")
		}
	}
	stop.Store(true)
	<-done
}
