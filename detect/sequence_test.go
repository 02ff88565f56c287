package detect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// mk builds an event: name is process.name (the stage selector in these
// tests), host the join key, ts in seconds, seq the tiebreaker.
func mk(name, host string, ts float64, seq int64) *ecs.Event {
	ev := &ecs.Event{Timestamp: int64(ts * float64(time.Second))}
	ev.Has |= ecs.HasTimestamp | ecs.HasSequence
	ev.Event.Sequence = seq
	ev.Event.Category = []string{"process"}
	ev.Process.Name = name
	ev.Host.ID = host
	return ev
}

func nameIs(names ...string) matchFunc {
	return func(e *ecs.Event) bool {
		for _, n := range names {
			if e.Process.Name == n {
				return true
			}
		}
		return false
	}
}

func byHost(dst []byte, e *ecs.Event) ([]byte, bool) {
	if e.Host.ID == "" {
		return dst, false
	}
	return append(dst, e.Host.ID...), true
}

// seqRun feeds events in order and returns the matches as "seq,seq;..."
// strings of event.sequence values.
func seqRun(t *testing.T, spec seqSpec, maxPending int, evs ...*ecs.Event) (string, *sequencer) {
	t.Helper()
	var got []string
	s := newSequencer(spec, maxPending, func(m []*ecs.Event) {
		ids := make([]string, len(m))
		for i, e := range m {
			ids[i] = fmt.Sprint(e.Event.Sequence)
		}
		got = append(got, strings.Join(ids, ","))
	})
	for i, ev := range evs {
		s.process(ev, uint64(i+1), ^uint64(0))
	}
	return strings.Join(got, ";"), s
}

func stagesOf(names ...string) []stageSpec {
	st := make([]stageSpec, len(names))
	for i, n := range names {
		st[i] = stageSpec{match: nameIs(strings.Split(n, "|")...), key: byHost}
	}
	return st
}

func TestSequenceSemantics(t *testing.T) {
	h := "H1"
	tests := []struct {
		name    string
		spec    seqSpec
		events  []*ecs.Event
		want    string
		pending int
	}{
		{"basic", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2)}, "1,2", 0},
		{"newer first event replaces the pending one", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("a", h, 2, 2), mk("b", h, 3, 3)}, "2,3", 0},
		{"a first event yields at most one match", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2), mk("b", h, 3, 3)}, "1,2", 0},
		{"later stage replaces its slot", seqSpec{stages: stagesOf("a", "b", "c")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2), mk("a", h, 3, 3), mk("b", h, 4, 4), mk("c", h, 5, 5)}, "3,4,5", 0},
		{"stage needs the previous one first", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("b", h, 1, 1), mk("a", h, 2, 2)}, "", 1},
		{"maxspan inclusive", seqSpec{stages: stagesOf("a", "b"), maxSpan: int64(30 * time.Second)},
			[]*ecs.Event{mk("a", h, 0, 1), mk("b", h, 30, 2)}, "1,2", 0},
		{"maxspan exceeded by 1ns", seqSpec{stages: stagesOf("a", "b"), maxSpan: int64(30 * time.Second)},
			[]*ecs.Event{mk("a", h, 0, 1), mk("b", h, 30.000000001, 2)}, "", 0},
		{"maxspan measured from the first event", seqSpec{stages: stagesOf("a", "b", "c"), maxSpan: int64(10 * time.Second)},
			[]*ecs.Event{mk("a", h, 0, 1), mk("b", h, 9, 2), mk("c", h, 11, 3)}, "", 0},
		{"join keys separate", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", "H1", 1, 1), mk("a", "H2", 2, 2), mk("b", "H1", 3, 3), mk("b", "H2", 4, 4)}, "1,3;2,4", 0},
		{"null key never joins", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", "", 1, 1), mk("b", "", 2, 2)}, "", 0},
		{"until drops the key's pending sequences", seqSpec{stages: stagesOf("a", "b"), until: &stageSpec{match: nameIs("u"), key: byHost}},
			[]*ecs.Event{mk("a", h, 1, 1), mk("u", h, 2, 2), mk("b", h, 3, 3)}, "", 0},
		{"until of another key", seqSpec{stages: stagesOf("a", "b"), until: &stageSpec{match: nameIs("u"), key: byHost}},
			[]*ecs.Event{mk("a", h, 1, 1), mk("u", "H2", 2, 2), mk("b", h, 3, 3)}, "1,3", 0},
		{"until on the first event itself", seqSpec{stages: stagesOf("a", "b"), until: &stageSpec{match: nameIs("a"), key: byHost}},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2)}, "", 0},
		{"until on the completing event does not stop it", seqSpec{stages: stagesOf("a", "b"), until: &stageSpec{match: nameIs("b"), key: byHost}},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2)}, "1,2", 0},
		{"runs=3", seqSpec{stages: stagesOf("a", "a", "a")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("a", h, 2, 2), mk("a", h, 3, 3), mk("a", h, 4, 4)}, "1,2,3;2,3,4", 2},
		{"one event never fills two stages", seqSpec{stages: stagesOf("a|b", "a|b")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 1, 2), mk("a", h, 1, 3)}, "1,2;2,3", 1},
		{"equal timestamps order by event.sequence", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 5, 1), mk("b", h, 5, 2)}, "1,2", 0},
		{"late event is not joined behind the pending one", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 5, 2), mk("b", h, 4, 1)}, "", 1},
		{"late first event does not replace a newer one", seqSpec{stages: stagesOf("a", "b")},
			[]*ecs.Event{mk("a", h, 5, 2), mk("a", h, 4, 1), mk("b", h, 6, 3)}, "2,3", 0},
		{"single-stage sequence", seqSpec{stages: stagesOf("a")},
			[]*ecs.Event{mk("a", h, 1, 1), mk("b", h, 2, 2), mk("a", h, 3, 3)}, "1;3", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := seqRun(t, tc.spec, 0, tc.events...)
			if got != tc.want {
				t.Errorf("matches = %q, want %q", got, tc.want)
			}
			if s.pending() != tc.pending {
				t.Errorf("pending = %d, want %d", s.pending(), tc.pending)
			}
		})
	}
}

func TestSequenceExpiresAtMaxspan(t *testing.T) {
	spec := seqSpec{stages: stagesOf("a", "b"), maxSpan: int64(30 * time.Second)}
	var evs []*ecs.Event
	for i := 0; i < 1000; i++ {
		evs = append(evs, mk("a", fmt.Sprintf("H%d", i), float64(i)/100, int64(i)))
	}
	_, s := seqRun(t, spec, 0, evs...)
	if s.pending() != 1000 || len(s.keys) != 1000 {
		t.Fatalf("pending = %d, keys = %d, want 1000", s.pending(), len(s.keys))
	}
	// An unrelated event 31 s after the last one expires them all.
	last := mk("x", "H0", 10+31, 5000)
	s.process(last, 5000, ^uint64(0))
	if s.pending() != 0 || len(s.keys) != 0 || s.stats.expired != 1000 {
		t.Fatalf("after maxspan: pending = %d, keys = %d, expired = %d; want 0, 0, 1000", s.pending(), len(s.keys), s.stats.expired)
	}
	if len(s.fifo)-s.head != 0 {
		t.Errorf("fifo holds %d entries, want 0", len(s.fifo)-s.head)
	}
}

func TestSequenceReplacementKeepsFifoBounded(t *testing.T) {
	spec := seqSpec{stages: stagesOf("a", "b")} // no maxspan: only the cap bounds it
	s := newSequencer(spec, 0, func([]*ecs.Event) {})
	for i := 0; i < 20000; i++ {
		ev := mk("a", "H1", float64(i), int64(i))
		s.process(ev, uint64(i+1), ^uint64(0))
	}
	if s.pending() != 1 {
		t.Fatalf("pending = %d, want 1", s.pending())
	}
	if n := len(s.fifo) - s.head; n > 4096 {
		t.Errorf("fifo holds %d entries for 1 pending sequence", n)
	}
	if s.stats.replaced != 19999 {
		t.Errorf("replaced = %d, want 19999", s.stats.replaced)
	}
}

func TestSequenceCap(t *testing.T) {
	spec := seqSpec{stages: stagesOf("a", "b")}
	got, s := seqRun(t, spec, 2,
		mk("a", "H1", 1, 1), mk("a", "H2", 2, 2), mk("a", "H3", 3, 3), // H1 evicted
		mk("b", "H1", 4, 4), mk("b", "H2", 5, 5), mk("b", "H3", 6, 6))
	if got != "2,5;3,6" {
		t.Errorf("matches = %q, want %q", got, "2,5;3,6")
	}
	if s.stats.capHits != 1 {
		t.Errorf("capHits = %d, want 1", s.stats.capHits)
	}
}

func TestSequenceNoAllocsOnMiss(t *testing.T) {
	spec := seqSpec{stages: stagesOf("a", "b"), maxSpan: int64(30 * time.Second)}
	s := newSequencer(spec, 0, func([]*ecs.Event) {})
	a := mk("a", "H1", 1, 1)
	s.process(a, 1, ^uint64(0))
	miss := mk("c", "H1", 2, 2)
	bOther := mk("b", "H2", 2, 3) // matches stage 2, but no pending key
	n := 10
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		miss.Timestamp = int64(2 * time.Second)
		s.process(miss, uint64(n), ^uint64(0))
		s.process(bOther, uint64(n), ^uint64(0))
	})
	if allocs != 0 {
		t.Errorf("allocs per non-matching event = %v, want 0", allocs)
	}
}
