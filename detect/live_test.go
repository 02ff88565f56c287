package detect

import (
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// A reload that loads the same rules keeps the engine and the sequence it
// has pending; one that changes them replaces the engine and carries its
// counters.
func TestLiveSwap(t *testing.T) {
	m := &memFiles{files: map[string]string{"/etc/exceptions.toml": goodExceptions}}
	load := func(exc string) *RuleSet {
		t.Helper()
		set, errs := LoadRuleSet(RuleSetOptions{Builtin: true, Exceptions: exc, Read: m.read})
		if len(errs) != 0 {
			t.Fatal(errStrings(errs))
		}
		return set
	}
	var alerts int
	opt := Options{Now: fixedNow, OnAlert: func(*Alert) { alerts++ }}
	live, err := NewLive(load(""), -1, opt)
	if err != nil {
		t.Fatal(err)
	}
	push := func(evs ...*ecs.Event) {
		for _, ev := range evs {
			live.Push(ev)
			live.Advance(ev.Timestamp)
		}
	}

	p1, n1 := automatorPair(t0, 0)
	push(p1)
	if pend := live.Stats().Rules[0].Pending; pend != 1 {
		t.Fatalf("pending = %d, want 1", pend)
	}
	if replaced, err := live.Swap(load(""), opt); replaced || err != nil {
		t.Fatalf("same rules: replaced %v, %v", replaced, err)
	}
	push(n1)
	if alerts != 1 {
		t.Fatalf("alerts = %d, want 1: the pending sequence survived the reload", alerts)
	}

	p2, n2 := automatorPair(t0.Add(time.Minute), 10)
	push(p2)
	if replaced, err := live.Swap(load("/etc/exceptions.toml"), opt); !replaced || err != nil {
		t.Fatalf("exceptions added: replaced %v, %v", replaced, err)
	}
	if n := len(live.RuleSet().Exceptions); n != 1 {
		t.Errorf("exceptions in force = %d", n)
	}
	push(n2)
	if alerts != 1 {
		t.Errorf("alerts = %d: a new engine starts without the old pending sequences", alerts)
	}
	st := live.Stats()
	if st.Events != 4 || st.Rules[0].Alerts != 1 || st.Rules[0].Matches != 1 || st.Rules[0].Pending != 0 {
		t.Errorf("cumulative stats = %+v", st)
	}

	// A limit changes: a new engine too.
	opt2 := opt
	opt2.MaxPending = 7
	if replaced, err := live.Swap(load("/etc/exceptions.toml"), opt2); !replaced || err != nil {
		t.Errorf("max_pending changed: replaced %v, %v", replaced, err)
	}
	if st := live.Stats(); st.Events != 4 || st.Rules[0].Alerts != 1 {
		t.Errorf("stats after a second swap = %+v", st)
	}
}
