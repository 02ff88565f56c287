package codesign

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

func await(t *testing.T, c *Cache, k Key) Info {
	t.Helper()
	info, ok := c.Await(k, 30*time.Second)
	if !ok {
		t.Fatalf("no cached result for %+v: %+v", k, info)
	}
	return info
}

// An exec storm of one binary reads it once.
func TestCacheStorm(t *testing.T) {
	bin := fixture.BuildGo(t, "arm64", "storm")
	c := NewCache(CacheOptions{Verify: Options{Arch: "arm64"}})
	defer c.Close()
	info, k, ok := c.Lookup(bin)
	if ok || info.Status != StatusPending {
		t.Fatalf("first lookup: %v %+v", ok, info)
	}
	for range 100 {
		if i, _, ok := c.Lookup(bin); ok {
			if !i.AdHoc {
				t.Fatalf("%+v", i)
			}
		} else if i.Status != StatusPending {
			t.Fatalf("%+v", i)
		}
	}
	got := await(t, c, k)
	if !got.Checked || !got.Exists || !got.LinkerSigned || got.Trusted {
		t.Fatalf("%+v", got)
	}
	for range 10 {
		if _, _, ok := c.Lookup(bin); !ok {
			t.Fatal("miss after the result")
		}
	}
	r := <-c.Ready()
	if r.Path != bin || r.Key != k || r.Info.SigningID != "a.out" {
		t.Fatalf("ready %+v", r)
	}
	if s := c.Stats(); s.Verified != 1 || s.Hits < 10 || s.Entries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCacheNotFoundTooLargeNotFile(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(CacheOptions{MaxFileSize: 10})
	defer c.Close()
	if i, _, ok := c.Lookup(filepath.Join(dir, "gone")); ok || i.Status != StatusNotFound {
		t.Errorf("missing: %v %+v", ok, i)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 11), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if i, _, ok := c.Lookup(big); !ok || i.Status != StatusTooLarge || i.Checked {
			t.Errorf("too large: %v %+v", ok, i)
		}
	}
	if i, _, ok := c.Lookup(dir); !ok || i.Status != StatusNotFile {
		t.Errorf("directory: %v %+v", ok, i)
	}
	if s := c.Stats(); s.TooLarge != 1 || s.Verified != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A file rewritten while the worker reads it is reported as changed and
// not cached; the next Lookup judges the file as it is now.
func TestCacheChangedWhileRead(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	fixture.CopyExecutable(t, fixture.BuildGo(t, "amd64", "x"), bin)
	c := NewCache(CacheOptions{Verify: Options{Arch: "amd64"}})
	defer c.Close()
	var once sync.Once
	c.testOpened = func(string) { once.Do(func() { appendTo(t, bin) }) }
	_, k, _ := c.Lookup(bin)
	r := <-c.Ready()
	if r.Key != k || r.Info.Status != StatusChanged || r.Info.Checked {
		t.Fatalf("%+v", r)
	}
	if _, ok := c.Await(k, time.Second); ok {
		t.Fatal("changed file cached")
	}
	if s := c.Stats(); s.Changed != 1 {
		t.Fatalf("stats %+v", s)
	}
	_, k2, _ := c.Lookup(bin)
	if got := await(t, c, k2); got.Status != StatusUnsigned {
		t.Fatalf("%+v", got)
	}
}

func appendTo(t *testing.T, p string) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Error(err)
		return
	}
	f.Write([]byte("more"))
	f.Close()
}

// A file replaced (renamed over, or rewritten in place) after Lookup
// stat'ed it: the worker sees another identity on the descriptor it
// opened and does not cache a verdict under the old key.
func TestCacheReplaced(t *testing.T) {
	for _, how := range []string{"rename", "rewrite"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			fixture.CopyExecutable(t, fixture.BuildGo(t, "amd64", "x"), bin)
			other := filepath.Join(dir, "other")
			fixture.CopyExecutable(t, fixture.BuildGo(t, "arm64", "y"), other)
			hold := filepath.Join(dir, "hold")
			fixture.CopyExecutable(t, bin, hold)
			c := NewCache(CacheOptions{Verify: Options{Arch: "arm64"}, Workers: 1})
			defer c.Close()
			// Hold the worker on a first file so that the change happens
			// while the second is queued.
			gate := make(chan struct{})
			c.testOpened = func(p string) {
				if p == hold {
					<-gate
				}
			}
			c.Lookup(hold)
			_, k, _ := c.Lookup(bin)
			if how == "rename" {
				if err := os.Rename(other, bin); err != nil {
					t.Fatal(err)
				}
			} else {
				appendTo(t, bin)
			}
			close(gate)
			<-c.Ready() // hold
			r := <-c.Ready()
			if r.Key != k || r.Info.Status != StatusChanged {
				t.Fatalf("%+v", r)
			}
			_, k2, _ := c.Lookup(bin)
			got := await(t, c, k2)
			if how == "rename" && !got.AdHoc || how == "rewrite" && got.Status != StatusUnsigned {
				t.Fatalf("%+v", got)
			}
		})
	}
}

func TestCacheEvictionAndQueueFull(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(CacheOptions{MaxEntries: 2, Queue: 1, Workers: 1})
	defer c.Close()
	gate := make(chan struct{})
	c.testOpened = func(string) { <-gate }
	var paths []string
	for i := range 4 {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(fmt.Sprint("not mach-o ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// The worker takes the first file and waits on gate; the queue holds
	// one more; the third is dropped.
	_, k0, _ := c.Lookup(paths[0])
	deadline := time.Now().Add(30 * time.Second)
	for len(c.queue) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // wait on a condition: the worker took the job
	}
	_, k1, _ := c.Lookup(paths[1])
	if i, _, ok := c.Lookup(paths[2]); ok || i.Status != StatusDropped {
		t.Fatalf("queue full: %v %+v", ok, i)
	}
	close(gate)
	await(t, c, k0)
	await(t, c, k1)
	_, k3, _ := c.Lookup(paths[3])
	if got := await(t, c, k3); got.Status != StatusBadFormat {
		t.Fatalf("%+v", got)
	}
	s := c.Stats()
	if s.QueueDropped != 1 || s.Evicted != 1 || s.Entries != 2 || s.Verified != 3 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := c.LookupKey(paths[0], k0); ok {
		t.Fatal("least recently used entry not evicted")
	}
}

// A hit allocates nothing.
func TestCacheHitAllocs(t *testing.T) {
	bin := fixture.BuildGo(t, "amd64", "x")
	c := NewCache(CacheOptions{})
	defer c.Close()
	_, k, _ := c.Lookup(bin)
	await(t, c, k)
	if n := testing.AllocsPerRun(1000, func() {
		if _, ok := c.LookupKey(bin, k); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
}

// A file that is not Mach-O (an ELF executable, as every Linux process
// runs) is hashed and judged "bad format", with MachO false: the sensor
// then emits process.hash.sha256 and no code_signature. A malformed Mach-O
// keeps MachO true.
func TestVerifyMachOFlag(t *testing.T) {
	elf := make([]byte, 4096)
	copy(elf, "\x7fELF\x02\x01\x01")
	dir := t.TempDir()
	p := filepath.Join(dir, "elf")
	if err := os.WriteFile(p, elf, 0o755); err != nil {
		t.Fatal(err)
	}
	got := VerifyFile(p, Options{Arch: "arm64"})
	if got.MachO || !got.Checked || got.Exists || got.Status != StatusBadFormat || got.SHA256 != "2f190370e01271f4823d8bee679192a7f930c30c3066cac44f8b9de1f93bec5b" {
		t.Fatalf("ELF: %+v", got)
	}
	mach := make([]byte, 4096)
	copy(mach, "\xcf\xfa\xed\xfe\x0c\x00\x00\x01") // mach_header_64, arm64
	mach[20] = 0xff                                // sizeofcmds past the file
	mach[21] = 0xff
	if err := os.WriteFile(p, mach, 0o755); err != nil {
		t.Fatal(err)
	}
	got = VerifyFile(p, Options{Arch: "arm64"})
	if !got.MachO || !got.Checked || got.Status != StatusBadFormat {
		t.Fatalf("malformed Mach-O: %+v", got)
	}
	got = VerifyFile(fixture.BuildGo(t, "amd64", "u"), Options{Arch: "amd64"})
	if !got.MachO || got.Status != StatusUnsigned {
		t.Fatalf("unsigned Mach-O: %+v", got)
	}
}

// Await with no timeout reports without waiting; after a verification
// that was not cached, a waiter that saw it finish gets the worker's
// status, and a later caller an empty Info.
func TestAwaitNoWaitAndUncached(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	fixture.CopyExecutable(t, fixture.BuildGo(t, "amd64", "x"), bin)
	c := NewCache(CacheOptions{Verify: Options{Arch: "amd64"}})
	defer c.Close()
	hold := make(chan struct{})
	var once sync.Once
	c.testOpened = func(string) { once.Do(func() { <-hold; appendTo(t, bin) }) }
	_, k, _ := c.Lookup(bin)
	if got, ok := c.Await(k, 0); ok || got.Status != StatusPending {
		t.Fatalf("Await(0) while the worker reads: %v %+v", ok, got)
	}
	close(hold)
	if got, ok := c.Await(k, 30*time.Second); ok || got.Status != StatusChanged {
		t.Fatalf("Await of a file changed while read: %v %+v", ok, got)
	}
	if got, ok := c.Await(k, 0); ok || got.Status != "" {
		t.Fatalf("Await after the uncached result: %v %+v", ok, got)
	}
	_, k2, _ := c.Lookup(bin)
	await(t, c, k2)
	if got, ok := c.Await(k2, 0); !ok || got.Status != StatusUnsigned {
		t.Fatalf("Await(0) of a cached result: %v %+v", ok, got)
	}
}
