package detect

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

var fixedNow = func() time.Time { return time.Date(2025, 2, 5, 12, 0, 0, 0, time.UTC) }

func seedRule(t testing.TB) *Rule {
	t.Helper()
	r, err := SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readEvents decodes an ndjson file.
func readEvents(t testing.TB, path string) []*ecs.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*ecs.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ev := new(ecs.Event)
		if err := ecs.Decode(sc.Bytes(), ev); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestCases runs testdata/cases/<case>.ndjson through a 5 s reorder buffer
// and the seed rule, and compares the alert lines with
// <case>.alerts.golden (-update rewrites them).
func TestCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "cases", "*.ndjson"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".ndjson")
		t.Run(name, func(t *testing.T) {
			var out []byte
			eng, err := NewEngine([]*Rule{seedRule(t)}, nil, Options{
				Now:        fixedNow,
				OnAlert:    func(a *Alert) { out = append(a.AppendJSON(out), '\n') },
				OnThrottle: func(s ThrottleSummary) { out = append(s.AppendJSON(out), '\n') },
			})
			if err != nil {
				t.Fatal(err)
			}
			ro := NewReorder(5*time.Second, eng.Process)
			for _, ev := range readEvents(t, file) {
				ro.Push(ev)
			}
			ro.Flush()
			eng.Flush()
			golden(t, filepath.Join("cases", name+".alerts.golden"), out)
		})
	}
}

func TestEngineSeedCounts(t *testing.T) {
	cases := map[string]int{"seed_basic": 1, "seed_maxspan": 1, "seed_no_alert": 0, "seed_replace": 2, "seed_out_of_order": 1}
	for name, want := range cases {
		var alerts int
		eng, err := NewEngine([]*Rule{seedRule(t)}, nil, Options{Now: fixedNow, OnAlert: func(*Alert) { alerts++ }})
		if err != nil {
			t.Fatal(err)
		}
		ro := NewReorder(5*time.Second, eng.Process)
		for _, ev := range readEvents(t, filepath.Join("testdata", "cases", name+".ndjson")) {
			ro.Push(ev)
		}
		ro.Flush()
		if alerts != want {
			t.Errorf("%s: %d alerts, want %d", name, alerts, want)
		}
		st := eng.Stats().Rules[0]
		if st.Alerts != uint64(want) || st.Matches != uint64(want) {
			t.Errorf("%s: stats %+v", name, st)
		}
	}
}

// pairStream returns n automator/runner pairs on one host, one pair per
// second.
func pairStream(n int) []*ecs.Event {
	var evs []*ecs.Event
	for i := 0; i < n; i++ {
		p, net := automatorPair(t0.Add(time.Duration(i)*10*time.Second), int64(2*i))
		net.Timestamp = p.Timestamp + int64(time.Second)
		evs = append(evs, p, net)
	}
	return evs
}

func TestEngineThrottle(t *testing.T) {
	r := seedRule(t)
	var alerts int
	var sums []ThrottleSummary
	eng, err := NewEngine([]*Rule{r}, nil, Options{
		Now:            fixedNow,
		ThrottleWindow: time.Minute,
		OnAlert:        func(*Alert) { alerts++ },
		OnThrottle:     func(s ThrottleSummary) { sums = append(sums, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// The default budget is 100 per window; a 1-minute window over pairs
	// 10 s apart holds 6 pairs: 6 alerts, none throttled. Shrink the budget.
	eng.runs[0].thr.limit = 2
	for _, ev := range pairStream(12) { // 2 minutes: two windows of 6
		eng.Process(ev)
	}
	if alerts != 4 {
		t.Errorf("alerts = %d, want 4", alerts)
	}
	if len(sums) != 1 || sums[0].Throttled != 4 || sums[0].Allowed != 2 || sums[0].RuleID != r.ID {
		t.Errorf("summaries before Flush = %+v, want one with 4 throttled", sums)
	}
	eng.Flush()
	if len(sums) != 2 || sums[1].Throttled != 4 {
		t.Errorf("summaries after Flush = %+v", sums)
	}
	if st := eng.Stats().Rules[0]; st.Throttled != 8 || st.Alerts != 4 || st.Matches != 12 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEngineThrottleClosesOnTime(t *testing.T) {
	var sums []ThrottleSummary
	eng, err := NewEngine([]*Rule{seedRule(t)}, nil, Options{
		ThrottleWindow: time.Minute,
		OnThrottle:     func(s ThrottleSummary) { sums = append(sums, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	eng.runs[0].thr.limit = 1
	for _, ev := range pairStream(3) { // 3 alerts in the first minute
		eng.Process(ev)
	}
	if len(sums) != 0 {
		t.Fatalf("summary before the window ended: %+v", sums)
	}
	// Any event after the window's end closes it.
	late := mk("zsh", hostID, float64(t0.Add(2*time.Minute).Unix()), 1000)
	eng.Process(late)
	if len(sums) != 1 || sums[0].Throttled != 2 {
		t.Errorf("summaries = %+v, want one with 2 throttled", sums)
	}
}

func TestEngineExceptions(t *testing.T) {
	r := seedRule(t)
	excs, errs := ParseExceptions("exceptions.toml", []byte(`
[[exception]]
rule_id = "5d9f8cfc-0d03-443e-a167-2b0597ce0965"
description = "inventory workflow"
where = 'process.args : "*inventory.workflow"'

[[exception]]
rule_id = "*"
description = "lab network"
where = 'destination.ip == "203.0.113.99"'
stage = 2

[[exception]]
rule_id = "*"
description = "stage 1 never has a destination"
where = 'destination.ip == "203.0.113.98"'
stage = 1
`))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	var alerts []string
	eng, err := NewEngine([]*Rule{r}, excs, Options{Now: fixedNow, OnAlert: func(a *Alert) {
		alerts = append(alerts, a.Events[1].Destination.IP)
	}})
	if err != nil {
		t.Fatal(err)
	}
	feed := func(workflow, dst string, at time.Duration) {
		p, n := automatorPair(t0.Add(at), int64(at))
		p.Process.Args = []string{"/usr/bin/automator", workflow}
		n.Destination.IP = dst
		eng.Process(p)
		eng.Process(n)
	}
	feed("/tmp/inventory.workflow", "203.0.113.1", 0)       // suppressed by the first
	feed("/tmp/evil.workflow", "203.0.113.99", time.Minute) // suppressed by the second
	feed("/tmp/evil.workflow", "203.0.113.98", 2*time.Minute)
	feed("/tmp/evil.workflow", "203.0.113.2", 3*time.Minute)
	if got := strings.Join(alerts, ","); got != "203.0.113.98,203.0.113.2" {
		t.Errorf("alerts for %q, want %q", got, "203.0.113.98,203.0.113.2")
	}
	if st := eng.Stats().Rules[0]; st.Suppressed != 2 || st.Matches != 4 || st.Alerts != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEngineEventQueryAndOnMatch(t *testing.T) {
	r, err := QueryRule(`process where process.name == "automator"`)
	if err != nil {
		t.Fatal(err)
	}
	var matched, alerted int
	eng, err := NewEngine([]*Rule{r}, nil, Options{
		OnMatch: func(_ *Rule, evs []*ecs.Event) { matched += len(evs) },
		OnAlert: func(a *Alert) { alerted++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range pairStream(3) {
		eng.Process(ev)
	}
	if matched != 3 || alerted != 3 {
		t.Errorf("matched %d, alerted %d; want 3, 3", matched, alerted)
	}
}

func TestEngineRejects(t *testing.T) {
	if _, err := NewEngine([]*Rule{{ID: "x"}}, nil, Options{}); err == nil {
		t.Error("an uncompiled rule was accepted")
	}
	r := seedRule(t)
	if _, err := NewEngine([]*Rule{r, r}, nil, Options{}); err == nil {
		t.Error("a duplicate rule_id was accepted")
	}
}

// TestEngineSeedNoAllocs pins 0 allocations per non-matching event for the
// seed rule, including events that match one stage's category but not its
// condition, and runner connections with no pending automator.
func TestEngineSeedNoAllocs(t *testing.T) {
	eng, err := NewEngine([]*Rule{seedRule(t)}, nil, Options{Now: fixedNow, OnAlert: func(*Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	evs := noiseEvents(256)
	_, n := automatorPair(t0, 1)
	n.Host.ID = "another-host" // no pending automator on this host
	evs = append(evs, n)
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		eng.Process(evs[i%len(evs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("allocs per non-matching event = %v, want 0", allocs)
	}
}

// TestEngineQuerySemantics runs compiled EQL (not hand-written matchers)
// through the engine: runs, until, maxspan, per-stage by keys.
func TestEngineQuerySemantics(t *testing.T) {
	net := func(name, host string, ts float64, seq int64) *ecs.Event {
		e := mk(name, host, ts, seq)
		e.Event.Category = []string{"network"}
		return e
	}
	end := func(name, host string, ts float64, seq int64) *ecs.Event {
		e := mk(name, host, ts, seq)
		e.Event.Type = []string{"end"}
		return e
	}
	tests := []struct {
		query  string
		events []*ecs.Event
		want   string
	}{
		{`sequence by host.id [process where process.name == "a"] with runs=2 [network where true]`,
			[]*ecs.Event{mk("a", "h", 1, 1), net("x", "h", 2, 2), mk("a", "h", 3, 3), mk("a", "h", 4, 4), net("x", "h", 5, 5)},
			"3,4,5"},
		{`sequence by host.id [process where process.name == "a"] [network where true] until [process where event.type == "end"]`,
			[]*ecs.Event{mk("a", "h", 1, 1), end("a", "h", 2, 2), net("x", "h", 3, 3), mk("a", "h", 4, 4), net("x", "h", 5, 5)},
			"4,5"},
		{`sequence by host.id with maxspan=30s [process where true] [network where true]`,
			[]*ecs.Event{mk("a", "h", 0, 1), net("x", "h", 30, 2), mk("a", "h", 100, 3), net("x", "h", 130.5, 4)},
			"1,2"},
		{`sequence [process where true] by process.name [network where true] by host.id`,
			[]*ecs.Event{mk("h2", "h1", 0, 1), net("x", "h1", 1, 2), net("x", "h2", 2, 3)},
			"1,3"},
		{`network where host.id : "H*"`,
			[]*ecs.Event{net("x", "h1", 0, 1), net("x", "x", 1, 2), mk("x", "h2", 2, 3)},
			"1"},
	}
	for _, tc := range tests {
		r, err := QueryRule(tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var got []string
		eng, err := NewEngine([]*Rule{r}, nil, Options{OnMatch: func(_ *Rule, evs []*ecs.Event) { got = append(got, ids(evs)) }})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range tc.events {
			eng.Process(ev)
		}
		if g := strings.Join(got, ";"); g != tc.want {
			t.Errorf("%s: matches %q, want %q", tc.query, g, tc.want)
		}
	}
}

// TestCaseOutOfOrderEqualsInOrder: the reorder buffer makes a stream whose
// disorder fits its window alert exactly as the ordered stream does.
func TestCaseOutOfOrderEqualsInOrder(t *testing.T) {
	a, err := os.ReadFile(filepath.Join("testdata", "cases", "seed_basic.alerts.golden"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "cases", "seed_out_of_order.alerts.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Error("seed_out_of_order alerts differ from seed_basic's")
	}
}
