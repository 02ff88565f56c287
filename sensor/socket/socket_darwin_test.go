package socket

import (
	"os"
	"testing"
)

// TestListLive runs only on a Mac (none is available to this project's CI):
// the test process's own sockets must be listed with its pid.
func TestListLive(t *testing.T) {
	live := openLiveSockets(t)
	defer live.close()
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	conns := waitFor(t, tbl, live.want, true)
	for _, c := range conns {
		if c.Inode != 0 {
			t.Errorf("inode on macOS: %+v", c)
		}
	}
	t.Logf("%d sockets, pid %d, stats %+v", len(conns), os.Getpid(), tbl.Stats())
}

func TestListSteadyStateAllocs(t *testing.T) {
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	conns := make([]Conn, 0, 1<<14)
	for i := 0; i < 3; i++ {
		if conns, err = tbl.List(conns[:0]); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(10, func() { conns, _ = tbl.List(conns[:0]) }); a != 0 {
		t.Logf("a poll allocates %.1f times (0 expected unless the table grew)", a)
	}
}

func BenchmarkListDarwin(b *testing.B) {
	tbl, err := Open()
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	conns := make([]Conn, 0, 1<<14)
	b.ReportAllocs()
	for b.Loop() {
		if conns, err = tbl.List(conns[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(conns)), "sockets")
}
