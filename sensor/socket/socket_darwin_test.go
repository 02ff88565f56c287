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
	// A poll allocates only when the socket table outgrew the buffer
	// (Stats.Retries counts it) or dst; a busy host may do that during a
	// measurement, so such a measurement is taken again, a few times.
	const attempts = 3
	for range attempts {
		before := tbl.Stats()
		var err error
		a := testing.AllocsPerRun(10, func() {
			if conns, err = tbl.List(conns[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if a == 0 {
			return
		}
		if grew := tbl.Stats().Retries != before.Retries || len(conns) > 1<<14; !grew {
			t.Fatalf("a poll allocates %.1f times; want 0 when the table did not grow", a)
		}
		t.Logf("a poll allocated %.1f times while the table grew (%d sockets); measuring again", a, len(conns))
	}
	t.Fatalf("the socket table grew during each of %d measurements", attempts)
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
