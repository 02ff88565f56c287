package detect

import "github.com/macsensor/macsensor/sensor/ecs"

// matchFunc and keyFunc have the underlying types of eql.Matcher and
// eql.KeyFunc, so compiled queries plug in directly and tests can hand-write
// them.
type (
	matchFunc = func(*ecs.Event) bool
	keyFunc   = func(dst []byte, e *ecs.Event) ([]byte, bool)
)

// stageSpec is one stage of a sequence (after `with runs=N` expansion) or
// its until clause. A nil key is the empty join key (no `by`); cat is the
// stage's event category ("" for any).
type stageSpec struct {
	match matchFunc
	key   keyFunc
	cat   string
}

// seqSpec is a compiled sequence.
type seqSpec struct {
	stages  []stageSpec
	until   *stageSpec
	maxSpan int64 // ns; 0: none
}

// sequencer runs one sequence over events given in EQL order. It keeps at
// most one pending sequence per join key per stage, as Elasticsearch
// effectively does: its SequenceGroup keeps a list per key and stage, but a
// later-stage hit takes only the latest entry before it and trims the rest
// (OrdinalGroup.trimBefore), which for a stream in order is always the
// newest one.
//
// Every event is tried against the stages from the last to the first, so
// that one event never advances a sequence by two stages: a stage only
// takes an event strictly after the previous stage's.
type sequencer struct {
	spec       seqSpec
	maxPending int
	emit       func(events []*ecs.Event)
	// copies holds the copies of events pending sequences keep (the
	// engine shares one among its sequences).
	copies *copies
	// shared: the engine owns copies and ends each event's sharing (else
	// process does).
	shared bool

	// masks[i] is stage i's category bit in the engine's event masks
	// (untilMask the until's); a stage whose bit an event lacks is not
	// tried. All bits by default.
	masks     []uint64
	untilMask uint64

	keys  map[string]*seqKey
	fifo  []fifoEntry // pending sequences by start time; stale entries skipped
	head  int
	stale int
	live  int
	// perSlot[i] counts the pending sequences whose last matched stage is
	// i: stage i+1 can only advance one of them (see ready).
	perSlot []int
	free    []*partial
	now     int64
	begun   bool
	buf     []byte
	out     []*ecs.Event

	stats seqStats
}

// seqStats are a sequencer's counters.
type seqStats struct {
	started  uint64 // first-stage events that opened a sequence
	replaced uint64 // pending sequences replaced by a newer one in the same slot
	expired  uint64 // pending sequences dropped at maxspan
	until    uint64 // pending sequences dropped by until
	capHits  uint64 // pending sequences evicted by the cap
	late     uint64 // events ignored because they sort before the pending state
	matches  uint64
}

// seqKey is the pending state of one join key: slot i holds the sequence
// whose last matched stage is i.
type seqKey struct {
	key   string
	slots []*partial
	n     int
}

// partial is a pending sequence.
type partial struct {
	k      *seqKey
	stage  int
	events []*retained // retained copies, one per matched stage
	last   ordinal
	start  int64
	gen    uint32
}

type fifoEntry struct {
	p     *partial
	gen   uint32
	start int64
}

func newSequencer(spec seqSpec, maxPending int, emit func([]*ecs.Event)) *sequencer {
	s := &sequencer{
		spec:       spec,
		maxPending: maxPending,
		emit:       emit,
		copies:     new(copies),
		masks:      make([]uint64, len(spec.stages)),
		untilMask:  ^uint64(0),
		keys:       make(map[string]*seqKey),
		out:        make([]*ecs.Event, 0, len(spec.stages)),
		perSlot:    make([]int, max(len(spec.stages)-1, 0)),
	}
	for i := range s.masks {
		s.masks[i] = ^uint64(0)
	}
	return s
}

// pending is the number of pending (incomplete) sequences.
func (s *sequencer) pending() int { return s.live }

func (s *sequencer) keyOf(st *stageSpec, ev *ecs.Event) ([]byte, bool) {
	if st.key == nil {
		return s.buf[:0], true
	}
	k, ok := st.key(s.buf[:0], ev)
	if ok && cap(k) > cap(s.buf) {
		s.buf = k[:0]
	}
	return k, ok
}

// process runs one event; arrival is its arrival count (the last
// tiebreaker) and mask its category bits (all bits: try every stage). It
// must be called in EQL order; an event that sorts before a pending
// sequence's last event is not joined to it.
func (s *sequencer) process(ev *ecs.Event, arrival uint64, mask uint64) {
	s.catchUp(ev.Timestamp)
	s.step(ev, arrival, mask, allStages, 0)
	if !s.shared {
		s.copies.next()
	}
}

// allStages tries every stage and the until clause in step.
const allStages = ^uint64(0)

// untilStage is the bit of the until clause in step's stages.
const untilStage = uint64(1) << 63

// catchUp moves the sequencer's clock to now (the latest timestamp of the
// events it was given or, under a Plan, of the events it would have been
// given) and expires what can no longer complete. Expiring at a later now
// drops exactly what expiring at each earlier now would have, so the Plan
// may skip the events that cannot match a stage and catch up before the
// next one that can.
func (s *sequencer) catchUp(now int64) {
	if !s.begun || now > s.now {
		s.now = now
		s.begun = true
		if s.spec.maxSpan > 0 && s.head < len(s.fifo) {
			s.expire()
		}
	}
}

// ready returns the stages (as step's bits) that an event can change now:
// the first, a later stage i when a pending sequence waits at stage i-1
// (advance finds nothing otherwise, and changes nothing), and until when
// any sequence is pending. The Plan tries only those.
func (s *sequencer) ready() uint64 {
	r := uint64(1)
	for i, n := range s.perSlot {
		if n > 0 && i < 62 {
			r |= 1 << (i + 1)
		}
	}
	if s.live > 0 {
		r |= untilStage
	}
	return r
}

// step tries ev on the stages whose category bit is in mask and whose bit
// is in stages (bit i: stage i, for i < 63; untilStage: the until clause;
// stages past the 63rd are tried by mask alone). The conditions of the
// stages in known (a subset of stages, below the 63rd) are known to hold
// and are not run again.
func (s *sequencer) step(ev *ecs.Event, arrival uint64, mask, stages, known uint64) {
	all := s.spec.stages
	var ord ordinal
	for i := len(all) - 1; i >= 0; i-- {
		st := &all[i]
		if s.masks[i]&mask == 0 || (i < 63 && stages>>i&1 == 0) || (i >= 63 || known>>i&1 == 0) && !st.match(ev) {
			continue
		}
		if ord.arrival == 0 {
			ord = ordinalOf(ev, arrival)
		}
		key, ok := s.keyOf(st, ev)
		if !ok {
			continue // a null join key never joins
		}
		if i == 0 {
			s.open(key, ev, ord)
		} else {
			s.advance(i, key, ev, ord)
		}
	}
	if u := s.spec.until; u != nil && s.untilMask&mask != 0 && stages&untilStage != 0 && (known&untilStage != 0 || u.match(ev)) {
		if key, ok := s.keyOf(u, ev); ok {
			s.dropKey(key)
		}
	}
}

// open starts a sequence at its first stage.
func (s *sequencer) open(key []byte, ev *ecs.Event, ord ordinal) {
	n := len(s.spec.stages)
	if n == 1 {
		s.out = s.out[:0]
		s.complete(ev)
		return
	}
	if s.spec.maxSpan > 0 && s.now-ord.ts > s.spec.maxSpan {
		s.stats.late++ // too late to ever complete
		return
	}
	k := s.keys[string(key)]
	if k == nil {
		k = &seqKey{key: string(key), slots: make([]*partial, n-1)}
		s.keys[k.key] = k
	}
	if old := k.slots[0]; old != nil {
		if ord.before(old.last) {
			// A late first event: the pending one is newer and is the one
			// Elasticsearch would pick for any later stage.
			s.stats.late++
			return
		}
		s.stats.replaced++
		s.drop(old)
	}
	p := s.alloc()
	p.k = k
	p.stage = 0
	p.events = append(p.events, s.copies.retain(ev))
	p.last = ord
	p.start = ord.ts
	k.slots[0] = p
	k.n++
	s.live++
	s.perSlot[0]++
	s.stats.started++
	s.fifo = append(s.fifo, fifoEntry{p: p, gen: p.gen, start: p.start})
	if s.stale >= 1024 {
		s.compact()
	}
	if s.maxPending > 0 {
		for s.live > s.maxPending {
			s.evictOldest()
		}
	}
}

// advance moves the pending sequence of key at stage i-1 to stage i, or
// completes it when i is the last stage.
func (s *sequencer) advance(i int, key []byte, ev *ecs.Event, ord ordinal) {
	k := s.keys[string(key)]
	if k == nil {
		return
	}
	p := k.slots[i-1]
	if p == nil {
		return
	}
	if !p.last.before(ord) {
		s.stats.late++
		return
	}
	// Like OrdinalGroup.trimBefore, the candidate leaves its slot whether
	// or not it passes the maxspan check.
	if s.spec.maxSpan > 0 && ord.ts-p.start > s.spec.maxSpan {
		s.stats.expired++
		s.drop(p)
		s.tidy(k)
		return
	}
	if i == len(s.spec.stages)-1 {
		s.out = s.out[:0]
		for _, r := range p.events {
			r.out = true // the match may outlive the sequence: never recycled
			s.out = append(s.out, r.ev)
		}
		s.drop(p)
		s.tidy(k)
		s.complete(ev)
		return
	}
	k.slots[i-1] = nil
	if old := k.slots[i]; old != nil {
		s.stats.replaced++
		s.drop(old)
	}
	p.events = append(p.events, s.copies.retain(ev))
	p.last = ord
	s.perSlot[i-1]--
	s.perSlot[i]++
	p.stage = i
	k.slots[i] = p
}

// complete reports s.out (the retained events) followed by ev as a match.
func (s *sequencer) complete(ev *ecs.Event) {
	s.out = append(s.out, ev)
	s.stats.matches++
	s.emit(s.out)
	clear(s.out)
	s.out = s.out[:0]
}

// dropKey drops every pending sequence of key (until).
func (s *sequencer) dropKey(key []byte) {
	k := s.keys[string(key)]
	if k == nil {
		return
	}
	for _, p := range k.slots {
		if p != nil {
			s.stats.until++
			s.drop(p)
		}
	}
	s.tidy(k)
}

// tidy forgets a join key without pending sequences.
func (s *sequencer) tidy(k *seqKey) {
	if k.n == 0 {
		delete(s.keys, k.key)
	}
}

// drop removes a pending sequence from its slot and recycles it; the caller
// tidies the key.
func (s *sequencer) drop(p *partial) {
	k := p.k
	k.slots[p.stage] = nil
	k.n--
	s.live--
	s.perSlot[p.stage]--
	s.stale++ // its fifo entry is now stale
	p.gen++
	for _, r := range p.events {
		s.copies.release(r)
	}
	clear(p.events)
	p.events = p.events[:0]
	p.k = nil
	s.free = append(s.free, p)
}

func (s *sequencer) alloc() *partial {
	if n := len(s.free); n > 0 {
		p := s.free[n-1]
		s.free = s.free[:n-1]
		return p
	}
	return &partial{events: make([]*retained, 0, len(s.spec.stages))}
}

// retained is an event that pending sequences keep: a copy, or the
// caller's event itself under Options.KeepEvents. refs counts the pending
// sequences that hold it; out is set once it was handed to a match (an
// alert and whoever received it may still hold it). A retained no sequence
// holds and no match received is recycled for a later event.
type retained struct {
	ev   *ecs.Event // &c.Event, or the caller's event (copies.keep)
	c    *ecs.Copy  // the copy's memory, kept across recycling
	refs int32
	out  bool
	gen  uint32 // bumped at each recycling (copies.kept entries)
}

// copies makes and recycles the retained copies of events. The engine's
// sequences share one copies: the sequences that keep the event being
// processed share one copy of it (cur, until next).
//
// Under Options.KeepEvents a retained is first the caller's event itself,
// which may keep much more memory alive than its own (a Reader's event
// keeps its batch, ~250 KiB); one still held keepWindow events later is
// copied then (age), so the memory kept beyond copies is that of the
// last keepWindow events at most. Most pending sequences complete or
// expire before that: the copy is never made.
type copies struct {
	free   []*retained
	cur    *retained
	reused uint64 // copies made over recycled memory (tests)

	// keep: the caller never modifies or reuses an event it gave the
	// engine (Options.KeepEvents), so a retained is the event itself
	// until it ages.
	keep   bool
	kept   []keptEntry // the retained that hold a caller's event, oldest first
	head   int         // kept[head:] are live entries
	events uint64      // events processed (next)
	window uint64      // keepWindow (tests shorten it)
	aged   uint64      // kept events copied when they aged (tests)
}

// keptEntry is a retained holding the caller's event since event number at
// (gen: the retained's generation then; a recycled one is stale).
type keptEntry struct {
	r   *retained
	gen uint32
	at  uint64
}

// keepWindow is how many events a kept event stays the caller's before it
// is copied.
const keepWindow = 1 << 14

// retain returns a copy of ev, the event being processed, for one more
// holder.
func (c *copies) retain(ev *ecs.Event) *retained {
	r := c.cur
	if r == nil {
		if n := len(c.free); n > 0 {
			r = c.free[n-1]
			c.free[n-1] = nil
			c.free = c.free[:n-1]
			c.reused++
		} else {
			r = new(retained)
		}
		if c.keep {
			r.ev = ev
			c.kept = append(c.kept, keptEntry{r, r.gen, c.events})
		} else {
			r.copy(ev)
		}
		c.cur = r
	}
	r.refs++
	return r
}

// copy makes r a copy of ev.
func (r *retained) copy(ev *ecs.Event) {
	if r.c == nil {
		r.c = new(ecs.Copy)
	}
	r.c.Set(ev)
	r.ev = &r.c.Event
}

// release drops one holder of r, recycling it when it was the last and no
// match received it.
func (c *copies) release(r *retained) {
	r.refs--
	if r.refs == 0 && !r.out && r != c.cur {
		c.recycle(r)
	}
}

// recycle puts r on the free list; a kept event is no longer referenced.
func (c *copies) recycle(r *retained) {
	if c.keep {
		r.ev = nil
		r.gen++
	}
	c.free = append(c.free, r)
}

// next ends the sharing of the current event's copy: the next retain is of
// another event.
func (c *copies) next() {
	if r := c.cur; r != nil {
		c.cur = nil
		if r.refs == 0 && !r.out {
			c.recycle(r)
		}
	}
	c.events++
	if c.head < len(c.kept) && c.kept[c.head].at+c.window <= c.events {
		c.age()
	}
}

// age copies the kept events held keepWindow events or longer by a pending
// sequence; the others (recycled, or held by a match alone) are dropped
// from the list.
func (c *copies) age() {
	for c.head < len(c.kept) {
		k := &c.kept[c.head]
		if k.at+c.window > c.events {
			break
		}
		if r := k.r; r.gen == k.gen && r.refs > 0 && r.ev != nil && (r.c == nil || r.ev != &r.c.Event) {
			r.copy(r.ev)
			c.aged++
		}
		*k = keptEntry{}
		c.head++
	}
	if c.head > len(c.kept)/2 {
		n := copy(c.kept, c.kept[c.head:])
		clear(c.kept[n:])
		c.kept = c.kept[:n]
		c.head = 0
	}
}

// expire drops the pending sequences that can no longer complete within
// maxspan: every later event is stamped ≥ now, so a sequence that started
// before now − maxspan is dead.
func (s *sequencer) expire() {
	limit := s.now - s.spec.maxSpan
	for s.head < len(s.fifo) {
		e := s.fifo[s.head]
		if e.start >= limit {
			break
		}
		s.popFront(e)
		if e.p.gen == e.gen {
			s.stats.expired++
			k := e.p.k
			s.drop(e.p)
			s.stale--
			s.tidy(k)
		}
	}
	s.compact()
}

// evictOldest drops the pending sequence that started first (cap hit).
func (s *sequencer) evictOldest() {
	for s.head < len(s.fifo) {
		e := s.fifo[s.head]
		s.popFront(e)
		if e.p.gen == e.gen {
			s.stats.capHits++
			k := e.p.k
			s.drop(e.p)
			s.stale--
			s.tidy(k)
			break
		}
	}
	s.compact()
}

func (s *sequencer) popFront(e fifoEntry) {
	s.fifo[s.head] = fifoEntry{}
	s.head++
	if e.p.gen != e.gen {
		s.stale--
	}
}

// compact keeps the fifo's memory proportional to the live sequences:
// replaced and completed sequences leave stale entries behind.
func (s *sequencer) compact() {
	if s.head == len(s.fifo) {
		s.fifo = s.fifo[:0]
		s.head = 0
		s.stale = 0
		return
	}
	if s.stale < 1024 || s.stale < 2*s.live {
		if s.head > 1024 && s.head > len(s.fifo)/2 {
			n := copy(s.fifo, s.fifo[s.head:])
			clear(s.fifo[n:])
			s.fifo = s.fifo[:n]
			s.head = 0
		}
		return
	}
	j := 0
	for _, e := range s.fifo[s.head:] {
		if e.p.gen == e.gen {
			s.fifo[j] = e
			j++
		}
	}
	clear(s.fifo[j:])
	s.fifo = s.fifo[:j]
	s.head = 0
	s.stale = 0
}
