package detect

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/macsensor/macsensor/detect/eql"
	"github.com/macsensor/macsensor/sensor/ecs"
)

// A plan indexes the literal predicates of a rule set so that each event
// is tested only against the rules that can match it. Its unit is a
// target: an event query, or one stage (or the until clause) of a
// sequence. Each target sits in the table of its event category, either
// under index keys (eql.IndexKeys: literal predicates on a field, at least
// one of which every matching event satisfies) or, when it has none, in
// the table's always-run set.
//
// Per event, the plan reads each indexed field of the event's categories
// once, looks its value up (exact-string map, folded-string map,
// prefix and suffix lists), and collects the candidate targets in a bitset.
// The engine then runs each candidate's full compiled condition, in rule
// order: the index only prunes targets that cannot match, so the matches
// are those of running every rule on every event.
type plan struct {
	id      uint64 // the plan's identity in the Notes it writes (Annotator)
	words   int    // uint64 words of a bitset: the targets' bits, then the guards'
	tWords  int    // words holding target bits
	targets []planTarget
	tables  [64]*catTable // by category bit (see Engine.categoryBit)
	byRule  [][]int       // targets of each rule
	memos   int           // probes with a memo
	whole   bool          // some target is a sequence run whole (targetSeq)
	own     *scratch      // the engine's scratch
}

// scratch is what a lookup writes: the folding buffer, one value's bits
// and the probes' memos. The engine has one; each Annotator its own.
type scratch struct {
	buf   []byte   // folding scratch
	bits  []uint64 // the bits of one value (probe.str's memo)
	memos []memo   // by probe.memo
}

func (p *plan) newScratch() *scratch {
	return &scratch{buf: make([]byte, 0, foldMax), bits: make([]uint64, p.words), memos: make([]memo, p.memos)}
}

// maxFew is the most equal keys a probe compares one by one rather than
// hash.
const maxFew = 4

// foldMax is the longest value the plan folds for a lookup; a longer value
// (a very long command line) makes every folded key of its field a
// candidate instead.
const foldMax = 4096

// targetKind says how the engine runs a candidate target.
type targetKind uint8

const (
	targetEvent  targetKind = iota // an event query: run the rule's matcher
	targetStages                   // sequence stages: stages bits
	targetSeq                      // a sequence the plan cannot split (more than 63 stages): run it whole
)

// planTarget is one indexed unit of a rule.
type planTarget struct {
	rule   int
	kind   targetKind
	stages uint64 // targetStages: the stage bits (see sequencer.step)
	label  string // "event query", "stage 1", "until", ...
	cat    string // "" for any
	bit    int    // its table
	cond   eql.Expr
	keys   []eql.Key // nil: always runs
	// guards are the key sets of other conjuncts of the condition: the
	// target is a candidate only when a key of each set holds too (guard
	// bits: guardBits).
	guards    [][]eql.Key
	guardBits []int
	never     bool   // the condition can never hold: never runs
	why       string // why it has no keys
}

// catTable holds the targets of one category bit.
type catTable struct {
	cat    string
	always []uint64
	probes []*probe
}

// probe is one indexed field of a category table.
type probe struct {
	field string
	acc   ecs.Accessor
	// all holds every target with a key on the field: a value that is not
	// a string (a number or boolean where a string was expected) may
	// satisfy any of them through EQL's conversions.
	all []uint64
	// foldAll holds every target with a folded key: a value too long to
	// fold makes them candidates.
	foldAll []uint64

	// folded: the keys are looked up in the value's canonical folded form
	// (some key folds; an exact key then stands in folded, which only
	// adds candidates); else as it is.
	folded         bool
	equal          map[string][]uint64
	few            []affix // the equal keys when there are at most maxFew
	prefix, suffix *affixes
	contains       *substrings

	// memo is the index of the probe's memo in a scratch's memos, which
	// remember the bits of recent values (-1: the probe's lookup is as
	// cheap as the memo's).
	memo int

	pending []pendingKey // while building
}

// memo is a cache of the targets a probe's values select, in sets of two
// entries (memoSet): the field values of a host's events repeat (process
// names, parents, paths), and a hit costs one or two comparisons instead
// of a fold, a hash and the prefix, suffix and substring scans. The bits of a
// value depend on the value alone, so a hit adds exactly what the lookup
// would.
type memo struct {
	entries [memoSize]memoEntry
	// A probe whose values rarely repeat (command lines) would pay for
	// the memo's copies and gain nothing: after memoSample lookups with
	// fewer than memoSample/16 hits, the next memoRest lookups bypass it.
	hits, misses, rest uint32
}

type memoEntry struct {
	text []byte   // the value (a copy: the event's memory is not ours)
	bits []uint64 // the targets it selects; empty: none
}

// memoSize is the entries of a memo; values longer than memoMax (command
// lines, long paths: mostly unique) are not memoized.
const (
	memoBits   = 6
	memoSize   = 1 << memoBits
	memoMax    = 64
	memoSample = 256
	memoRest   = 4096
)

// memoSet is the first entry of the two a value of 1 to memoMax bytes may
// be in: a mix of its length and of its first, middle and last bytes (the
// values of a field often share their first bytes, or their last).
func memoSet(s string) int {
	h := uint32(len(s))*0x9e3779b1 ^ uint32(s[0]) ^ uint32(s[len(s)/2])<<8 ^ uint32(s[len(s)-1])<<16
	h *= 0x85ebca6b
	return int(h>>(32-memoBits)) &^ 1
}

type pendingKey struct {
	key eql.Key
	ti  int
}

// affixes are the prefix (or suffix) keys of a probe, bucketed by their
// first (last) byte.
type affixes struct {
	suffix bool
	start  [257]uint16 // entries of byte b: ents[start[b]:start[b+1]]
	ents   []affix
}

type affix struct {
	text string
	bits []uint64
}

// keyCost ranks key sets for eql.IndexKeys: fields every event of a
// category carries with one of a handful of values (host.os.type,
// event.type) are the last resort; arrays cost a lookup per element; short
// prefixes and suffixes select little.
func keyCost(keys []eql.Key) float64 { return costOf(keys, true) }

// guardCostOf ranks key sets as guards: a guard on common names (a shell
// parent) still drops the events of every other parent for the price of a
// lookup its probe makes anyway.
func guardCostOf(keys []eql.Key) float64 { return costOf(keys, false) }

// costOf is keyCost, with or without the penalty of common values.
func costOf(keys []eql.Key, common bool) float64 {
	c := 0.0
	for _, k := range keys {
		kc := fieldCost(k.Field)
		if common && commonValue(k) {
			kc *= 10
		}
		switch k.Kind {
		case eql.KeyContains, eql.KeyFoldContains:
			kc *= 8 // a scan of the whole value
		case eql.KeyPrefix, eql.KeySuffix, eql.KeyFoldPrefix, eql.KeySuffix + 1:
			switch len(k.Text) {
			case 1: // "/", ".": nearly every value; a space or control byte is rare
				if k.Text[0] > ' ' {
					kc *= 200
				}
			case 2:
				kc *= 30
			default:
				kc *= 1.5
			}
		}
		c = max(c, kc)
	}
	return c + 0.001*float64(len(keys))
}

// commonNames are process names that start or parent a large share of a
// Mac's processes: a key on one of them selects nearly every process
// event (every script, terminal command and XPC service), so the conjunct
// it comes from is a poor index when the rule has another. The texts are
// canonical (AppendFold), as Fold keys hold them.
var commonNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range []string{"sh", "bash", "zsh", "dash", "ksh", "tcsh", "csh", "fish", "launchd", "xpcproxy"} {
		m[n] = true
		m[string(eql.AppendFold(nil, n))] = true
	}
	return m
}()

// commonValue reports whether k is an exact key on a process or parent
// name that most process events carry (see commonNames).
func commonValue(k eql.Key) bool {
	switch k.Kind {
	case eql.KeyEqual, eql.KeyFold:
	default:
		return false
	}
	switch k.Field {
	case "process.name", "process.parent.name", "process.group_leader.name", "process.session_leader.name":
		return commonNames[k.Text]
	}
	return false
}

// fieldCost is the cost of an exact key on a field.
func fieldCost(f string) float64 {
	switch {
	case f == "event.action":
		return 30
	case strings.HasPrefix(f, "host."), strings.HasPrefix(f, "agent."), strings.HasPrefix(f, "data_stream."),
		strings.HasPrefix(f, "ecs."), strings.HasPrefix(f, "event."), strings.HasPrefix(f, "user."):
		return 100
	}
	if strings.HasPrefix(f, "process.parent.") {
		return 2 // often a shell or launchd
	}
	switch ecs.Lookup(f).Type {
	case ecs.TypeStrings:
		return 3
	case ecs.TypeBool:
		return 5 // two values: one of them is often half the events
	}
	return 1
}

// newPlan builds the plan of an engine's rules (categories assigned).
func newPlan(e *Engine) *plan {
	p := &plan{id: planIDs.Add(1), byRule: make([][]int, len(e.runs))}
	for i, rr := range e.runs {
		p.addRule(e, i, rr)
	}
	nbits := len(p.targets)
	for ti := range p.targets {
		t := &p.targets[ti]
		if t.never || t.keys == nil {
			t.guards = nil
		}
		for range t.guards {
			t.guardBits = append(t.guardBits, nbits)
			nbits++
		}
	}
	p.tWords = max(1, (len(p.targets)+63)/64)
	p.words = max(1, (nbits+63)/64)
	for ti := range p.targets {
		t := &p.targets[ti]
		if t.never {
			continue
		}
		for gi, keys := range t.guards {
			tab := p.table(t.bit, t.cat)
			for _, k := range keys {
				pr := tab.probe(k.Field)
				pr.pending = append(pr.pending, pendingKey{k, t.guardBits[gi]})
			}
		}
		tab := p.table(t.bit, t.cat)
		if t.keys == nil {
			setBit(p.grow(&tab.always), ti)
			continue
		}
		for _, k := range t.keys {
			pr := tab.probe(k.Field)
			pr.pending = append(pr.pending, pendingKey{k, ti})
		}
	}
	for _, tab := range p.tables {
		if tab == nil {
			continue
		}
		p.grow(&tab.always)
		for _, pr := range tab.probes {
			p.buildProbe(pr)
		}
		// Cheap probes first: typed strings, then arrays, then the rest.
		sort.SliceStable(tab.probes, func(i, j int) bool {
			return probeRank(tab.probes[i]) < probeRank(tab.probes[j])
		})
	}
	for i := range p.targets {
		p.whole = p.whole || p.targets[i].kind == targetSeq
	}
	p.own = p.newScratch()
	return p
}

func probeRank(pr *probe) int {
	switch pr.acc.Type {
	case ecs.TypeString:
		return 0
	case ecs.TypeStrings:
		return 1
	}
	return 2
}

// maxGuards is the most guards a target gets, guardCost the highest cost
// of a guard's keys (an event.action or host.os.type key holds for most
// events of its category: no use).
const (
	maxGuards = 2
	guardCost = 5
)

// guardKeys returns the key sets of the conjuncts of cond, other than the
// one keys comes from, that are worth checking (cheapest first).
func guardKeys(cond eql.Expr, keys []eql.Key) [][]eql.Key {
	and, ok := cond.(*eql.And)
	if !ok {
		return nil
	}
	type set struct {
		keys []eql.Key
		cost float64
	}
	var sets []set
	for _, x := range and.X {
		ks, ok := eql.IndexKeys(x, guardCostOf)
		if !ok || len(ks) == 0 || slices.Equal(ks, keys) {
			continue
		}
		if c := guardCostOf(ks); c < guardCost && cheapGuard(ks) {
			sets = append(sets, set{slices.Clip(ks), c})
		}
	}
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].cost < sets[j].cost })
	var out [][]eql.Key
	for i := 0; i < len(sets) && i < maxGuards; i++ {
		out = append(out, sets[i].keys)
	}
	return out
}

// cheapGuard reports whether keys read only typed single strings (a guard
// on an array or a generic field would cost every event a lookup for the
// sake of a few rules).
func cheapGuard(keys []eql.Key) bool {
	for _, k := range keys {
		if ecs.Lookup(k.Field).Type != ecs.TypeString {
			return false
		}
	}
	return true
}

// addRule adds the targets of one rule.
func (p *plan) addRule(e *Engine, ri int, rr *ruleRun) {
	q := rr.rule.parsed
	add := func(t planTarget) {
		t.rule = ri
		if t.cat == "" {
			t.bit = bits.TrailingZeros64(anyCategory)
		} else {
			t.bit = bits.TrailingZeros64(e.categoryBit(t.cat))
		}
		if t.cond == nil {
			if t.why == "" {
				t.why = "no parsed query"
			}
		} else if keys, ok := eql.IndexKeys(t.cond, keyCost); ok {
			t.keys = keys
			t.never = len(keys) == 0
			t.guards = guardKeys(t.cond, keys)
		} else {
			t.why = "no literal predicate that every match satisfies"
		}
		if t.keys != nil {
			t.keys = slices.Clip(t.keys)
		}
		p.byRule[ri] = append(p.byRule[ri], len(p.targets))
		p.targets = append(p.targets, t)
	}
	switch {
	case rr.seq == nil:
		t := planTarget{kind: targetEvent, label: "event query"}
		if q != nil && q.Event != nil {
			t.cat, t.cond = q.Event.Category, q.Event.Cond
		} else {
			t.cat = firstCat(rr.rule.spec)
		}
		add(t)
	case q == nil || q.Sequence == nil || len(rr.seq.spec.stages) > 62:
		// A hand-built or very long sequence: run it whole on every event
		// of its categories (the sequencer checks the categories).
		add(planTarget{kind: targetSeq, label: "sequence", why: "not split into stages"})
	default:
		s := q.Sequence
		n := 0
		for i := range s.Stages {
			st := &s.Stages[i]
			runs := max(st.Runs, 1)
			var b uint64
			for r := 0; r < runs; r++ {
				b |= 1 << (n + r)
			}
			label := fmt.Sprintf("stage %d of %d", i+1, len(s.Stages))
			if runs > 1 {
				label += fmt.Sprintf(" (runs=%d)", runs)
			}
			add(planTarget{kind: targetStages, stages: b, label: label, cat: st.Query.Category, cond: st.Query.Cond})
			n += runs
		}
		if u := s.Until; u != nil {
			add(planTarget{kind: targetStages, stages: untilStage, label: "until", cat: u.Query.Category, cond: u.Query.Cond})
		}
	}
}

func firstCat(q querySpec) string {
	if q.anyCat || len(q.cats) == 0 {
		return ""
	}
	return q.cats[0]
}

// table returns (adding it) the table of category bit b.
func (p *plan) table(b int, cat string) *catTable {
	t := p.tables[b]
	if t == nil {
		t = &catTable{cat: cat}
		if b == bits.TrailingZeros64(otherCategory) {
			t.cat = "(other categories)"
		}
		p.tables[b] = t
	}
	return t
}

// probe returns (adding it) the table's probe of field.
func (t *catTable) probe(field string) *probe {
	for _, pr := range t.probes {
		if pr.field == field {
			return pr
		}
	}
	pr := &probe{field: field, acc: ecs.Lookup(field)}
	t.probes = append(t.probes, pr)
	return pr
}

// grow sizes a bitset to the plan's words.
func (p *plan) grow(b *[]uint64) []uint64 {
	if len(*b) < p.words {
		*b = append(*b, make([]uint64, p.words-len(*b))...)
	}
	return *b
}

func setBit(b []uint64, i int) { b[i>>6] |= 1 << (i & 63) }

func orBits(dst, src []uint64) {
	for i, w := range src {
		dst[i] |= w
	}
}

// buildProbe indexes a probe's keys.
func (p *plan) buildProbe(pr *probe) {
	for _, pk := range pr.pending {
		pr.folded = pr.folded || pk.key.Kind.Fold()
	}
	for _, pk := range pr.pending {
		k, ti := pk.key, pk.ti
		setBit(p.grow(&pr.all), ti)
		text := k.Text
		if pr.folded {
			setBit(p.grow(&pr.foldAll), ti)
			if !k.Kind.Fold() {
				text = string(eql.AppendFold(nil, text))
			}
		}
		switch k.Kind {
		case eql.KeyEqual, eql.KeyFold:
			if pr.equal == nil {
				pr.equal = make(map[string][]uint64)
			}
			b := pr.equal[text]
			p.grow(&b)
			setBit(b, ti)
			pr.equal[text] = b
		case eql.KeyPrefix, eql.KeyFoldPrefix:
			if pr.prefix == nil {
				pr.prefix = &affixes{}
			}
			pr.prefix.add(p, text, ti)
		case eql.KeySuffix, eql.KeyFoldSuffix:
			if pr.suffix == nil {
				pr.suffix = &affixes{suffix: true}
			}
			pr.suffix.add(p, text, ti)
		case eql.KeyContains, eql.KeyFoldContains:
			if pr.contains == nil {
				pr.contains = &substrings{first: map[uint16][]int{}}
			}
			pr.contains.add(p, text, ti)
		}
	}
	if len(pr.equal) <= maxFew {
		for text, b := range pr.equal {
			pr.few = append(pr.few, affix{text: text, bits: b})
		}
		sort.Slice(pr.few, func(i, j int) bool { return pr.few[i].text < pr.few[j].text })
		pr.equal = nil
	}
	pr.pending = nil
	pr.memo = -1
	if pr.folded || pr.equal != nil || pr.prefix != nil || pr.suffix != nil || pr.contains != nil {
		pr.memo = p.memos
		p.memos++
	}
	p.grow(&pr.all)
	p.grow(&pr.foldAll)
	pr.prefix.finish()
	pr.suffix.finish()
}

func (a *affixes) add(p *plan, text string, ti int) {
	for i := range a.ents {
		if a.ents[i].text == text {
			setBit(a.ents[i].bits, ti)
			return
		}
	}
	b := p.grow(new([]uint64))
	setBit(b, ti)
	a.ents = append(a.ents, affix{text: text, bits: b})
}

// finish sorts the entries by their bucket byte (then longest first) and
// fills the bucket index.
func (a *affixes) finish() {
	if a == nil {
		return
	}
	sort.SliceStable(a.ents, func(i, j int) bool {
		bi, bj := a.byteOf(a.ents[i].text), a.byteOf(a.ents[j].text)
		if bi != bj {
			return bi < bj
		}
		return a.ents[i].text < a.ents[j].text
	})
	var count [256]int
	for _, e := range a.ents {
		count[a.byteOf(e.text)]++
	}
	n := 0
	for b := 0; b < 256; b++ {
		a.start[b] = uint16(n)
		n += count[b]
	}
	a.start[256] = uint16(n)
}

func (a *affixes) byteOf(s string) byte {
	if a.suffix {
		return s[len(s)-1]
	}
	return s[0]
}

// match adds the entries that s starts (ends) with.
func (a *affixes) match(s string, cand []uint64) {
	if s == "" {
		return
	}
	b := a.byteOf(s)
	for i := a.start[b]; i < a.start[int(b)+1]; i++ {
		e := &a.ents[i]
		if len(s) < len(e.text) {
			continue
		}
		if a.suffix {
			if s[len(s)-len(e.text):] == e.text {
				orBits(cand, e.bits)
			}
		} else if s[:len(e.text)] == e.text {
			orBits(cand, e.bits)
		}
	}
}

// matchBytes is match for a folded value.
func (a *affixes) matchBytes(s []byte, cand []uint64) {
	if len(s) == 0 {
		return
	}
	var b byte
	if a.suffix {
		b = s[len(s)-1]
	} else {
		b = s[0]
	}
	for i := a.start[b]; i < a.start[int(b)+1]; i++ {
		e := &a.ents[i]
		if len(s) < len(e.text) {
			continue
		}
		if a.suffix {
			if string(s[len(s)-len(e.text):]) == e.text {
				orBits(cand, e.bits)
			}
		} else if string(s[:len(e.text)]) == e.text {
			orBits(cand, e.bits)
		}
	}
}

// candidates sets in cand (cleared first) the targets ev may match; mask
// is ev's category mask.
func (p *plan) candidates(ev *ecs.Event, mask uint64, cand []uint64) {
	p.candidatesWith(p.own, ev, mask, cand)
}

// candidatesWith is candidates with the lookups' scratch sc.
func (p *plan) candidatesWith(sc *scratch, ev *ecs.Event, mask uint64, cand []uint64) {
	clear(cand)
	for m := mask; m != 0; m &= m - 1 {
		t := p.tables[bits.TrailingZeros64(m)]
		if t == nil {
			continue
		}
		orBits(cand, t.always)
		noFields := len(ev.Fields) == 0
	probes:
		for _, pr := range t.probes {
			// The field is read as the compiled predicates read it: the
			// typed slot first (inline: most probes of an event find a
			// value there or find it empty), the generic store when the
			// slot is empty.
			switch pr.acc.Type {
			case ecs.TypeString:
				if s := pr.acc.TypedStr(ev); s != "" {
					pr.str(sc, s, cand)
					continue
				}
			case ecs.TypeStrings:
				if ss := pr.acc.TypedStrs(ev); ss != nil {
					for _, s := range ss {
						pr.str(sc, s, cand)
					}
					continue
				}
			case ecs.TypeBool:
				// A boolean is looked up as the text of its value (see
				// probe.value).
				if v, ok := pr.acc.TypedBool(ev); ok {
					if v {
						pr.str(sc, "true", cand)
					} else {
						pr.str(sc, "false", cand)
					}
					continue
				}
			case ecs.TypeAny:
				if noFields {
					// The probes of fields outside the typed struct come
					// last; ecs.Lookup reads them from the generic store
					// alone.
					break probes
				}
			}
			// An empty slot leaves the generic store, if the event has one
			// (Get reads only that then); numbers are read by their
			// accessor.
			if !noFields || pr.acc.Type == ecs.TypeInt {
				pr.value(sc, pr.acc.Get(ev), cand)
			}
		}
	}
}

// value adds the targets a generic value may satisfy: strings by lookup,
// other scalars all (see probe.all); null and raw JSON match nothing.
func (pr *probe) value(sc *scratch, v ecs.Value, cand []uint64) {
	switch v.Kind {
	case ecs.KindNull, ecs.KindRaw:
	case ecs.KindString:
		pr.str(sc, v.Str, cand)
	case ecs.KindStrings:
		for _, s := range v.Strs {
			pr.str(sc, s, cand)
		}
	case ecs.KindList:
		for i := range v.List {
			if v.List[i].Kind != ecs.KindList {
				pr.value(sc, v.List[i], cand)
			}
		}
	case ecs.KindBool:
		// A boolean equals a literal whose string form is true or false,
		// and matches a pattern as that text: it is looked up as such.
		if v.Int != 0 {
			pr.str(sc, "true", cand)
		} else {
			pr.str(sc, "false", cand)
		}
	default:
		orBits(cand, pr.all)
	}
}

// str adds the targets whose keys s satisfies.
func (pr *probe) str(sc *scratch, s string, cand []uint64) {
	if pr.memo < 0 || len(s) == 0 || len(s) > memoMax {
		pr.lookupStr(sc, s, cand)
		return
	}
	m := &sc.memos[pr.memo]
	if m.rest > 0 {
		m.rest--
		pr.lookupStr(sc, s, cand)
		return
	}
	// A set is two entries, the most recently used first; an empty entry
	// holds no text: it never equals s (1 byte or more).
	i := memoSet(s)
	e := &m.entries[i]
	if string(e.text) == s {
		m.hits++
		if len(e.bits) > 0 {
			orBits(cand, e.bits)
		}
		return
	}
	m.entries[i], m.entries[i+1] = m.entries[i+1], m.entries[i]
	if string(e.text) == s {
		m.hits++
		if len(e.bits) > 0 {
			orBits(cand, e.bits)
		}
		return
	}
	// A miss replaces the older entry (now first), reusing its buffers.
	// Misses count the sample (hits+misses lookups), off the hit path.
	if m.misses++; m.hits+m.misses >= memoSample {
		if m.hits < memoSample/16 {
			m.rest = memoRest
		}
		m.hits, m.misses = 0, 0
	}
	b := sc.bits
	clear(b)
	pr.lookupStr(sc, s, b)
	e.text = append(e.text[:0], s...)
	e.bits = e.bits[:0]
	for _, w := range b {
		if w != 0 {
			e.bits = append(e.bits, b...)
			orBits(cand, b)
			break
		}
	}
}

// lookupStr is str without the memo.
func (pr *probe) lookupStr(sc *scratch, s string, cand []uint64) {
	if pr.folded {
		if len(s) > foldMax {
			orBits(cand, pr.foldAll)
			return
		}
		sc.buf = eql.AppendFold(sc.buf[:0], s)
		pr.lookup(sc.buf, cand)
		return
	}
	if pr.equal != nil {
		if b, ok := pr.equal[s]; ok {
			orBits(cand, b)
		}
	}
	for i := range pr.few {
		if pr.few[i].text == s {
			orBits(cand, pr.few[i].bits)
		}
	}
	if pr.prefix != nil {
		pr.prefix.match(s, cand)
	}
	if pr.suffix != nil {
		pr.suffix.match(s, cand)
	}
	if pr.contains != nil {
		pr.contains.match(s, cand)
	}
}

// lookup is str for a folded value.
func (pr *probe) lookup(c []byte, cand []uint64) {
	if pr.equal != nil {
		if b, ok := pr.equal[string(c)]; ok {
			orBits(cand, b)
		}
	}
	for i := range pr.few {
		if pr.few[i].text == string(c) {
			orBits(cand, pr.few[i].bits)
		}
	}
	if pr.prefix != nil {
		pr.prefix.matchBytes(c, cand)
	}
	if pr.suffix != nil {
		pr.suffix.matchBytes(c, cand)
	}
	if pr.contains != nil {
		pr.contains.matchBytes(c, cand)
	}
}

// Explain describes how the engine's plan indexes the rule with rule_id
// id: for each of its targets (the event query, or each stage and the
// until clause of a sequence), the category table it sits in, the index
// keys under which it is a candidate (or why it runs on every event of its
// category), and the conditions left to test once a key holds. ok is false
// when no rule has that id or the engine runs rule at a time.
func (e *Engine) Explain(id string) (text string, ok bool) {
	p := e.plan
	if p == nil {
		return "", false
	}
	ri := -1
	for i, rr := range e.runs {
		if rr.rule.ID == id {
			ri = i
			break
		}
	}
	if ri < 0 {
		return "", false
	}
	r := e.runs[ri].rule
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s  %s\n", r.ID, r.Name)
	for _, ti := range p.byRule[ri] {
		t := &p.targets[ti]
		cat := t.cat
		if cat == "" {
			cat = "any"
		}
		fmt.Fprintf(&b, "  %s: table %q\n", t.label, cat)
		switch {
		case t.never:
			b.WriteString("    never runs: the condition cannot hold\n")
		case t.keys == nil:
			fmt.Fprintf(&b, "    always runs on %s events: %s\n", cat, t.why)
		default:
			b.WriteString("    candidate when any key holds:\n")
			for _, k := range t.keys {
				fmt.Fprintf(&b, "      %s\n", k)
			}
			for _, g := range t.guards {
				b.WriteString("    and any of:\n")
				for _, k := range g {
					fmt.Fprintf(&b, "      %s\n", k)
				}
			}
		}
		if t.cond != nil {
			fmt.Fprintf(&b, "    condition: %s\n", eql.Format(t.cond))
			if rest, ok := remainder(t.cond, t.keys); ok {
				fmt.Fprintf(&b, "    left to test once a key holds: %s\n", rest)
			}
			b.WriteString("    (a candidate runs its whole compiled condition)\n")
		}
	}
	return b.String(), true
}

// remainder is the condition without the conjunct the keys come from, when
// the keys are that conjunct's (exact keys of an `==`, `in`, `in~` or a
// `:` without wildcards: holding a key is holding the conjunct).
func remainder(cond eql.Expr, keys []eql.Key) (string, bool) {
	and, ok := cond.(*eql.And)
	if !ok || len(keys) == 0 {
		return "", false
	}
	for i, x := range and.X {
		got, ok := eql.IndexKeys(x, keyCost)
		if !ok || !slices.Equal(got, keys) {
			continue
		}
		rest := slices.Delete(slices.Clone(and.X), i, i+1)
		if len(rest) == 1 {
			return eql.Format(rest[0]), true
		}
		return eql.Format(&eql.And{X: rest}), true
	}
	return "", false
}

// PlanSummary describes the engine's plan: per category table, its
// always-run targets and its indexed fields with their key counts.
func (e *Engine) PlanSummary() string {
	p := e.plan
	if p == nil {
		return "rule at a time (no plan)\n"
	}
	var b strings.Builder
	indexed, always, never := 0, 0, 0
	for i := range p.targets {
		switch t := &p.targets[i]; {
		case t.never:
			never++
		case t.keys == nil:
			always++
		default:
			indexed++
		}
	}
	fmt.Fprintf(&b, "%d rules, %d targets: %d indexed, %d always run, %d never run\n",
		len(e.runs), len(p.targets), indexed, always, never)
	for _, t := range p.tables {
		if t == nil {
			continue
		}
		cat := t.cat
		if cat == "" {
			cat = "any"
		}
		fmt.Fprintf(&b, "table %q: %d always run\n", cat, countBits(t.always))
		for _, pr := range t.probes {
			how := "as is"
			if pr.folded {
				how = "folded"
			}
			fmt.Fprintf(&b, "  %-32s %3d targets  %-6s keys:", pr.field, countBits(pr.all), how)
			for _, kv := range []struct {
				name string
				n    int
			}{{"equal", len(pr.equal) + len(pr.few)}, {"prefix", pr.prefix.len()}, {"suffix", pr.suffix.len()}, {"contains", pr.contains.len()}} {
				if kv.n > 0 {
					fmt.Fprintf(&b, " %s %d", kv.name, kv.n)
				}
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (a *affixes) len() int {
	if a == nil {
		return 0
	}
	return len(a.ents)
}

func countBits(b []uint64) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// substrings are the contains keys of a probe (at least two bytes each),
// found in a value by its byte pairs: a bitmap of the keys' first two bytes
// says at which positions to compare.
type substrings struct {
	pairs [1 << 16 / 64]uint64
	first map[uint16][]int // entries by their first two bytes
	ents  []affix
	texts [][]byte // the entries' texts, for bytes.Contains
}

func pairAt(s string, i int) uint16 { return uint16(s[i])<<8 | uint16(s[i+1]) }

func (c *substrings) add(p *plan, text string, ti int) {
	for i := range c.ents {
		if c.ents[i].text == text {
			setBit(c.ents[i].bits, ti)
			return
		}
	}
	b := p.grow(new([]uint64))
	setBit(b, ti)
	g := pairAt(text, 0)
	c.pairs[g>>6] |= 1 << (g & 63)
	c.first[g] = append(c.first[g], len(c.ents))
	c.ents = append(c.ents, affix{text: text, bits: b})
	c.texts = append(c.texts, []byte(text))
}

// fewSubstrings is the most contains keys searched one by one (a
// vectorized strings.Index each) rather than with the pair filter, which
// costs several instructions per byte of the value whatever the keys.
const fewSubstrings = 4

// match adds the entries s contains.
func (c *substrings) match(s string, cand []uint64) {
	if len(c.ents) <= fewSubstrings {
		for i := range c.ents {
			if strings.Contains(s, c.ents[i].text) {
				orBits(cand, c.ents[i].bits)
			}
		}
		return
	}
	for i := 0; i+1 < len(s); i++ {
		g := pairAt(s, i)
		if c.pairs[g>>6]&(1<<(g&63)) == 0 {
			continue
		}
		for _, k := range c.first[g] {
			e := &c.ents[k]
			if strings.HasPrefix(s[i:], e.text) {
				orBits(cand, e.bits)
			}
		}
	}
}

func (c *substrings) len() int {
	if c == nil {
		return 0
	}
	return len(c.ents)
}

// matchBytes is match for a folded value.
func (c *substrings) matchBytes(s []byte, cand []uint64) {
	if len(c.ents) <= fewSubstrings {
		for i := range c.ents {
			if bytes.Contains(s, c.texts[i]) {
				orBits(cand, c.ents[i].bits)
			}
		}
		return
	}
	if len(s) < 2 {
		return
	}
	g := uint16(s[0]) // the pair ending at s[j], one load per byte
	for j := 1; j < len(s); j++ {
		g = g<<8 | uint16(s[j])
		if c.pairs[g>>6]&(1<<(g&63)) == 0 {
			continue
		}
		i := j - 1
		for _, k := range c.first[g] {
			e := &c.ents[k]
			if len(s)-i >= len(e.text) && string(s[i:i+len(e.text)]) == e.text {
				orBits(cand, e.bits)
			}
		}
	}
}
