package detect

import (
	"math/bits"
	"sync/atomic"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Matching on the decoder's goroutines. A replay decodes events on several
// goroutines and runs the engine on one; most of the engine's time went to
// the plan's lookups and the candidates' conditions, which depend on the
// event alone, and to the cache misses of reading, on the engine's core,
// an event another core had just written. An Annotator does that part on
// the decoding goroutine, while the event is in its cache, and writes the
// result in the event's Note: the category mask, the targets whose
// condition holds, and the later stages it left to the engine (deferred).
// The engine then only runs what needs its state: event queries' alerts
// and the sequences' steps, for the targets the Note names, in the same
// order as processPlan, so the matches are the same.

// planIDs numbers plans: a Note belongs to the plan whose id is its Owner.
var planIDs atomic.Uint64

// noteTargets is the most targets a Note holds (a bit each).
const noteTargets = 64 * noteWords

// Annotator returns a function that writes ev.Note for this engine: call
// it once per goroutine (ecs.ReaderOptions.Annotate), and the function it
// returns on every event that goroutine decodes, before the event reaches
// Process. It returns nil when the engine cannot use Notes: rule at a
// time, more than noteTargets targets, or a sequence run whole. The
// function only reads the engine's rules and plan: it is safe beside
// Process on another goroutine.
func (e *Engine) Annotator() func(*ecs.Event) {
	p := e.plan
	if p == nil || len(p.targets) > noteTargets || p.whole {
		return nil
	}
	sc := p.newScratch()
	cand := make([]uint64, p.words)
	return func(ev *ecs.Event) {
		mask := e.categoryMask(ev)
		p.candidatesWith(sc, ev, mask, cand)
		n := &ev.Note
		n.Words = [len(ecs.Note{}.Words)]uint64{mask}
		for w, word := range cand[:p.tWords] {
			for word != 0 {
				ti := w<<6 | bits.TrailingZeros64(word)
				word &= word - 1
				if ti >= len(p.targets) {
					break // guard bits
				}
				t := &p.targets[ti]
				switch {
				case !allBits(cand, t.guardBits):
				case e.deferred(t):
					n.Words[1+noteWords+ti>>6] |= 1 << (ti & 63)
				case e.holds(t, ev):
					n.Words[1+ti>>6] |= 1 << (ti & 63)
				}
			}
		}
		n.Owner = p.id
	}
}

// holds runs a target's condition on ev (a candidate of its table).
func (e *Engine) holds(t *planTarget, ev *ecs.Event) bool {
	rr := e.runs[t.rule]
	switch t.kind {
	case targetEvent:
		return rr.event(ev)
	case targetStages:
		spec := &rr.seq.spec
		if t.stages == untilStage {
			return spec.until.match(ev)
		}
		return spec.stages[bits.TrailingZeros64(t.stages)].match(ev)
	}
	return false
}

// noteWords is the words of one bitset of targets in a Note: Words[0] is
// the category mask, then the targets that hold, then the deferred
// candidates.
const noteWords = (len(ecs.Note{}.Words) - 1) / 2

// deferred reports whether an Annotator leaves a candidate target to the
// engine: a later stage or the until clause of a sequence that had nothing
// pending when it last stepped. Such a target changes something only
// while a sequence waits before it, which the engine knows and an
// Annotator does not; the engine runs its condition then (the stages of
// Elastic's macOS rules keyed on host.os.type or event.action would
// otherwise run on every event of their category, mostly for nothing).
// A stale flag costs time, never a match: either side runs the condition.
func (e *Engine) deferred(t *planTarget) bool {
	return t.kind == targetStages && t.stages&1 == 0 && !e.runs[t.rule].waiting.Load()
}

// noted reports whether ev carries this engine's Note.
func (e *Engine) noted(ev *ecs.Event) bool {
	return e.plan != nil && ev.Note.Owner == e.plan.id
}

// processNoted is processPlan for an event with this engine's Note: the
// targets that hold are known (event queries alert, sequences step without
// running those stages' conditions again); the deferred candidates run
// their conditions in step, if a sequence waits for them.
func (e *Engine) processNoted(ev *ecs.Event, mask uint64) {
	e.clock(ev.Timestamp, mask)
	p := e.plan
	n := &ev.Note
	seq := -1 // the sequence whose stage bits are being gathered
	var stages, known uint64
	for w := 0; w < p.tWords; w++ {
		holds := n.Words[1+w]
		for word := (holds | n.Words[1+noteWords+w]) & e.ready[w]; word != 0; word &= word - 1 {
			b := bits.TrailingZeros64(word)
			t := &p.targets[w<<6|b]
			if seq >= 0 && t.rule != seq {
				e.stepSeq(e.runs[seq], ev, stages, known)
				seq = -1
			}
			switch t.kind {
			case targetEvent:
				rr := e.runs[t.rule]
				e.single[0] = ev
				rr.onMatch(e.single[:])
				e.single[0] = nil
			case targetStages:
				if seq < 0 {
					seq, stages, known = t.rule, 0, 0
				}
				stages |= t.stages
				if holds&(1<<b) != 0 {
					known |= t.stages
				}
			}
		}
	}
	if seq >= 0 {
		e.stepSeq(e.runs[seq], ev, stages, known)
	}
}
