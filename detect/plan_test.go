package detect

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/detect/eql"
	"github.com/macsensor/macsensor/sensor/ecs"
)

// extraQueries are rules beyond Elastic's that reach the corners of the
// plan: runs, until, `any where`, unindexed conditions, numbers and
// booleans against string keys, generic fields, Unicode folding, keys
// inside `or`.
var extraQueries = []string{
	`sequence by host.id [process where process.name : "ab*"] with runs=2 [network where destination.domain : "*.x"] until [process where event.type == "end" and process.name in~ ("KILL", "ſtop")]`,
	`any where process.name == "K" or process.name : "k*Z"`,
	`file where file.path like~ "/tmp/*.SH" or file.name like "ab?"`,
	`process where process.args : ("-e", "*http*") and not process.name == "x"`,
	`network where true`,
	`process where process.pid == 5 or process.name == "x"`,
	`process where process.name == 5 or process.name in ("true", 2.5)`,
	`process where ?foo.bar : ("ab*", "*yz") and foo.baz in~ ("Straße", "ǅ")`,
	`process where process.code_signature.trusted == false and process.name != null`,
	`process where (process.code_signature.exists in~ ("FALSE", "yes") or process.code_signature.trusted : "tr*") and process.args_count == 1`,
	`process where process.code_signature.exists in ("true", 0) or process.code_signature.trusted : ("false", "no")`,
	`sequence with maxspan=2s [process where process.name : "*"] by process.entity_id [file where file.name == "a"] by process.entity_id`,
	`process where process.name regex~ "ab[cd]+\\s" or process.executable like "/usr/*"`,
	`process where false`,
	`sequence by process.entity_id [process where process.parent.name in ("zsh", "bash")] [process where process.name like~ "py*"] [network where destination.port == 443]`,
	// One event may open a sequence and drop it by the until clause.
	`sequence by host.id [process where process.name : "qu*"] [network where true] until [process where process.name : "quit*"]`,
}

// planRules is Elastic's macOS rules and extraQueries.
func planRules(tb testing.TB) []*Rule {
	tb.Helper()
	rules := allRules(tb)
	for i, q := range extraQueries {
		r, err := QueryRule(q)
		if err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
		r.ID = fmt.Sprintf("extra-%d", i)
		r.Name = r.ID
		rules = append(rules, r)
	}
	return rules
}

// vocabulary is what the event generator draws from: the fields the rules
// read and the string literals they compare with.
type vocabulary struct {
	fields []string
	lits   []string
	stages []*eql.EventQuery // every event query, stage and until of the rules
	keys   []string          // the sequences' join fields
}

func newVocabulary(rules []*Rule) *vocabulary {
	fields := map[string]bool{
		"event.category": true, "event.type": true, "event.action": true, "host.os.type": true,
		"process.name": true, "process.args": true, "process.entity_id": true, "host.id": true,
	}
	lits := map[string]bool{"process": true, "network": true, "file": true, "start": true, "end": true,
		"true": true, "false": true, "FALSE": true, "True": true}
	var walk func(x eql.Expr)
	walk = func(x eql.Expr) {
		switch x := x.(type) {
		case *eql.Field:
			fields[x.Path] = true
		case *eql.Literal:
			if x.Value.Kind == ecs.KindString {
				lits[x.Value.Str] = true
			}
		case *eql.Not:
			walk(x.X)
		case *eql.And:
			for _, y := range x.X {
				walk(y)
			}
		case *eql.Or:
			for _, y := range x.X {
				walk(y)
			}
		case *eql.Compare:
			walk(x.Left)
			for _, y := range x.Right {
				walk(y)
			}
		case *eql.Call:
			for _, y := range x.Args {
				walk(y)
			}
		}
	}
	v := &vocabulary{}
	keys := map[string]bool{}
	query := func(q *eql.EventQuery) {
		if q.Category != "" {
			lits[q.Category] = true
		}
		walk(q.Cond)
		v.stages = append(v.stages, q)
	}
	for _, r := range rules {
		q := r.Parsed()
		switch {
		case q.Event != nil:
			query(q.Event)
		case q.Sequence != nil:
			for _, f := range q.Sequence.By {
				keys[f.Path] = true
			}
			for i := range q.Sequence.Stages {
				query(&q.Sequence.Stages[i].Query)
				for _, f := range q.Sequence.Stages[i].By {
					keys[f.Path] = true
				}
			}
			if u := q.Sequence.Until; u != nil {
				query(&u.Query)
			}
		}
	}
	for k := range keys {
		v.keys = append(v.keys, k)
	}
	sort.Strings(v.keys)
	for f := range fields {
		if !strings.HasPrefix(f, "@") && f != "event.sequence" {
			v.fields = append(v.fields, f)
		}
	}
	for l := range lits {
		v.lits = append(v.lits, l)
	}
	sort.Strings(v.fields)
	sort.Strings(v.lits)
	return v
}

// chooser draws choices from fuzz bytes, then from a generator seeded by
// them.
type chooser struct {
	data []byte
	rng  *rand.Rand
}

func newChooser(data []byte) *chooser {
	var seed [16]byte
	copy(seed[:], data)
	return &chooser{data: data, rng: rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))}
}

func (c *chooser) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if len(c.data) > 0 {
		b := c.data[0]
		c.data = c.data[1:]
		return int(b) % n
	}
	return c.rng.IntN(n)
}

// str is a literal of the rules, often bent: case flipped, a Unicode
// case-folding sibling, a prefix or a suffix added, cut short.
func (v *vocabulary) str(c *chooser) string {
	s := v.lits[c.intn(len(v.lits))]
	for k := c.intn(4); k > 0; k-- {
		switch c.intn(9) {
		case 0:
			s = strings.ToUpper(s)
		case 1:
			s = strings.ToLower(s)
		case 2:
			s = strings.NewReplacer("k", "\u212a", "s", "ſ", "K", "\u212a").Replace(s)
		case 3:
			s = []string{"/", "x", " ", "É", "/tmp/", "a.b"}[c.intn(6)] + s
		case 4:
			s += []string{"/", "x", " ", "é", ".app", "\t"}[c.intn(6)]
		case 5:
			if len(s) > 1 {
				s = s[:c.intn(len(s))]
			}
		case 6:
			s = v.lits[c.intn(len(v.lits))] + s
		case 7:
			s = strings.ReplaceAll(s, "*", "")
		case 8:
			if len(s) > 0 {
				s = string(s[:1]) + "\xff" + s[1:] // an invalid byte
			}
		}
	}
	return s
}

// value is a JSON value for a field: mostly strings, sometimes arrays,
// numbers, booleans, null or mixed lists (which the decoder keeps in the
// generic store).
func (v *vocabulary) value(c *chooser) any {
	switch c.intn(12) {
	case 0:
		n := 1 + c.intn(3)
		a := make([]any, n)
		for i := range a {
			a[i] = v.str(c)
		}
		return a
	case 1:
		return []any{v.str(c), c.intn(10), true}
	case 2:
		return c.intn(600)
	case 3:
		return c.intn(2) == 0
	case 4:
		return nil
	case 5:
		return 2.5
	}
	return v.str(c)
}

// events generates n events, mostly in time order.
func (v *vocabulary) events(c *chooser, n int) []*ecs.Event {
	var evs []*ecs.Event
	for _, line := range v.lines(c, n) {
		ev := new(ecs.Event)
		if err := ecs.Decode(line, ev); err != nil {
			continue // a value the decoder refuses: not an event
		}
		evs = append(evs, ev)
	}
	return evs
}

// lines generates n events as ndjson lines.
func (v *vocabulary) lines(c *chooser, n int) [][]byte {
	cats := [][]any{{"process"}, {"network"}, {"file"}, {"library"}, {"configuration"}, {"process", "network"}, nil, {"authentication"}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := 0
	var lines [][]byte
	for i := 0; i < n; i++ {
		ts += []int{0, 1, 1, 1, 2, 500, 3000, -700}[c.intn(8)]
		doc := map[string]any{
			"@timestamp":     base.Add(time.Duration(ts) * time.Millisecond).Format(time.RFC3339Nano),
			"event.sequence": i,
			"host.id":        []string{"h1", "h2"}[c.intn(2)],
			"host.os.type":   "macos",
		}
		if cat := cats[c.intn(len(cats))]; cat != nil {
			doc["event.category"] = cat
		} else if c.intn(2) == 0 {
			doc["event.category"] = c.intn(3) // a number: kept in the generic store
		}
		doc["event.type"] = []any{[]string{"start", "end", "change", "creation"}[c.intn(4)]}
		for _, k := range v.keys {
			if c.intn(4) != 0 {
				doc[k] = []any{"E1", "E2", 1}[c.intn(3)]
			}
		}
		if c.intn(3) != 0 {
			// An event made to satisfy one of the rules' conditions.
			q := v.stages[c.intn(len(v.stages))]
			if q.Category != "" {
				doc["event.category"] = []any{q.Category}
			}
			v.satisfy(c, q.Cond, doc)
		}
		for k := c.intn(6); k > 0; k-- {
			doc[v.fields[c.intn(len(v.fields))]] = v.value(c)
		}
		line, err := json.Marshal(doc)
		if err != nil {
			panic(err)
		}
		lines = append(lines, line)
	}
	return lines
}

// satisfy sets fields of doc so that x likely holds: one branch of each
// `or`, a literal of each comparison (wildcards filled in, case flipped
// for the insensitive operators); negations are left to missing fields.
func (v *vocabulary) satisfy(c *chooser, x eql.Expr, doc map[string]any) {
	switch x := x.(type) {
	case *eql.And:
		for _, y := range x.X {
			v.satisfy(c, y, doc)
		}
	case *eql.Or:
		v.satisfy(c, x.X[c.intn(len(x.X))], doc)
	case *eql.Field:
		doc[x.Path] = true
	case *eql.Compare:
		f, ok := x.Left.(*eql.Field)
		if !ok || len(x.Right) == 0 {
			return
		}
		l, ok := x.Right[c.intn(len(x.Right))].(*eql.Literal)
		if !ok {
			return
		}
		var val any
		switch l.Value.Kind {
		case ecs.KindString:
			s := l.Value.Str
			switch x.Op {
			case eql.OpSeq, eql.OpLike, eql.OpLikeI:
				s = strings.NewReplacer("*", []string{"", "x", "/a b/"}[c.intn(3)], "?", "q").Replace(s)
			}
			switch x.Op {
			case eql.OpSeq, eql.OpLikeI, eql.OpInI:
				if c.intn(2) == 0 {
					s = strings.ToUpper(s)
				}
			}
			val = s
		case ecs.KindInt:
			n := l.Value.Int
			switch x.Op {
			case eql.OpLt, eql.OpLte:
				n--
			case eql.OpGt, eql.OpGte:
				n++
			}
			val = n
		case ecs.KindBool:
			val = l.Value.Int != 0
		case ecs.KindFloat:
			val = l.Value.Float
		default:
			return
		}
		switch x.Op {
		case eql.OpNeq, eql.OpRegex, eql.OpRegexI:
			return
		}
		if c.intn(4) == 0 {
			val = []any{v.str(c), val}
		}
		doc[f.Path] = val
	}
}

// runBoth runs events through the plan, through the plan with Notes (the
// events annotated 16 at a time before Process, as a Reader's Annotate
// would) and rule at a time, and returns the plan's matches (rule id and event sequence
// numbers) and final counters, and the reference's; the noted run must
// give exactly the plan's.
func runBoth(tb testing.TB, rules []*Rule, evs []*ecs.Event) (plan, ref []string, planStats, refStats Stats) {
	tb.Helper()
	run := func(ruleAtATime, noted bool) ([]string, Stats) {
		var got []string
		eng, err := NewEngine(rules, nil, Options{
			Now:         fixedNow,
			MaxPending:  3,
			ruleAtATime: ruleAtATime,
			KeepEvents:  noted, // as replay runs it; evs never change
			OnMatch: func(r *Rule, events []*ecs.Event) {
				var b strings.Builder
				b.WriteString(r.ID)
				for _, e := range events {
					fmt.Fprintf(&b, " %d", e.Event.Sequence)
				}
				got = append(got, b.String())
			},
		})
		if err != nil {
			tb.Fatal(err)
		}
		if (eng.plan == nil) != ruleAtATime {
			tb.Fatal("plan not as asked")
		}
		var note func(*ecs.Event)
		if noted {
			if note = eng.Annotator(); note == nil {
				tb.Fatal("no Annotator for the rules")
			}
		}
		// A Reader annotates a batch while the engine is behind: the
		// Annotator sees the sequences' waiting flags of some events
		// earlier (stale both ways). Batches of 16 here.
		for i := 0; i < len(evs); i += 16 {
			batch := evs[i:min(i+16, len(evs))]
			for _, ev := range batch {
				if note != nil {
					note(ev)
				}
			}
			for _, ev := range batch {
				eng.Process(ev)
			}
		}
		return got, eng.Stats()
	}
	plan, planStats = run(false, false)
	noted, notedStats := run(false, true)
	ref, refStats = run(true, false)
	if strings.Join(noted, "\n") != strings.Join(plan, "\n") || fmt.Sprint(notedStats) != fmt.Sprint(planStats) {
		tb.Fatalf("the plan with Notes differs from the plan:\nnoted: %q\nplan:  %q\nnoted: %+v\nplan:  %+v", noted, plan, notedStats, planStats)
	}
	return plan, ref, planStats, refStats
}

func checkSame(tb testing.TB, plan, ref []string, ps, rs Stats) {
	tb.Helper()
	if strings.Join(plan, "\n") != strings.Join(ref, "\n") {
		tb.Fatalf("plan matches differ from rule at a time:\nplan: %q\nref:  %q", plan, ref)
	}
	if fmt.Sprint(ps) != fmt.Sprint(rs) {
		tb.Fatalf("plan counters differ from rule at a time:\nplan: %+v\nref:  %+v", ps, rs)
	}
}

// TestPlanMatchesRuleAtATime is the differential test on a fixed set of
// generated streams (FuzzPlan explores further).
func TestPlanMatchesRuleAtATime(t *testing.T) {
	rules := planRules(t)
	v := newVocabulary(rules)
	matches := 0
	for seed := 0; seed < 300; seed++ {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(seed))
		evs := v.events(newChooser(b[:]), 64)
		plan, ref, ps, rs := runBoth(t, rules, evs)
		checkSame(t, plan, ref, ps, rs)
		matches += len(ref)
	}
	if matches < 100 {
		t.Errorf("only %d matches in the generated streams: the test compares too little", matches)
	}
	t.Logf("%d matches, identical", matches)
}

// FuzzPlan runs generated events (the rules' own literals, bent; arrays;
// numbers and booleans where strings are expected; missing fields; events
// out of order) through the plan and rule at a time over Elastic's 143
// macOS rules and extraQueries, and requires the same matches and counters.
//
//	go test ./detect -run '^$' -fuzz FuzzPlan -fuzztime 60s
func FuzzPlan(f *testing.F) {
	rules := planRules(f)
	v := newVocabulary(rules)
	for i := 0; i < 4; i++ {
		f.Add([]byte(fmt.Sprintf("seed %d......", i)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newChooser(data)
		evs := v.events(c, 8+c.intn(56))
		plan, ref, ps, rs := runBoth(t, rules, evs)
		checkSame(t, plan, ref, ps, rs)
	})
}

// TestPlanReplaysEveryRuleCase runs the golden event files of
// testdata/cases through both paths with all rules.
func TestPlanReplaysEveryRuleCase(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cases", "*.ndjson"))
	if len(files) == 0 {
		t.Fatal("no testdata/cases/*.ndjson: the committed cases are missing")
	}
	rules := planRules(t)
	for _, f := range files {
		evs := readEvents(t, f)
		plan, ref, ps, rs := runBoth(t, rules, evs)
		checkSame(t, plan, ref, ps, rs)
	}
}

// TestEngineAllRulesNoAllocs pins 0 allocations per non-matching event
// with all 143 rules loaded (as TestEngineSeedNoAllocs does for the seed
// rule): process and network events of ordinary processes.
func TestEngineAllRulesNoAllocs(t *testing.T) {
	eng, err := NewEngine(allRules(t), nil, Options{Now: fixedNow, OnAlert: func(*Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*ecs.Event
	for _, ev := range noiseEvents(2048) {
		switch ev.Process.Name {
		case "mdworker_shared", "git", "Safari", "cloudd", "trustd", "softwareupdated", "nsurlsessiond":
			evs = append(evs, ev) // no rule keeps or matches these
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		eng.Process(evs[i%len(evs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("allocs per non-matching event = %v, want 0", allocs)
	}
	if s := eng.Stats(); s.Events == 0 {
		t.Fatal("no events")
	}
}

// TestExplainSeed pins the plan's explanation of the seed rule.
func TestExplainSeed(t *testing.T) {
	seed := seedRule(t)
	eng, err := NewEngine([]*Rule{seed}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := eng.Explain(seed.ID)
	if !ok {
		t.Fatal("no explanation")
	}
	path := filepath.Join("testdata", "plan", "seed.explain.golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("explain:\n%s\nwant:\n%s", got, want)
	}
	if _, ok := eng.Explain("no-such-rule"); ok {
		t.Error("explained an unknown rule")
	}
}

// TestProbeMemoMatchesLookup checks every memoized probe of the 143 rules'
// plan: each of many values (the rules' literals, bent; values that share
// a memo slot) selects through the memo exactly the targets the lookup
// without it selects, on a first sight, a repeat and after evictions.
func TestProbeMemoMatchesLookup(t *testing.T) {
	eng, err := NewEngine(planRules(t), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := eng.plan
	v := newVocabulary(eng.Rules())
	var b [16]byte
	c := newChooser(b[:])
	var vals []string
	for range 3000 {
		vals = append(vals, v.str(c))
	}
	// Same length, first and last byte: the same slot.
	for _, s := range []string{"zsh", "zzh", "zah", "curl", "cxrl", "c\u00e9l", "python3", "pxthon3", "node", "nxde"} {
		vals = append(vals, s, strings.ToUpper(s))
	}
	want, got := make([]uint64, p.words), make([]uint64, p.words)
	probes, hits := 0, 0
	for _, tab := range p.tables {
		if tab == nil {
			continue
		}
		for _, pr := range tab.probes {
			if pr.memo < 0 {
				continue
			}
			probes++
			for round := 0; round < 2; round++ {
				for i, s := range vals {
					if round == 1 {
						s = vals[(i*7919)%len(vals)]
					}
					clear(want)
					clear(got)
					pr.lookupStr(p.own, s, want)
					pr.str(p.own, s, got)
					if !slices.Equal(want, got) {
						t.Fatalf("probe %s, value %q: memo %x, lookup %x", pr.field, s, got, want)
					}
					if slices.ContainsFunc(want, func(w uint64) bool { return w != 0 }) {
						hits++
					}
				}
			}
		}
	}
	if probes < 10 || hits < 1000 {
		t.Fatalf("%d probes, %d values selecting targets: the test checks too little", probes, hits)
	}
	t.Logf("%d memoized probes, %d value lookups selecting targets", probes, hits)
}

// TestProbeMemoRests feeds a memoized probe values that never repeat: after
// memoSample lookups its memo rests for memoRest lookups (no copies, the
// same bits), then samples again, and repeated values hit it.
func TestProbeMemoRests(t *testing.T) {
	eng, err := NewEngine(planRules(t), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := eng.plan
	var pr *probe
	for _, tab := range p.tables {
		if tab != nil && tab.cat == "process" {
			pr = tab.probe("process.name")
		}
	}
	if pr == nil || pr.memo < 0 {
		t.Fatal("no memoized process.name probe")
	}
	sc := p.newScratch()
	m := &sc.memos[pr.memo]
	want, got := make([]uint64, p.words), make([]uint64, p.words)
	check := func(s string) {
		t.Helper()
		clear(want)
		clear(got)
		pr.lookupStr(sc, s, want)
		pr.str(sc, s, got)
		if !slices.Equal(want, got) {
			t.Fatalf("value %q: memo %x, lookup %x", s, got, want)
		}
	}
	for i := range memoSample {
		check(fmt.Sprintf("unique-%d", i))
	}
	if m.rest != memoRest {
		t.Fatalf("after %d unique values: rest %d, want %d", memoSample, m.rest, memoRest)
	}
	for i := range memoRest {
		check([]string{"curl", "osascript", fmt.Sprint("other-", i)}[i%3])
	}
	if m.rest != 0 || m.misses != 0 {
		t.Fatalf("after the rest: rest %d, misses %d", m.rest, m.misses)
	}
	for range memoSample + 10 {
		check("curl")
	}
	if m.rest != 0 || m.hits < 10 {
		t.Fatalf("repeated values: rest %d, hits %d", m.rest, m.hits)
	}
}

// TestSubstringsMatch compares a probe's contains keys with strings.Contains
// key by key, for key counts on both sides of fewSubstrings (one by one,
// and the pair filter), values of the keys' alphabet so that keys overlap
// the values often, and both the string and the folded-bytes path.
func TestSubstringsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc/-."[rng.IntN(6)]
		}
		return string(b)
	}
	hits := 0
	for _, nkeys := range []int{1, 2, fewSubstrings, fewSubstrings + 1, 34} {
		p := &plan{words: 1}
		c := &substrings{first: map[uint16][]int{}}
		keys := make([]string, nkeys)
		for i := range keys {
			keys[i] = word(2 + rng.IntN(4))
			c.add(p, keys[i], i)
		}
		for range 2000 {
			v := word(rng.IntN(24))
			var want uint64
			for i, k := range keys {
				if strings.Contains(v, k) {
					want |= 1 << i
				}
			}
			got, gotBytes := []uint64{0}, []uint64{0}
			c.match(v, got)
			c.matchBytes([]byte(v), gotBytes)
			if got[0] != want || gotBytes[0] != want {
				t.Fatalf("%d keys %q, value %q: match %b, matchBytes %b, want %b", nkeys, keys, v, got[0], gotBytes[0], want)
			}
			if want != 0 {
				hits++
			}
		}
	}
	if hits < 1000 {
		t.Fatalf("%d values contain a key: the test checks too little", hits)
	}
}
