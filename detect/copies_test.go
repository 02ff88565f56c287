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
