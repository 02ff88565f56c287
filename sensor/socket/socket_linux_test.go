package socket

import (
	"math"
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListLive(t *testing.T) {
	live := openLiveSockets(t)
	defer live.close()
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	conns := waitFor(t, tbl, live.want, true)
	st := tbl.Stats()
	if st.NetlinkErrors != 0 || st.ProcNetReads != 0 {
		t.Errorf("netlink path not used: %+v", st)
	}
	for _, c := range conns {
		if c.Owner() == int32(os.Getpid()) && c.Inode == 0 {
			t.Errorf("owned socket without inode: %+v", c)
		}
		if c.Local.Addr().Is4In6() || c.Remote.Addr().Is4In6() {
			t.Errorf("v4-mapped address not unmapped: %+v", c)
		}
	}
	t.Logf("%d sockets, %d wanted found, stats %+v", len(conns), len(live.want), st)
}

func TestListLiveProcNetFallback(t *testing.T) {
	live := openLiveSockets(t)
	defer live.close()
	tbl, err := open(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	waitFor(t, tbl, live.want, false)
	if st := tbl.Stats(); st.ProcNetReads == 0 {
		t.Errorf("/proc/net not read: %+v", st)
	}
}

// The same sockets through both paths: netlink and /proc/net must agree on
// every field but DualStack.
func TestListNetlinkMatchesProcNet(t *testing.T) {
	live := openLiveSockets(t)
	defer live.close()
	nl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	pn, err := open(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pn.Close()
	a := waitFor(t, nl, live.want, true)
	b := waitFor(t, pn, live.want, false)
	byInode := map[uint64]Conn{}
	for _, c := range b {
		if c.Inode != 0 {
			byInode[c.Inode] = c
		}
	}
	matched := 0
	for _, c := range a {
		p, ok := byInode[c.Inode]
		if c.Inode == 0 || !ok {
			continue // TIME_WAIT, or a socket that came or went between the reads
		}
		c.DualStack = false
		if c != p {
			t.Errorf("netlink %+v\n/proc    %+v", c, p)
		}
		matched++
	}
	if matched < len(live.want) {
		t.Errorf("only %d sockets matched by inode, want at least %d", matched, len(live.want))
	}
}

// An unchanged poll allocates nothing once warm. Other processes on the
// machine open and close sockets, which legitimately costs fd directory
// reads, so the measure is repeated until one quiet run or 20 attempts.
func TestListSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures live polls")
	}
	live := openLiveSockets(t)
	defer live.close()
	for _, tc := range []struct {
		name    string
		netlink bool
		want    float64
	}{
		{"netlink", true, 0},
		{"procnet", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := open(tc.netlink)
			if err != nil {
				t.Fatal(err)
			}
			defer tbl.Close()
			conns := make([]Conn, 0, 1<<14)
			for i := 0; i < 3+missRetries; i++ {
				if conns, err = tbl.List(conns[:0]); err != nil {
					t.Fatal(err)
				}
			}
			best := math.Inf(1)
			for attempt := 0; attempt < 20 && best > tc.want; attempt++ {
				best = min(best, testing.AllocsPerRun(5, func() {
					conns, err = tbl.List(conns[:0])
				}))
				if err != nil {
					t.Fatal(err)
				}
			}
			if best > tc.want {
				t.Errorf("unchanged poll allocates %.1f times, want %v (stats %+v)", best, tc.want, tbl.Stats())
			}
		})
	}
}

func benchmarkList(b *testing.B, netlink bool) {
	tbl, err := open(netlink)
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	conns := make([]Conn, 0, 1<<14)
	for i := 0; i < 3+missRetries; i++ {
		if conns, err = tbl.List(conns[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if conns, err = tbl.List(conns[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(conns)), "sockets")
}

// BenchmarkListLinux is a full poll of this machine's table through
// NETLINK_SOCK_DIAG, owners included.
func BenchmarkListLinux(b *testing.B) { benchmarkList(b, true) }

// BenchmarkListProcNet is the same poll through the /proc/net fallback.
func BenchmarkListProcNet(b *testing.B) { benchmarkList(b, false) }

// BenchmarkOwnersCold is the worst case of owner resolution: a fresh cache
// that reads the fd directory of every process.
func BenchmarkOwnersCold(b *testing.B) {
	tbl, err := Open()
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	conns, err := tbl.List(nil)
	if err != nil {
		b.Fatal(err)
	}
	// An inode no process holds forces a read of every fd directory.
	conns = append(conns, Conn{Proto: TCP, Inode: math.MaxUint32 + 1})
	b.ReportAllocs()
	var scans uint64
	for b.Loop() {
		o := newOwners(tbl.proc)
		if err := o.resolve(conns); err != nil {
			b.Fatal(err)
		}
		scans = o.scans
	}
	b.ReportMetric(float64(scans), "fd-dirs")
}

func TestProcFS(t *testing.T) {
	p, err := openProcFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	pids, err := p.pids(nil)
	if err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	if !slices.Contains(pids, self) || !slices.Contains(pids, 1) {
		t.Fatalf("pids %v lack self %d or 1", pids, self)
	}
	// Listing again into the same buffer allocates nothing.
	if a := testing.AllocsPerRun(10, func() { pids, _ = p.pids(pids[:0]) }); a != 0 {
		t.Errorf("pids allocates %.1f times", a)
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File() // a dup: same socket inode
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	inodes, err := p.socketInodes(self, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := countOf(inodes, st.Ino); n != 2 {
		t.Errorf("socket inode %d found %d times in %v, want 2 (listener and its dup)", st.Ino, n, inodes)
	}
	if _, err := p.socketInodes(1<<30, nil); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}

func countOf(s []uint64, v uint64) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
