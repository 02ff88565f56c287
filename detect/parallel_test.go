package detect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// ruleTOML is a minimal EQL rule file.
func ruleTOML(id, name, query string, maxSignals int) []byte {
	return fmt.Appendf(nil, `[metadata]
maturity = "production"
[rule]
rule_id = %q
name = %q
description = "test"
severity = "low"
risk_score = 21
language = "eql"
type = "eql"
max_signals = %d
query = '''
%s
'''
`, id, name, maxSignals, query)
}

func parseTestRule(t testing.TB, id, query string, maxSignals int) *Rule {
	t.Helper()
	r, lerr := ParseRule(id+".toml", ruleTOML(id, id, query, maxSignals))
	if lerr != nil {
		t.Fatal(lerr)
	}
	return r
}

// multiHostStream generates n events over hosts hosts in @timestamp order:
// automator starts and runner connections, so that the seed rule fires on
// some hosts and not others, with entity ids reused across hosts (so that
// a sequence joined by process.entity_id alone joins across hosts).
func multiHostStream(n, hosts int, seed uint64) []*ecs.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := time.Date(2025, 2, 5, 10, 0, 0, 0, time.UTC).UnixNano()
	evs := make([]*ecs.Event, 0, n)
	for i := range n {
		t += int64(rng.IntN(400)) * int64(time.Millisecond)
		h := rng.IntN(hosts)
		e := &ecs.Event{Timestamp: t, Has: ecs.HasTimestamp | ecs.HasSequence | ecs.HasPID}
		e.Host = ecs.Host{ID: fmt.Sprintf("host-%03d", h), Name: fmt.Sprintf("mac-%d", h), OS: ecs.OS{Type: "macos"}}
		e.Agent = ecs.Agent{ID: e.Host.ID, Type: "macsensor", Version: "t"}
		e.Event.Sequence = int64(i)
		e.Process.PID = int64(100 + rng.IntN(50))
		e.Process.EntityID = fmt.Sprintf("ent-%d", e.Process.PID)
		switch rng.IntN(3) {
		case 0:
			e.Event.Category, e.Event.Type, e.Event.Action = []string{"process"}, []string{"start"}, "exec"
			e.Process.Name = "automator"
		case 1:
			e.Event.Category, e.Event.Type, e.Event.Action = []string{"network"}, []string{"start"}, "connection_attempted"
			e.Process.Name = "com.apple.automator.runner"
		default:
			e.Event.Category, e.Event.Type, e.Event.Action = []string{"process"}, []string{"start"}, "exec"
			e.Process.Name = "ls"
		}
		evs = append(evs, e)
	}
	return evs
}

// testRuleSet is the seed rule (host.id), an event query, a sequence by
// process.entity_id only, a throttled host sequence (max_signals 3), a
// sequence without a join key (the global partition), three more
// sequences by process.entity_id and one more by host.id: two families of
// minFamily rules, each with its own partitions.
func testRuleSet(t testing.TB) []*Rule {
	seed, err := SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	return []*Rule{
		seed,
		parseTestRule(t, "ls-any", `process where process.name == "ls" and process.pid == 120`, 1000),
		parseTestRule(t, "by-entity", `sequence by process.entity_id with maxspan=5s [process where process.name == "automator"] [network where true]`, 1000),
		parseTestRule(t, "throttled", `sequence by host.id with maxspan=10s [process where process.name == "ls"] [network where true]`, 3),
		parseTestRule(t, "no-key", `sequence with maxspan=1s [process where process.name == "automator" and process.pid == 101] [network where process.pid == 102]`, 1000),
		parseTestRule(t, "by-entity-ls", `sequence by process.entity_id with maxspan=5s [process where process.name == "ls"] [network where true]`, 1000),
		parseTestRule(t, "by-entity-any", `sequence by process.entity_id with maxspan=2s [any where true] [network where process.name : "com.apple.*"]`, 1000),
		parseTestRule(t, "by-entity-runs", `sequence by process.entity_id with maxspan=5s [process where true] with runs=2`, 1000),
		parseTestRule(t, "host-ls-runner", `sequence by host.id with maxspan=3s [process where process.name == "ls"] [network where process.name : "com.apple.*"]`, 1000),
	}
}

func runSerial(t testing.TB, rules []*Rule, evs []*ecs.Event) ([]byte, Stats, []ThrottleSummary) {
	var out []byte
	var sums []ThrottleSummary
	ag := &ecs.Agent{ID: "replayer", Type: "macsensor", Version: "t"}
	now := func() time.Time { return time.Unix(1, 0) }
	eng, err := NewEngine(rules, nil, Options{Now: now, OnAlert: func(a *Alert) {
		a.Agent = ag
		out = append(a.AppendJSON(out), '\n')
	}, OnThrottle: func(s ThrottleSummary) { sums = append(sums, s) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		eng.Process(e)
	}
	eng.Flush()
	return out, eng.Stats(), sums
}

func runParallel(t testing.TB, rules []*Rule, evs []*ecs.Event, n int) ([]byte, Stats, []ThrottleSummary) {
	var out []byte
	var sums []ThrottleSummary
	ag := &ecs.Agent{ID: "replayer", Type: "macsensor", Version: "t"}
	now := func() time.Time { return time.Unix(1, 0) }
	p, err := NewParallel(rules, nil, ParallelOptions{
		Options:    Options{Now: now, OnThrottle: func(s ThrottleSummary) { sums = append(sums, s) }},
		Partitions: n, Agent: ag,
		Output: func(_ *Rule, line []byte) { out = append(append(out, line...), '\n') },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		p.Process(e)
	}
	p.Flush()
	return out, p.Stats(), sums
}

func TestParallelMatchesSerial(t *testing.T) {
	rules := testRuleSet(t)
	var keys []string
	for _, r := range rules {
		keys = append(keys, PartitionKey(r))
	}
	if fmt.Sprint(keys) != "[host.id host.id process.entity_id host.id  process.entity_id process.entity_id process.entity_id host.id]" {
		t.Fatalf("PartitionKey: %q", keys)
	}
	evs := multiHostStream(20000, 37, 7)
	want, ws, wsum := runSerial(t, rules, evs)
	if bytes.Count(want, []byte("\n")) < 100 {
		t.Fatalf("the stream raises only %d alerts: not a test", bytes.Count(want, []byte("\n")))
	}
	for _, st := range ws.Rules {
		if st.Alerts == 0 {
			t.Fatalf("rule %s raises no alert on the stream: not a test", st.ID)
		}
	}
	if ws.Rules[3].Throttled == 0 || len(wsum) == 0 {
		t.Fatal("the throttled rule throttles nothing: not a test")
	}
	for _, n := range []int{1, 2, 3, 8} {
		got, gs, gsum := runParallel(t, rules, evs, n)
		if !bytes.Equal(got, want) {
			t.Errorf("%d partitions: alerts differ from the serial run (%d vs %d bytes)", n, len(got), len(want))
		}
		if fmt.Sprint(gsum) != fmt.Sprint(wsum) {
			t.Errorf("%d partitions: throttle summaries %v, serial %v", n, gsum, wsum)
		}
		for i := range ws.Rules {
			w, g := ws.Rules[i], gs.Rules[i]
			if w.Matches != g.Matches || w.Alerts != g.Alerts || w.Suppressed != g.Suppressed || w.Throttled != g.Throttled {
				t.Errorf("%d partitions: rule %s stats %+v, serial %+v", n, w.ID, g, w)
			}
		}
		if gs.Events != ws.Events {
			t.Errorf("%d partitions: %d events, serial %d", n, gs.Events, ws.Events)
		}
	}
}

// TestParallelOnlyGlobal: with only rules that cannot be partitioned the
// run is one engine over every event.
func TestParallelOnlyGlobal(t *testing.T) {
	rules := testRuleSet(t)[4:5]
	evs := multiHostStream(20000, 5, 3)
	want, _, _ := runSerial(t, rules, evs)
	got, _, _ := runParallel(t, rules, evs, 4)
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("alerts differ (%d vs %d bytes)", len(got), len(want))
	}
}

// TestParallelSmallFamilies: a family of fewer than minFamily rules, but
// for the largest, runs in the global engine, with the same alerts.
func TestParallelSmallFamilies(t *testing.T) {
	all := testRuleSet(t)
	families := func(rules []*Rule) (paths []string, global int) {
		p, err := NewParallel(rules, nil, ParallelOptions{Partitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Flush()
		for _, f := range p.families {
			paths = append(paths, f.path)
		}
		if p.global != nil {
			global = len(p.global.eng.Rules())
		}
		return paths, global
	}
	if paths, global := families(all); fmt.Sprint(paths) != "[host.id process.entity_id]" || global != 1 {
		t.Errorf("all rules: families %v, %d global rules; want [host.id process.entity_id], 1", paths, global)
	}
	// Four rules by process.entity_id (the largest family), three by
	// host.id: those run in the global engine with the unkeyed one.
	if paths, global := families(all[:8]); fmt.Sprint(paths) != "[process.entity_id]" || global != 4 {
		t.Errorf("without host-ls-runner: families %v, %d global rules; want [process.entity_id], 4", paths, global)
	}
	small := all[:5] // one rule by process.entity_id
	if paths, global := families(small); fmt.Sprint(paths) != "[host.id]" || global != 2 {
		t.Errorf("one entity rule: families %v, %d global rules; want [host.id], 2", paths, global)
	}
	evs := multiHostStream(20000, 37, 7)
	want, _, _ := runSerial(t, small, evs)
	got, _, _ := runParallel(t, small, evs, 2)
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("alerts differ (%d vs %d bytes)", len(got), len(want))
	}
}
