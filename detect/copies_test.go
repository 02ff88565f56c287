package detect

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// TestRecycledCopiesLeaveMatchesIntact runs Elastic's 143 rules over a long
// generated stream, keeps every alert's and every match's events (against
// Options' "valid during the call", as a careless caller would) with a
// deep snapshot of each, and checks after the whole stream that none of
// them changed: the engine recycles only the copies no match received.
func TestRecycledCopiesLeaveMatchesIntact(t *testing.T) {
	rules := planRules(t)
	v := newVocabulary(rules)
	type held struct {
		ev   *ecs.Event
		snap *ecs.Event
	}
	var kept []held
	keep := func(events []*ecs.Event) {
		// The last event is the one being processed (the caller's); the
		// others are the engine's retained copies.
		for _, ev := range events[:len(events)-1] {
			kept = append(kept, held{ev, ev.Clone()})
		}
	}
	var alerts, matches int
	eng, err := NewEngine(rules, nil, Options{
		Now:        fixedNow,
		MaxPending: 3,
		OnMatch:    func(_ *Rule, events []*ecs.Event) { matches++; keep(events) },
		OnAlert:    func(a *Alert) { alerts++; keep(a.Events) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for seed := 0; seed < 200; seed++ {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(seed))
		for _, ev := range v.events(newChooser(b[:]), 64) {
			eng.Process(ev)
			*ev = ecs.Event{} // as a Reader reuses its batch
		}
	}
	if matches < 100 || alerts == 0 {
		t.Fatalf("%d matches, %d alerts: the test holds too little", matches, alerts)
	}
	if eng.copies.reused < 100 {
		t.Fatalf("%d copies recycled: the test exercises too little", eng.copies.reused)
	}
	for i, h := range kept {
		if !reflect.DeepEqual(h.ev, h.snap) {
			t.Fatalf("held event %d changed after its match:\nnow:  %+v\nthen: %+v", i, h.ev, h.snap)
		}
	}
	t.Logf("%d matches, %d alerts, %d events held intact, %d copies recycled", matches, alerts, len(kept), eng.copies.reused)
}

// TestKeepEventsSameAlerts runs Elastic's 143 rules over a generated stream
// with and without Options.KeepEvents and requires the same alert lines:
// keeping the caller's events instead of copies changes nothing but
// memory. With KeepEvents, a match's earlier events are the caller's own
// (no copy was made) and a recycled retained references no event. With a
// keep window of 8 events, each event is wiped 8 events after it was
// processed (what the copy made when it aged must protect against): the
// alerts are still the same.
func TestKeepEventsSameAlerts(t *testing.T) {
	rules := planRules(t)
	v := newVocabulary(rules)
	stream := func() []*ecs.Event {
		var evs []*ecs.Event
		for seed := 0; seed < 200; seed++ {
			var b [16]byte
			binary.LittleEndian.PutUint64(b[:], uint64(seed))
			evs = append(evs, v.events(newChooser(b[:]), 64)...)
		}
		return evs
	}
	run := func(keep bool, window uint64) (lines []string, eng *Engine) {
		evs := stream()
		given := make(map[*ecs.Event]bool, len(evs))
		for _, ev := range evs {
			given[ev] = true
		}
		var held, foreign int
		eng, err := NewEngine(rules, nil, Options{
			Now:        fixedNow,
			MaxPending: 3,
			KeepEvents: keep,
			OnAlert: func(a *Alert) {
				lines = append(lines, string(a.AppendJSON(nil)))
				for _, ev := range a.Events {
					held++
					if !given[ev] {
						foreign++
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if window > 0 {
			eng.copies.window = window
		}
		for i, ev := range evs {
			eng.Process(ev)
			if j := i + 1 - int(window); window > 0 && j >= 0 {
				*evs[j] = ecs.Event{} // aged: copied if still held
			}
		}
		eng.Flush()
		switch {
		case keep && window == 0 && foreign != 0:
			t.Errorf("KeepEvents: %d of the alerts' %d events are copies", foreign, held)
		case !keep && foreign == 0:
			t.Errorf("copies: none of the alerts' %d events is a copy", held)
		}
		return lines, eng
	}
	copied, _ := run(false, 0)
	if len(copied) < 50 {
		t.Fatalf("%d alerts: the test compares too little", len(copied))
	}
	for _, window := range []uint64{0, 8} {
		kept, eng := run(true, window)
		if len(kept) != len(copied) {
			t.Fatalf("window %d: %d alerts with KeepEvents, %d with copies", window, len(kept), len(copied))
		}
		for i := range kept {
			if kept[i] != copied[i] {
				t.Fatalf("window %d: alert %d differs:\nkept:   %s\ncopied: %s", window, i, kept[i], copied[i])
			}
		}
		if eng.copies.reused < 100 {
			t.Fatalf("window %d: %d retained recycled: the test exercises too little", window, eng.copies.reused)
		}
		if window > 0 && eng.copies.aged < 100 {
			t.Fatalf("window %d: %d kept events aged: the test exercises too little", window, eng.copies.aged)
		}
		for _, r := range eng.copies.free {
			if r.ev != nil {
				t.Fatalf("window %d: a recycled retained still references an event", window)
			}
		}
		t.Logf("window %d: %d alerts, %d retained recycled, %d aged into copies", window, len(kept), eng.copies.reused, eng.copies.aged)
	}
}
