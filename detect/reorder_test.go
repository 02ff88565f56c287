package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func ids(evs []*ecs.Event) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = fmt.Sprint(e.Event.Sequence)
	}
	return strings.Join(s, ",")
}

func TestReorderWindow(t *testing.T) {
	var out []*ecs.Event
	r := NewReorder(2*time.Second, func(e *ecs.Event) { out = append(out, e) })
	// seq is the expected order; timestamps are pushed out of order by up
	// to 2 s.
	r.Push(mk("x", "h", 10, 3))
	r.Push(mk("x", "h", 9, 2))
	r.Push(mk("x", "h", 8, 1))
	if got := ids(out); got != "1" { // released: ts ≤ 10−2
		t.Fatalf("after 3 pushes released %q, want %q", got, "1")
	}
	r.Push(mk("x", "h", 12, 5))
	r.Push(mk("x", "h", 11, 4))
	if got := ids(out); got != "1,2,3" {
		t.Fatalf("released %q, want %q", got, "1,2,3")
	}
	r.Flush()
	if got := ids(out); got != "1,2,3,4,5" {
		t.Fatalf("after Flush released %q, want %q", got, "1,2,3,4,5")
	}
	st := r.Stats()
	if st.Late != 0 || st.Held != 0 || st.Pushed != 5 || st.Released != 5 || st.MaxHeld != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestReorderLateEvent(t *testing.T) {
	var out []*ecs.Event
	r := NewReorder(time.Second, func(e *ecs.Event) { out = append(out, e) })
	r.Push(mk("x", "h", 10, 2))
	r.Push(mk("x", "h", 12, 3)) // releases 2 (ts 10 ≤ 11)
	r.Push(mk("x", "h", 9, 1))  // older than a released event: late, out at once
	r.Flush()
	if got := ids(out); got != "2,1,3" {
		t.Errorf("order %q, want %q", got, "2,1,3")
	}
	if st := r.Stats(); st.Late != 1 {
		t.Errorf("late = %d, want 1", st.Late)
	}
}

func TestReorderTiebreak(t *testing.T) {
	var out []*ecs.Event
	r := NewReorder(-1, func(e *ecs.Event) { out = append(out, e) })
	a := mk("a", "h", 5, 7)
	b := mk("b", "h", 5, 7)
	c := mk("c", "h", 5, 6)
	d := mk("d", "h", 5, 0)
	d.Has &^= ecs.HasSequence // no event.sequence: after those with one
	for _, e := range []*ecs.Event{d, a, b, c} {
		r.Push(e)
	}
	if len(out) != 0 {
		t.Fatalf("window < 0 released %d events before Advance", len(out))
	}
	r.Advance(int64(5 * time.Second))
	var names []string
	for _, e := range out {
		names = append(names, e.Process.Name)
	}
	if got := strings.Join(names, ""); got != "cabd" {
		t.Errorf("order %q, want %q (timestamp, sequence, no sequence last, arrival)", got, "cabd")
	}
}

func TestReorderAdvance(t *testing.T) {
	var out []*ecs.Event
	r := NewReorder(-1, func(e *ecs.Event) { out = append(out, e) })
	for i, ts := range []float64{3, 1, 4, 1.5, 5, 9, 2, 6} {
		r.Push(mk("x", "h", ts, int64(i)))
	}
	r.Advance(int64(4 * time.Second))
	var ts []string
	for _, e := range out {
		ts = append(ts, fmt.Sprint(float64(e.Timestamp)/1e9))
	}
	if got := strings.Join(ts, " "); got != "1 1.5 2 3 4" {
		t.Errorf("Advance(4s) released %q, want %q", got, "1 1.5 2 3 4")
	}
	if st := r.Stats(); st.Held != 3 {
		t.Errorf("held = %d, want 3", st.Held)
	}
}

func TestReorderNoAllocs(t *testing.T) {
	r := NewReorder(time.Second, func(*ecs.Event) {})
	evs := make([]*ecs.Event, 64)
	for i := range evs {
		evs[i] = mk("x", "h", 0, int64(i))
	}
	var ts int64
	for i := 0; i < 1000; i++ { // grow the heap to its steady size
		ts += int64(10 * time.Millisecond)
		e := evs[i%len(evs)]
		e.Timestamp = ts
		r.Push(e)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		ts += int64(10 * time.Millisecond)
		e := evs[i%len(evs)]
		i++
		e.Timestamp = ts - int64(i%7)*int64(time.Millisecond)
		r.Push(e)
	})
	if allocs != 0 {
		t.Errorf("allocs per Push = %v, want 0", allocs)
	}
}

// FuzzReorder feeds events whose disorder fits the window (each event less
// than W behind the highest timestamp seen before it) and checks that they come out
// complete, in order, and none late.
func FuzzReorder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(4))
	f.Add([]byte{9, 0, 9, 0, 200, 1, 1, 1, 1, 3, 250, 2}, uint8(0))
	f.Add([]byte{255, 255, 0, 0, 7, 7, 7, 7}, uint8(255))
	f.Fuzz(func(t *testing.T, data []byte, w uint8) {
		window := int64(w)
		var out []*ecs.Event
		r := NewReorder(time.Duration(window), func(e *ecs.Event) { out = append(out, e) })
		var maxTS int64
		var in []*ecs.Event
		for i := 0; i+1 < len(data) && i < 4096; i += 2 {
			maxTS += int64(data[i]%16) + 1
			ts := maxTS - int64(data[i+1])%max(window, 1)
			e := &ecs.Event{Timestamp: ts, Has: ecs.HasTimestamp}
			if data[i+1]&1 == 0 {
				e.Has |= ecs.HasSequence
				e.Event.Sequence = int64(data[i+1] >> 4)
			}
			in = append(in, e)
			r.Push(e)
		}
		r.Flush()
		if len(out) != len(in) {
			t.Fatalf("released %d of %d events", len(out), len(in))
		}
		if st := r.Stats(); st.Late != 0 {
			t.Fatalf("late = %d for disorder within the window", st.Late)
		}
		pos := make(map[*ecs.Event]uint64, len(in))
		for i, e := range in {
			pos[e] = uint64(i + 1)
		}
		for i := 1; i < len(out); i++ {
			a, b := ordinalOf(out[i-1], pos[out[i-1]]), ordinalOf(out[i], pos[out[i]])
			if b.before(a) {
				t.Fatalf("event %d (%+v) released after %+v", i, b, a)
			}
		}
		// Same multiset.
		got := slices.Clone(out)
		slices.SortFunc(got, func(x, y *ecs.Event) int { return int(pos[x]) - int(pos[y]) })
		for i := range got {
			if got[i] != in[i] {
				t.Fatalf("output is not a permutation of the input")
			}
		}
	})
}

// TestReorderRandom checks the same property over a long random stream.
func TestReorderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []*ecs.Event
	const w = int64(500 * time.Millisecond)
	r := NewReorder(time.Duration(w), func(e *ecs.Event) { out = append(out, e) })
	var maxTS int64
	for i := 0; i < 100000; i++ {
		maxTS += rng.Int64N(int64(time.Millisecond))
		e := &ecs.Event{Timestamp: maxTS - rng.Int64N(w), Has: ecs.HasTimestamp | ecs.HasSequence}
		e.Event.Sequence = int64(i)
		r.Push(e)
	}
	r.Flush()
	if len(out) != 100000 || r.Stats().Late != 0 {
		t.Fatalf("released %d, late %d", len(out), r.Stats().Late)
	}
	for i := 1; i < len(out); i++ {
		if out[i].Timestamp < out[i-1].Timestamp {
			t.Fatalf("out of order at %d", i)
		}
	}
	if mh := r.Stats().MaxHeld; mh > 2000 {
		t.Errorf("max held %d: the window does not bound the buffer", mh)
	}
}
