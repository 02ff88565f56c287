package socket

import (
	"errors"
	"slices"
	"testing"
)

// fakeProc is a /proc of processes and the socket inodes in their fd tables.
type fakeProc struct {
	fds     map[int32][]uint64
	errs    map[int32]error
	scanned []int32 // pids whose fd table was read, in order
}

func (f *fakeProc) pids(dst []int32) ([]int32, error) {
	n0 := len(dst)
	for pid := range f.fds {
		dst = append(dst, pid)
	}
	slices.Sort(dst[n0:])
	return dst, nil
}

func (f *fakeProc) socketInodes(pid int32, dst []uint64) ([]uint64, error) {
	f.scanned = append(f.scanned, pid)
	if err := f.errs[pid]; err != nil {
		return dst, err
	}
	return append(dst, f.fds[pid]...), nil
}

func (f *fakeProc) takeScanned() []int32 {
	s := f.scanned
	f.scanned = nil
	return s
}

func conns(inodes ...uint64) []Conn {
	cs := make([]Conn, len(inodes))
	for i, ino := range inodes {
		cs[i] = Conn{Proto: TCP, Inode: ino}
	}
	return cs
}

func pidsOf(cs []Conn) []int32 {
	var p []int32
	for _, c := range cs {
		if c.LastPID != c.EPID {
			panic("LastPID != EPID on Linux")
		}
		p = append(p, c.LastPID)
	}
	return p
}

func TestOwnersCache(t *testing.T) {
	fp := &fakeProc{fds: map[int32][]uint64{
		1: {100},
		2: {200, 201},
		3: nil,
	}}
	o := newOwners(fp)
	step := func(name string, cs []Conn, wantPIDs, wantScans []int32, wantUnowned int) {
		t.Helper()
		if err := o.resolve(cs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := pidsOf(cs); !slices.Equal(got, wantPIDs) {
			t.Errorf("%s: owners %v, want %v", name, got, wantPIDs)
		}
		if got := fp.takeScanned(); !slices.Equal(got, wantScans) {
			t.Errorf("%s: fd tables read %v, want %v", name, got, wantScans)
		}
		if o.unowned != wantUnowned {
			t.Errorf("%s: unowned %d, want %d", name, o.unowned, wantUnowned)
		}
	}

	// Cold: every pid is new; 999 has no owner, so all are read.
	step("cold", conns(100, 200, 0, 999), []int32{1, 2, 0, 0}, []int32{3, 2, 1}, 1)
	// 999 is looked for once more (a socket in an accept queue gets its fd
	// a moment later); everything else is cached.
	step("retry", conns(100, 200, 0, 999), []int32{1, 2, 0, 0}, []int32{2, 1, 3}, 1)
	// Then 999 is left alone: an unchanged poll reads nothing.
	step("steady", conns(100, 200, 0, 999), []int32{1, 2, 0, 0}, nil, 1)
	step("steady again", conns(100, 200, 0, 999), []int32{1, 2, 0, 0}, nil, 1)

	// A new socket in a known process: the pids that last owned a new
	// socket are read first (2 and 1 found sockets in the cold poll; 2 is
	// newer), and the read stops when it is found.
	fp.fds[2] = append(fp.fds[2], 202)
	step("new socket", conns(100, 200, 202, 999), []int32{1, 2, 2, 0}, []int32{2}, 1)

	// A new process: never-read pids come first.
	fp.fds[4] = []uint64{400}
	step("new process", conns(100, 200, 202, 400), []int32{1, 2, 2, 4}, []int32{4}, 0)

	// Process 1 exits; its socket lives on in child 5, which is found.
	delete(fp.fds, 1)
	fp.fds[5] = []uint64{100}
	step("owner exits", conns(100, 200, 202, 400), []int32{5, 2, 2, 4}, []int32{5}, 0)

	// Process 4 closes 400; later a socket with the same inode number
	// appears in process 2. The cache must not remember 4. The read order
	// is by most recent find: 5, 4, then 2.
	fp.fds[4] = nil
	step("400 gone", conns(100, 200, 202), []int32{5, 2, 2}, nil, 0)
	fp.fds[2] = append(fp.fds[2], 400)
	step("inode reused", conns(100, 200, 202, 400), []int32{5, 2, 2, 2}, []int32{5, 4, 2}, 0)

	// An accept-queue socket: no fd in the first poll (every table is
	// read), in process 3's table at the next.
	step("queued", conns(100, 500), []int32{5, 0}, []int32{2, 5, 4, 3}, 1)
	fp.fds[3] = []uint64{500}
	step("accepted", conns(100, 500), []int32{5, 3}, []int32{2, 5, 4, 3}, 0)

	// A pid whose fd table cannot be read is skipped and counted.
	fp.errs = map[int32]error{6: errors.New("EACCES")}
	fp.fds[6] = []uint64{600}
	fp.fds[7] = []uint64{700}
	errsBefore := o.errs
	step("unreadable", conns(600, 700), []int32{0, 7}, []int32{7, 6, 3, 2, 5, 4}, 1)
	if o.errs != errsBefore+1 {
		t.Errorf("scan errors %d, want %d", o.errs, errsBefore+1)
	}

	// Two processes holding one socket: the first found keeps it.
	fp.errs = nil
	fp.fds[8] = []uint64{800}
	fp.fds[9] = []uint64{800}
	step("shared", conns(800), []int32{9}, []int32{9}, 0)
	step("shared steady", conns(800), []int32{9}, nil, 0)
}

func TestOwnersMapsStayBounded(t *testing.T) {
	fp := &fakeProc{fds: map[int32][]uint64{1: {1}}}
	o := newOwners(fp)
	for i := uint64(2); i < 200; i++ {
		fp.fds[1] = []uint64{i}
		if err := o.resolve(conns(i, i+1000)); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.byInode) != 1 || len(o.miss) != 1 || len(o.byPID) != 1 {
		t.Errorf("cache holds %d inodes, %d misses, %d pids; want 1, 1, 1", len(o.byInode), len(o.miss), len(o.byPID))
	}
}

func TestOwnersSteadyStateAllocs(t *testing.T) {
	fp := &fakeProc{fds: map[int32][]uint64{}}
	var inodes []uint64
	for pid := int32(1); pid <= 300; pid++ {
		for j := uint64(0); j < 3; j++ {
			ino := uint64(pid)*10 + j
			fp.fds[pid] = append(fp.fds[pid], ino)
			inodes = append(inodes, ino)
		}
	}
	cs := conns(append(inodes, 0, 0, 99999)...)
	o := newOwners(fp)
	for i := 0; i < 1+missRetries; i++ {
		if err := o.resolve(cs); err != nil {
			t.Fatal(err)
		}
	}
	fp.takeScanned()
	if a := testing.AllocsPerRun(50, func() {
		if err := o.resolve(cs); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("an unchanged resolve allocates %.1f times, want 0", a)
	}
	if s := fp.takeScanned(); len(s) != 0 {
		t.Errorf("unchanged polls read %d fd tables", len(s))
	}
	if cs[0].LastPID != 1 || cs[len(cs)-4].LastPID != 300 {
		t.Errorf("owners %d, %d", cs[0].LastPID, cs[len(cs)-4].LastPID)
	}
}

// staticProc is a fakeProc whose pid list is fixed, so that a benchmark
// measures owners and not the fake.
type staticProc struct {
	fakeProc
	list []int32
}

func (s *staticProc) pids(dst []int32) ([]int32, error) { return append(dst, s.list...), nil }

// BenchmarkOwnersSteady is owner resolution of an unchanged poll: 1,000
// sockets in 500 processes, all cached.
func BenchmarkOwnersSteady(b *testing.B) {
	sp := &staticProc{fakeProc: fakeProc{fds: map[int32][]uint64{}}}
	var inodes []uint64
	for pid := int32(1); pid <= 500; pid++ {
		sp.list = append(sp.list, pid)
		for j := uint64(0); j < 2; j++ {
			ino := uint64(pid)*10 + j
			sp.fds[pid] = append(sp.fds[pid], ino)
			inodes = append(inodes, ino)
		}
	}
	cs := conns(inodes...)
	o := newOwners(sp)
	if err := o.resolve(cs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := o.resolve(cs); err != nil {
			b.Fatal(err)
		}
	}
}
