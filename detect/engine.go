package detect

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// DefaultMaxPending is the default cap on one rule's pending sequences.
const DefaultMaxPending = 10000

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Now stamps event.created on alerts (default time.Now).
	Now func() time.Time
	// MaxPending caps each rule's pending sequences (default
	// DefaultMaxPending); the oldest is evicted and counted when it is hit.
	MaxPending int
	// ThrottleWindow is the window of the per-rule alert budget
	// (max_signals; default DefaultThrottleWindow).
	ThrottleWindow time.Duration
	// LineCap limits the encoded alert line (default DefaultLineCap; < 0:
	// none).
	LineCap int

	// OnMatch, if set, receives every match before exceptions and
	// throttling (`replay --query`). events is only valid during the call.
	OnMatch func(r *Rule, events []*ecs.Event)
	// OnAlert receives each alert that survived exceptions and throttling.
	// The alert is only valid during the call.
	OnAlert func(a *Alert)
	// OnThrottle receives the summary of each throttle window that dropped
	// alerts, when the window closes (a later alert or event, or Flush).
	OnThrottle func(s ThrottleSummary)

	// KeepEvents says the caller never modifies or reuses an event once it
	// gave it to Process (an ecs.Reader's events are such): pending
	// sequences then keep the event itself, not a copy of it. The memory
	// an event keeps alive is then the caller's: a Reader's event keeps its
	// batch (see ecs.Reader).
	KeepEvents bool

	// ruleAtATime runs every rule of an event's categories on it, without
	// the plan's index (the reference the differential tests compare the
	// plan with).
	ruleAtATime bool
	// cats, if set, assigns the category bits in this order before the
	// rules do (Parallel gives every partition's engine the same bits, so
	// one category mask serves them all: processMask).
	cats []string
}

// Engine runs rules over events given in EQL order (see Reorder). It is not
// safe for concurrent use: one goroutine calls Process.
type Engine struct {
	opt     Options
	runs    []*ruleRun
	cats    []string // the categories the rules select; bit i of a mask is cats[i]
	arrival uint64
	events  uint64
	single  [1]*ecs.Event
	alert   Alert

	throttleDue int64 // earliest end of a window with throttled alerts

	plan *plan    // nil: rule at a time
	cand []uint64 // the plan's candidate targets for the current event
	// ready has the bits of the targets an event can change something
	// through: all but the later stages of sequences with nothing pending
	// before them (see readyTargets).
	ready []uint64
	// catNow[b] is the latest timestamp of the events with category bit b
	// (catSeen: bits seen), from which a sequence the plan skipped catches
	// up its clock (see sequencer.catchUp).
	catNow  [64]int64
	catSeen uint64

	// copies are the retained copies of events the sequences keep: the
	// copy of the event being processed is made by the first sequence that
	// keeps it and shared by the others (retained events are never
	// modified); a copy no pending sequence holds any more and no match
	// received is recycled.
	copies copies
}

// ruleRun is one rule's state in an engine.
type ruleRun struct {
	eng   *Engine
	rule  *Rule
	index int    // in Engine.runs
	ready uint64 // the sequence's ready stages when readyTargets last set their bits
	mask  uint64 // categories the rule selects; anyCategory for `any where`
	event matchFunc
	seq   *sequencer
	bits  []uint8 // the bits of mask
	// waiting says, for Annotators on other goroutines, whether the
	// sequence had pending sequences when it last stepped: only then are
	// its later stages worth running there (see Engine.deferred).
	waiting atomic.Bool
	exc     []*Exception
	thr     throttle
	stats   RuleStats
}

// Stats are an engine's counters.
type Stats struct {
	Events uint64      // events processed
	Rules  []RuleStats // in the order the rules were given
}

// RuleStats are one rule's counters.
type RuleStats struct {
	ID         string
	Name       string
	Matches    uint64 // matches before exceptions and throttling
	Alerts     uint64 // alerts raised
	Suppressed uint64 // matches suppressed by an exception
	Throttled  uint64 // alerts over max_signals in their window
	Pending    int    // pending sequences now
	CapHits    uint64 // pending sequences evicted by MaxPending
	Expired    uint64 // pending sequences dropped at maxspan
	Until      uint64 // pending sequences dropped by until
	Late       uint64 // events ignored because they sort before the pending state
}

// NewEngine returns an engine for rules. Exceptions apply to the rules
// their rule_id names ("*": all); an exception for a rule not given is
// ignored.
func NewEngine(rules []*Rule, exceptions []*Exception, opt Options) (*Engine, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = DefaultMaxPending
	}
	if opt.ThrottleWindow <= 0 {
		opt.ThrottleWindow = DefaultThrottleWindow
	}
	switch {
	case opt.LineCap == 0:
		opt.LineCap = DefaultLineCap
	case opt.LineCap < 0:
		opt.LineCap = 0
	}
	e := &Engine{opt: opt, throttleDue: math.MaxInt64}
	e.copies.keep, e.copies.window = opt.KeepEvents, keepWindow
	for _, c := range opt.cats {
		e.categoryBit(c)
	}
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if r == nil || (r.spec.event == nil && r.spec.seq == nil) {
			return nil, errors.New("detect: rule not compiled (use LoadRules, ParseRule or QueryRule)")
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("detect: duplicate rule_id %s", r.ID)
		}
		seen[r.ID] = true
		rr := &ruleRun{
			eng:   e,
			rule:  r,
			index: len(e.runs),
			ready: 1, // a new sequence: only its first stage
			event: r.spec.event,
			thr:   throttle{window: int64(opt.ThrottleWindow), limit: r.maxSignals()},
			stats: RuleStats{ID: r.ID, Name: r.Name},
		}
		if r.spec.seq != nil {
			rr.seq = newSequencer(*r.spec.seq, opt.MaxPending, rr.onMatch)
			rr.seq.copies = &e.copies
			rr.seq.shared = true
		}
		for _, x := range exceptions {
			if x != nil && x.match != nil && x.appliesTo(r.ID) {
				rr.exc = append(rr.exc, x)
			}
		}
		e.runs = append(e.runs, rr)
	}
	for _, rr := range e.runs {
		if rr.rule.spec.anyCat {
			rr.mask = anyCategory
		} else {
			for _, c := range rr.rule.spec.cats {
				rr.mask |= e.categoryBit(c)
			}
		}
		for m := rr.mask; m != 0; m &= m - 1 {
			rr.bits = append(rr.bits, uint8(bits.TrailingZeros64(m)))
		}
		if q := rr.seq; q != nil {
			for i := range q.spec.stages {
				q.masks[i] = e.stageBit(q.spec.stages[i].cat)
			}
			if u := q.spec.until; u != nil {
				q.untilMask = e.stageBit(u.cat)
			}
		}
	}
	if !opt.ruleAtATime {
		e.plan = newPlan(e)
		e.cand = make([]uint64, e.plan.words)
		e.ready = make([]uint64, e.plan.tWords)
		for ti := range e.plan.targets {
			if !laterStage(&e.plan.targets[ti]) {
				setBit(e.ready, ti)
			}
		}
	}
	return e, nil
}

// stageBit is the mask bit a stage of category c needs.
func (e *Engine) stageBit(c string) uint64 {
	if c == "" {
		return anyCategory
	}
	return e.categoryBit(c)
}

// Category mask bits: one per category the rules select (up to 62), one
// shared by the categories past the 62nd, and one every event carries, for
// rules with an `any where` stage.
const (
	maxCategoryBits = 62
	otherCategory   = uint64(1) << 62
	anyCategory     = uint64(1) << 63
	allCategories   = ^uint64(0)
)

// categoryBit returns (assigning it at setup) the mask bit of a category.
func (e *Engine) categoryBit(c string) uint64 {
	for i, n := range e.cats {
		if n == c {
			return 1 << i
		}
	}
	if len(e.cats) < maxCategoryBits {
		e.cats = append(e.cats, c)
		return 1 << (len(e.cats) - 1)
	}
	return otherCategory
}

// categoryMask is the set of rules' categories an event belongs to: a rule
// whose stages all select other categories cannot match it, so the engine
// skips it without calling its matchers. An event whose category is not in
// the typed field (absent, or kept in Fields with an unexpected type) gets
// every bit: the matchers decide.
func (e *Engine) categoryMask(ev *ecs.Event) uint64 {
	cats := ev.Event.Category
	if cats == nil {
		return allCategories
	}
	m := anyCategory
	for _, c := range cats {
		found := false
		for i, n := range e.cats {
			if n == c {
				m |= 1 << i
				found = true
				break
			}
		}
		if !found && len(e.cats) == maxCategoryBits {
			m |= otherCategory
		}
	}
	return m
}

// Process runs every rule over one event. Events must come in EQL order
// (@timestamp, then event.sequence); an out-of-order event is processed
// but never joins a sequence behind a later event.
//
// The engine keeps a copy (ecs.Copy) of each event a pending sequence
// holds: the caller may reuse its event, and an event from an ecs.Reader
// points into the Reader's batch memory, which one long-pending event
// would otherwise keep alive. The copy is made only for events that match
// a sequence stage, and recycled once no pending sequence holds it, unless
// it was part of a match: the events of a match are never changed
// afterwards. Under Options.KeepEvents the engine holds the caller's event
// itself and copies it only if a pending sequence still holds it
// keepWindow events later.
func (e *Engine) Process(ev *ecs.Event) {
	if e.noted(ev) {
		e.processMask(ev, ev.Note.Words[0])
		return
	}
	e.processMask(ev, e.categoryMask(ev))
}

// processMask is Process with ev's category mask computed by the caller
// (Parallel, for engines whose Options.cats are the same).
func (e *Engine) processMask(ev *ecs.Event, mask uint64) {
	e.events++
	e.arrival++
	if ev.Timestamp >= e.throttleDue {
		e.closeThrottles(ev.Timestamp)
	}
	switch {
	case e.noted(ev):
		e.processNoted(ev, mask)
	case e.plan != nil:
		e.processPlan(ev, mask)
	default:
		e.processAll(ev, mask)
	}
	e.copies.next()
}

// processAll runs every rule of ev's categories on it, rule at a time.
func (e *Engine) processAll(ev *ecs.Event, mask uint64) {
	for _, rr := range e.runs {
		if rr.mask&mask == 0 {
			continue
		}
		if rr.event != nil {
			if rr.event(ev) {
				e.single[0] = ev
				rr.onMatch(e.single[:])
				e.single[0] = nil
			}
			continue
		}
		rr.seq.process(ev, e.arrival, mask)
	}
}

// processPlan runs the rules the plan selects for ev, in rule order.
func (e *Engine) processPlan(ev *ecs.Event, mask uint64) {
	e.clock(ev.Timestamp, mask)
	cand := e.cand
	e.plan.candidates(ev, mask, cand)
	seq := -1 // the sequence whose stage bits are being gathered
	var stages uint64
	for w, word := range cand[:e.plan.tWords] {
		word &= e.ready[w]
		for word != 0 {
			ti := w<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			if ti >= len(e.plan.targets) {
				break // guard bits
			}
			t := &e.plan.targets[ti]
			if !allBits(cand, t.guardBits) {
				continue
			}
			if seq >= 0 && t.rule != seq {
				e.stepSeq(e.runs[seq], ev, stages, 0)
				seq = -1
			}
			switch t.kind {
			case targetEvent:
				rr := e.runs[t.rule]
				if rr.event(ev) {
					e.single[0] = ev
					rr.onMatch(e.single[:])
					e.single[0] = nil
				}
			case targetStages:
				if seq < 0 {
					seq, stages = t.rule, 0
				}
				stages |= t.stages
			case targetSeq:
				if rr := e.runs[t.rule]; rr.mask&mask != 0 {
					rr.seq.process(ev, e.arrival, mask)
				}
			}
		}
	}
	if seq >= 0 {
		e.stepSeq(e.runs[seq], ev, stages, 0)
	}
}

// clock records ts as the latest timestamp of the categories in mask.
func (e *Engine) clock(ts int64, mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		b := bits.TrailingZeros64(m)
		if e.catSeen&(1<<b) == 0 || ts > e.catNow[b] {
			e.catNow[b] = ts
		}
	}
	e.catSeen |= mask
}

// allBits reports whether every bit of idx is set in b.
func allBits(b []uint64, idx []int) bool {
	for _, i := range idx {
		if b[i>>6]&(1<<(i&63)) == 0 {
			return false
		}
	}
	return true
}

// stepSeq catches a sequence's clock up with the events it was spared and
// tries ev on the given stages (those in known hold: see sequencer.step).
func (e *Engine) stepSeq(rr *ruleRun, ev *ecs.Event, stages, known uint64) {
	q := rr.seq
	if stages&q.ready() == 0 {
		// No stage to try (a later stage with nothing waiting before it):
		// the clock catches up before the next event that has one, or in
		// Stats, and expiring then drops the same (see catchUp); catching
		// up cannot make a stage ready.
		return
	}
	q.catchUp(e.ruleNow(rr))
	ready := q.ready()
	if stages&1 != 0 {
		// The first stage may open a sequence that this event's until
		// clause then drops (step tries the until after the stages, as
		// rule at a time does): the until is ready too.
		ready |= untilStage
	}
	if stages &= ready; stages != 0 {
		q.step(ev, e.arrival, allCategories, stages, known&stages)
	}
	if w := q.live > 0; rr.waiting.Load() != w {
		rr.waiting.Store(w)
	}
	e.readyTargets(rr)
}

// laterStage reports whether t is a stage after a sequence's first, which
// an event changes nothing through unless a sequence waits before it.
// (The until clause is not one: an event whose first stage opens a
// sequence tries the until too, though nothing was pending before it.)
func laterStage(t *planTarget) bool {
	return t.kind == targetStages && t.stages&(1|untilStage) == 0
}

// readyTargets updates the ready bits of a sequence's later stages after
// it stepped. The plan skips a later stage whose bit is clear, as stepSeq
// would have (nothing to advance); a sequence only gets pending sequences
// in step, so a clear bit is never stale, and a bit left set where
// sequences expired elsewhere (Stats) only costs stepSeq's check.
func (e *Engine) readyTargets(rr *ruleRun) {
	r := rr.seq.ready()
	if r == rr.ready {
		return
	}
	rr.ready = r
	for _, ti := range e.plan.byRule[rr.index] {
		if t := &e.plan.targets[ti]; laterStage(t) {
			if t.stages&r != 0 {
				e.ready[ti>>6] |= 1 << (ti & 63)
			} else {
				e.ready[ti>>6] &^= 1 << (ti & 63)
			}
		}
	}
}

// ruleNow is the latest timestamp of the events of a rule's categories
// (the sequencer's clock had it been given them all).
func (e *Engine) ruleNow(rr *ruleRun) int64 {
	now := int64(math.MinInt64)
	for _, b := range rr.bits {
		if e.catSeen&(1<<b) != 0 && e.catNow[b] > now {
			now = e.catNow[b]
		}
	}
	return now
}

// Flush closes every throttle window, reporting what they dropped; call it
// at the end of input. Pending sequences stay pending.
func (e *Engine) Flush() {
	e.closeThrottles(math.MaxInt64)
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{Events: e.events, Rules: make([]RuleStats, len(e.runs))}
	for i, rr := range e.runs {
		st := rr.stats
		if q := rr.seq; q != nil {
			if e.plan != nil && e.catSeen&rr.mask != 0 {
				q.catchUp(e.ruleNow(rr))
			}
			st.Pending = q.pending()
			st.CapHits = q.stats.capHits
			st.Expired = q.stats.expired
			st.Until = q.stats.until
			st.Late = q.stats.late
		}
		s.Rules[i] = st
	}
	return s
}

// Rules returns the engine's rules.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.runs))
	for i, rr := range e.runs {
		out[i] = rr.rule
	}
	return out
}

func (rr *ruleRun) onMatch(events []*ecs.Event) {
	e := rr.eng
	rr.stats.Matches++
	if e.opt.OnMatch != nil {
		e.opt.OnMatch(rr.rule, events)
	}
	for _, x := range rr.exc {
		if x.Suppresses(events) {
			rr.stats.Suppressed++
			return
		}
	}
	ts := events[len(events)-1].Timestamp
	ok, closed, report := rr.thr.admit(ts)
	if report {
		rr.report(closed)
	}
	if due, has := rr.thr.due(); has && due < e.throttleDue {
		e.throttleDue = due
	}
	if !ok {
		rr.stats.Throttled++
		return
	}
	rr.stats.Alerts++
	if e.opt.OnAlert == nil {
		return
	}
	a := &e.alert
	*a = Alert{
		Rule:      rr.rule,
		ID:        alertID(rr.rule, events),
		Timestamp: ts,
		Created:   e.opt.Now(),
		Events:    events,
		LineCap:   e.opt.LineCap,
	}
	e.opt.OnAlert(a)
	*a = Alert{}
}

func (rr *ruleRun) report(s ThrottleSummary) {
	if f := rr.eng.opt.OnThrottle; f != nil {
		s.RuleID = rr.rule.ID
		s.RuleName = rr.rule.Name
		f(s)
	}
}

// closeThrottles closes the throttle windows that ended at or before now
// and recomputes the next due time.
func (e *Engine) closeThrottles(now int64) {
	e.throttleDue = math.MaxInt64
	for _, rr := range e.runs {
		due, has := rr.thr.due()
		if !has {
			continue
		}
		if due <= now {
			if s, ok := rr.thr.close(); ok {
				rr.report(s)
			}
			continue
		}
		if due < e.throttleDue {
			e.throttleDue = due
		}
	}
}
