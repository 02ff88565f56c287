package eql

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// A regular expression is anchored at both ends (Lucene's regexp query
// matches the whole term), so the first and last characters of every match
// come from known sets. asciiEnds computes those sets over ASCII from the
// parsed Go expression; a value whose first or last byte is ASCII and
// outside its set cannot match, and the regular expression is not run.
// A non-ASCII first or last byte is left to the regular expression (its
// rune decoding of invalid bytes is its own business).

// asciiSet is a set of ASCII bytes.
type asciiSet [2]uint64

func (s *asciiSet) add(c rune) {
	if c >= 0 && c < 128 {
		s[c>>6] |= 1 << (c & 63)
	}
}

func (s *asciiSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func (s *asciiSet) full() bool { return s[0] == ^uint64(0) && s[1] == ^uint64(0) }

// regexEnds is the ASCII first-byte and last-byte filter of a regular
// expression; ok is false when it filters nothing.
type regexEnds struct {
	first, last asciiSet
	ok          bool
}

// accept reports whether s may match.
func (f *regexEnds) accept(s string) bool {
	if !f.ok || s == "" {
		return true
	}
	if c := s[0]; c < 128 && !f.first.has(c) {
		return false
	}
	if c := s[len(s)-1]; c < 128 && !f.last.has(c) {
		return false
	}
	return true
}

// asciiEnds analyses the Go expression expr (as given to regexp.Compile).
func asciiEnds(expr string) regexEnds {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return regexEnds{}
	}
	re = re.Simplify()
	all := asciiSet{^uint64(0), ^uint64(0)}
	f := regexEnds{first: all, last: all}
	if rs, ok := endRanges(re, false); ok {
		f.first = asciiOf(rs)
	}
	if rs, ok := endRanges(re, true); ok {
		f.last = asciiOf(rs)
	}
	f.ok = !f.first.full() || !f.last.full()
	return f
}

// asciiOf is the ASCII part of a set of rune ranges (see endRanges).
func asciiOf(ranges []rune) asciiSet {
	var s asciiSet
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= min(ranges[i+1], 127); r++ {
			s.add(r)
		}
	}
	return s
}

// endRanges returns the characters that can start (or, with last, end) a
// non-empty match of re, as lo, hi pairs of rune ranges (they may
// overlap); ok is false when re may match the empty string there or the
// set is not known. A literal under folding adds its case-folding orbit
// (Unicode simple folding, as RE2's (?i)); a class is folded by the parser
// already.
func endRanges(re *syntax.Regexp, last bool) ([]rune, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil, false
		}
		r := re.Rune[0]
		if last {
			r = re.Rune[len(re.Rune)-1]
		}
		out := []rune{r, r}
		if re.Flags&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				out = append(out, f, f)
			}
		}
		return out, true
	case syntax.OpCharClass:
		return re.Rune, len(re.Rune) > 0
	case syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}, true
	case syntax.OpAnyChar:
		return []rune{0, unicode.MaxRune}, true
	case syntax.OpCapture, syntax.OpPlus:
		return endRanges(re.Sub[0], last)
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return endRanges(re.Sub[0], last)
	case syntax.OpAlternate:
		var out []rune
		for _, sub := range re.Sub {
			rs, ok := endRanges(sub, last)
			if !ok {
				return nil, false
			}
			out = append(out, rs...)
		}
		return out, true
	case syntax.OpConcat:
		subs := re.Sub
		for k := range subs {
			i := k
			if last {
				i = len(subs) - 1 - k
			}
			switch subs[i].Op {
			case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEmptyMatch:
				continue // zero width
			}
			return endRanges(subs[i], last)
		}
	}
	return nil, false
}

// A list of wildcard patterns (`like ("*a*", "*b*", ...)`, `: (...)`) is
// tried pattern by pattern; most values match none. Every match of a
// pattern contains each of its literal pieces, so it contains the first
// two bytes of its longest one: pairFilter holds those pairs (6 bits of
// each byte: collisions only let a value through) and rejects a value
// that contains none before any pattern runs. Under folding the pieces are
// canonical (ASCII letters upper case) and an ASCII value's bytes are
// canonicalised alike; a value with a non-ASCII byte may fold onto an
// ASCII piece (U+017F onto S, U+212A onto K) and is always let through.
type pairFilter struct {
	bits [64]uint64
	fold bool
}

// newPairFilter returns the filter of a list of patterns, or nil when a
// pattern has no literal piece of two bytes or more (without `?`; ASCII
// when folding) to filter on.
func newPairFilter(wild []*wildcard, fold bool) *pairFilter {
	f := &pairFilter{fold: fold}
	for _, w := range wild {
		best := ""
		for _, pc := range w.pieces {
			if len(pc.lit) < 2 || strings.Contains(pc.lit, "?") || (fold && !pc.ascii) {
				continue
			}
			if len(pc.lit) > len(best) {
				best = pc.lit
			}
		}
		if best == "" {
			return nil
		}
		g := pairIndex(best[0], best[1])
		f.bits[g>>6] |= 1 << (g & 63)
	}
	return f
}

func pairIndex(a, b byte) uint { return uint(a&63)<<6 | uint(b&63) }

// mayMatch reports whether s may match one of the patterns; ascii tells
// whether s is all ASCII (only needed when folding).
func (f *pairFilter) mayMatch(s string, ascii bool) bool {
	if len(s) < 2 {
		return false
	}
	// g is pairIndex of the pair ending at s[j]: one byte read per step.
	if f.fold {
		if !ascii {
			return true
		}
		g := uint(asciiCanon[s[0]] & 63)
		for j := 1; j < len(s); j++ {
			g = (g<<6 | uint(asciiCanon[s[j]]&63)) & (1<<12 - 1)
			if f.bits[g>>6]&(1<<(g&63)) != 0 {
				return true
			}
		}
		return false
	}
	g := uint(s[0] & 63)
	for j := 1; j < len(s); j++ {
		g = (g<<6 | uint(s[j]&63)) & (1<<12 - 1)
		if f.bits[g>>6]&(1<<(g&63)) != 0 {
			return true
		}
	}
	return false
}
