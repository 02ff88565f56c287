package detect

import (
	"cmp"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"sync"

	"github.com/macsensor/macsensor/detect/eql"
	"github.com/macsensor/macsensor/sensor/ecs"
)

var errNotCompiled = errors.New("detect: rule not compiled (use LoadRules, ParseRule or QueryRule)")

// ParallelOptions configure a Parallel run.
type ParallelOptions struct {
	// Options of every partition's engine. OnAlert and OnMatch are not
	// used (alerts come out encoded through Output); OnThrottle is called
	// from the goroutine that calls Process and Flush.
	Options
	// Partitions is the number of host partitions (≥ 1), each run by its
	// own goroutine and engine.
	Partitions int
	// Agent is set on every alert before it is encoded (Alert.Agent).
	Agent *ecs.Agent
	// Output receives each alert line (no newline), in the order a serial
	// Engine would have raised them, from the goroutine that calls
	// Process and Flush. line is only valid during the call.
	Output func(r *Rule, line []byte)
}

// Parallel runs rules over events split into partitions, one engine per
// partition on its own goroutine, and merges the alerts back into the order
// a single Engine fed the same events would raise them.
//
// A sequence only joins events whose join keys are equal, so a sequence
// whose every stage's join key starts with the same field (PartitionKey)
// can run on events split by that field's value: events with equal values
// go to the same partition. The rules are grouped by that first key field
// into families (host.id, process.entity_id, ...), each split into
// Partitions partitions; every event goes to one partition of every
// family, chosen by a hash of its value of the family's field. An event
// query is per event: it runs in the host.id family. A sequence without a
// join key (or whose stages start with different fields) may join any
// events: it runs in one more engine that sees every event (the "global"
// partition), in parallel with the others. So do the rules of a family of
// fewer than minFamily rules other than the largest: each family costs
// every event one more engine pass. The category mask of an event is
// computed once for all engines (they assign the same category bits).
//
// Results are identical to a serial Engine's when the events arrive in
// @timestamp order (Reorder reports no late events) and no rule hits its
// MaxPending cap: a partition's sequences see the same events in the same
// order, the throttle (max_signals per window, counted over all hosts) is
// applied here after the merge, and exceptions are per match. Two things
// are per partition and can differ: an event later than its rule's latest
// event is ignored by a serial engine when another partition's event moved that
// rule's clock past it, and the MaxPending cap evicts the oldest pending
// sequence of its partition rather than of all events (Stats: CapHits).
//
// Process and Flush are called from one goroutine, with events in EQL
// order (after Reorder), as Engine.Process.
type Parallel struct {
	opt      ParallelOptions
	rules    []*Rule
	parts    []*partition // the families' partitions, then the global one (if any)
	families []family
	global   *partition
	seed     maphash.Seed
	key      []byte

	thr         []throttle
	throttled   []uint64
	throttleDue int64

	batch    *parBatch
	inflight *parBatch
	next     uint64 // global index of the next event
	events   uint64
}

// minFamily is the fewest rules a partition family has, but for the
// largest; a smaller one's rules run in the global engine.
const minFamily = 4

// parBatchSize is the number of events dispatched to the partitions at a
// time: large enough that the hand-off costs little per event.
const parBatchSize = 2048

type parBatch struct {
	ts   []int64 // the events' timestamps, by index from base
	base uint64
	subs [][]parEvent // per partition
	wg   sync.WaitGroup
}

type parEvent struct {
	ev   *ecs.Event
	idx  uint64
	mask uint64 // the event's category mask (every engine's bits are the same)
}

// parAlert is one alert a partition raised: its line is arena[off:end].
type parAlert struct {
	idx  uint64 // global index of the event that completed it
	rule int    // index in Parallel.rules
	n    int    // emission order within the partition
	ts   int64
	off  int
	end  int
}

// family is the partitions of the rules that join on one field first.
type family struct {
	path  string
	key   eql.KeyFunc // the field's canonical key encoding (eql.CompileKey)
	first int         // index of its first partition in Parallel.parts
}

type partition struct {
	eng    *Engine
	index  map[*Rule]int
	in     chan *parBatch
	self   int
	cur    uint64
	alerts []parAlert
	arena  []byte
	agent  *ecs.Agent
}

// PartitionKey returns the field a rule's events can be partitioned by:
// "host.id" for an event query (any field would do; it joins nothing), the
// first join key field of a sequence when every stage (and until) starts
// with that same field, else "" (the rule needs every event).
func PartitionKey(r *Rule) string {
	if r.parsed == nil || r.parsed.Sequence == nil {
		return "host.id"
	}
	s := r.parsed.Sequence
	first := func(st *eql.Stage) string {
		// The join key of a stage is the sequence's by, then the stage's.
		switch {
		case len(s.By) > 0:
			return s.By[0].Path
		case len(st.By) > 0:
			return st.By[0].Path
		}
		return ""
	}
	path := first(&s.Stages[0])
	for i := range s.Stages {
		if first(&s.Stages[i]) != path {
			return ""
		}
	}
	if s.Until != nil && first(s.Until) != path {
		return ""
	}
	return path
}

// NewParallel starts the partitions' goroutines; Flush stops them.
func NewParallel(rules []*Rule, exceptions []*Exception, opt ParallelOptions) (*Parallel, error) {
	if opt.Partitions < 1 {
		opt.Partitions = 1
	}
	p := &Parallel{opt: opt, rules: rules, seed: maphash.MakeSeed(), throttleDue: math.MaxInt64}
	window := opt.ThrottleWindow
	if window <= 0 {
		window = DefaultThrottleWindow
	}
	byKey := map[string][]*Rule{}
	var paths []string
	var globalRules []*Rule
	for _, r := range rules {
		if r == nil || (r.spec.event == nil && r.spec.seq == nil) {
			return nil, errNotCompiled
		}
		p.thr = append(p.thr, throttle{window: int64(window), limit: r.maxSignals()})
		// The partitions do not throttle: max_signals counts alerts over
		// all hosts, so the merge applies it. The copy shares the
		// compiled query, which the engines only read.
		c := *r
		c.MaxSignals = math.MaxInt
		switch k := PartitionKey(r); {
		case k == "":
			globalRules = append(globalRules, &c)
		default:
			if byKey[k] == nil {
				paths = append(paths, k)
			}
			byKey[k] = append(byKey[k], &c)
		}
	}
	// A family of a few rules costs every event one more engine pass (its
	// category mask, its probes) for little parallel work: but for the
	// largest family, its rules run in the global engine, which is right
	// for any rule.
	largest := ""
	for _, path := range paths {
		if len(byKey[path]) > len(byKey[largest]) {
			largest = path
		}
	}
	kept := paths[:0]
	for _, path := range paths {
		if len(byKey[path]) < minFamily && path != largest {
			globalRules = append(globalRules, byKey[path]...)
			continue
		}
		kept = append(kept, path)
	}
	paths = kept
	// Every engine assigns the category bits of all the rules in the same
	// order, so the mask Process computes once serves all partitions.
	var cats []string
	seenCat := map[string]bool{}
	for _, r := range rules {
		for _, c := range r.spec.cats {
			if !seenCat[c] {
				seenCat[c] = true
				cats = append(cats, c)
			}
		}
	}
	p.throttled = make([]uint64, len(rules))
	index := make(map[*Rule]int, len(rules))
	mk := func(rs []*Rule) (*partition, error) {
		pt := &partition{index: index, in: make(chan *parBatch, 1), self: len(p.parts), agent: opt.Agent}
		eo := opt.Options
		eo.cats = cats
		eo.OnMatch = nil
		eo.OnThrottle = nil
		eo.OnAlert = pt.onAlert
		eng, err := NewEngine(rs, exceptions, eo)
		if err != nil {
			return nil, err
		}
		pt.eng = eng
		p.parts = append(p.parts, pt)
		return pt, nil
	}
	for _, path := range paths {
		kf, err := eql.CompileKey([]*eql.Field{{Path: path, Optional: true}})
		if err != nil {
			return nil, err
		}
		p.families = append(p.families, family{path: path, key: kf, first: len(p.parts)})
		for range opt.Partitions {
			if _, err := mk(byKey[path]); err != nil {
				return nil, err
			}
		}
	}
	if len(globalRules) > 0 {
		g, err := mk(globalRules)
		if err != nil {
			return nil, err
		}
		p.global = g
	}
	// The rules' indexes, by the copies every engine holds.
	for _, pt := range p.parts {
		for _, c := range pt.eng.Rules() {
			for i, r := range rules {
				if r.ID == c.ID {
					index[c] = i
				}
			}
		}
	}
	for _, pt := range p.parts {
		go pt.run()
	}
	p.batch = p.newBatch()
	return p, nil
}

func (p *Parallel) newBatch() *parBatch {
	return &parBatch{base: p.next, subs: make([][]parEvent, len(p.parts))}
}

func (pt *partition) run() {
	for b := range pt.in {
		pt.alerts = pt.alerts[:0]
		pt.arena = pt.arena[:0]
		for _, e := range b.subs[pt.self] {
			pt.cur = e.idx
			pt.eng.processMask(e.ev, e.mask)
		}
		b.wg.Done()
	}
}

func (pt *partition) onAlert(a *Alert) {
	a.Agent = pt.agent
	off := len(pt.arena)
	pt.arena = a.AppendJSON(pt.arena)
	pt.alerts = append(pt.alerts, parAlert{idx: pt.cur, rule: pt.index[a.Rule], n: len(pt.alerts), ts: a.Timestamp, off: off, end: len(pt.arena)})
}

// Process hands ev to its partition.
func (p *Parallel) Process(ev *ecs.Event) {
	b := p.batch
	idx := p.next
	p.next++
	p.events++
	b.ts = append(b.ts, ev.Timestamp)
	mask := p.parts[0].eng.categoryMask(ev)
	if p.global != nil {
		b.subs[p.global.self] = append(b.subs[p.global.self], parEvent{ev, idx, mask})
	}
	n := p.opt.Partitions
	for _, f := range p.families {
		k := 0
		if n > 1 {
			// Equal join-key values encode to equal bytes (eql.CompileKey),
			// so every event a sequence could join lands in one partition.
			// A missing value encodes as nothing: all such events share one.
			var ok bool
			if p.key, ok = f.key(p.key[:0], ev); !ok {
				p.key = p.key[:0]
			}
			k = int(maphash.Bytes(p.seed, p.key) % uint64(n))
		}
		b.subs[f.first+k] = append(b.subs[f.first+k], parEvent{ev, idx, mask})
	}
	if len(b.ts) >= parBatchSize {
		p.dispatch()
	}
}

// dispatch sends the current batch to the partitions and merges the
// previous one, which ran meanwhile.
func (p *Parallel) dispatch() {
	b := p.batch
	p.finish()
	b.wg.Add(len(p.parts))
	for _, pt := range p.parts {
		pt.in <- b
	}
	p.inflight = b
	p.batch = p.newBatch()
}

// finish waits for the batch in flight and merges its alerts.
func (p *Parallel) finish() {
	b := p.inflight
	if b == nil {
		return
	}
	b.wg.Wait()
	p.inflight = nil
	type ref struct {
		a  *parAlert
		pt *partition
	}
	var all []ref
	for _, pt := range p.parts {
		for i := range pt.alerts {
			all = append(all, ref{&pt.alerts[i], pt})
		}
	}
	// A serial engine raises an event's alerts in rule order, and one
	// rule's alerts for one event in the order its engine raised them.
	slices.SortFunc(all, func(x, y ref) int {
		switch {
		case x.a.idx != y.a.idx:
			return cmp.Compare(x.a.idx, y.a.idx)
		case x.a.rule != y.a.rule:
			return x.a.rule - y.a.rule
		}
		return x.a.n - y.a.n
	})
	j := 0
	for i, ts := range b.ts {
		idx := b.base + uint64(i)
		if ts >= p.throttleDue {
			p.closeThrottles(ts)
		}
		for ; j < len(all) && all[j].a.idx == idx; j++ {
			a := all[j].a
			p.admit(a.rule, a.ts, all[j].pt.arena[a.off:a.end])
		}
	}
}

// admit applies the rule's throttle to one alert, as Engine does.
func (p *Parallel) admit(rule int, ts int64, line []byte) {
	t := &p.thr[rule]
	ok, closed, report := t.admit(ts)
	if report {
		p.report(rule, closed)
	}
	if due, has := t.due(); has && due < p.throttleDue {
		p.throttleDue = due
	}
	if !ok {
		p.throttled[rule]++
		return
	}
	if p.opt.Output != nil {
		p.opt.Output(p.rules[rule], line)
	}
}

func (p *Parallel) report(rule int, s ThrottleSummary) {
	if f := p.opt.OnThrottle; f != nil {
		s.RuleID = p.rules[rule].ID
		s.RuleName = p.rules[rule].Name
		f(s)
	}
}

func (p *Parallel) closeThrottles(now int64) {
	p.throttleDue = math.MaxInt64
	for i := range p.thr {
		t := &p.thr[i]
		due, has := t.due()
		if !has {
			continue
		}
		if due <= now {
			if s, ok := t.close(); ok {
				p.report(i, s)
			}
			continue
		}
		if due < p.throttleDue {
			p.throttleDue = due
		}
	}
}

// Flush runs the events handed over so far, merges their alerts, closes
// the throttle windows and stops the partitions' goroutines; Process must
// not be called after it.
func (p *Parallel) Flush() {
	if len(p.batch.ts) > 0 {
		p.dispatch()
	}
	p.finish()
	for _, pt := range p.parts {
		close(pt.in)
	}
	p.closeThrottles(math.MaxInt64)
}

// Stats returns the counters a serial engine would: matches, suppressions
// and the sequence counters summed over the partitions, alerts and
// throttled counted after the merge. Call it after Flush.
func (p *Parallel) Stats() Stats {
	s := Stats{Events: p.events, Rules: make([]RuleStats, len(p.rules))}
	for i, r := range p.rules {
		s.Rules[i] = RuleStats{ID: r.ID, Name: r.Name}
	}
	for _, pt := range p.parts {
		es := pt.eng.Stats()
		for k, c := range pt.eng.Rules() {
			rs := &s.Rules[pt.index[c]]
			x := es.Rules[k]
			rs.Matches += x.Matches
			rs.Alerts += x.Alerts // before the merge's throttle
			rs.Suppressed += x.Suppressed
			rs.Pending += x.Pending
			rs.CapHits += x.CapHits
			rs.Expired += x.Expired
			rs.Until += x.Until
			rs.Late += x.Late
		}
	}
	for i := range s.Rules {
		s.Rules[i].Throttled = p.throttled[i]
		s.Rules[i].Alerts -= p.throttled[i]
	}
	return s
}
