package eql

import (
	"regexp/syntax"
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
	var f regexEnds
	first, ok1 := endSet(re, false)
	last, ok2 := endSet(re, true)
	if ok1 {
		f.first = first
	} else {
		f.first = asciiSet{^uint64(0), ^uint64(0)}
	}
	if ok2 {
		f.last = last
	} else {
		f.last = asciiSet{^uint64(0), ^uint64(0)}
	}
	f.ok = !f.first.full() || !f.last.full()
	return f
}

// endSet returns the ASCII characters that can start (or, with last, end)
// a non-empty match of re; ok is false when re may match the empty string
// there or the set is not known.
func endSet(re *syntax.Regexp, last bool) (asciiSet, bool) {
	var s asciiSet
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return s, false
		}
		r := re.Rune[0]
		if last {
			r = re.Rune[len(re.Rune)-1]
		}
		addRune(&s, r, re.Flags&syntax.FoldCase != 0)
		return s, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], min(re.Rune[i+1], 127)
			for r := lo; r <= hi; r++ {
				s.add(r)
			}
		}
		return s, true
	case syntax.OpAnyCharNotNL:
		s = asciiSet{^uint64(0), ^uint64(0)}
		s[0] &^= 1 << '\n'
		return s, true
	case syntax.OpAnyChar:
		return asciiSet{^uint64(0), ^uint64(0)}, true
	case syntax.OpCapture:
		return endSet(re.Sub[0], last)
	case syntax.OpPlus:
		return endSet(re.Sub[0], last)
	case syntax.OpRepeat:
		if re.Min < 1 {
			return s, false
		}
		return endSet(re.Sub[0], last)
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			t, ok := endSet(sub, last)
			if !ok {
				return s, false
			}
			s[0] |= t[0]
			s[1] |= t[1]
		}
		return s, true
	case syntax.OpConcat:
		subs := re.Sub
		for k := range subs {
			i := k
			if last {
				i = len(subs) - 1 - k
			}
			sub := subs[i]
			switch sub.Op {
			case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEmptyMatch:
				continue // zero width
			}
			return endSet(sub, last)
		}
	}
	return s, false
}

// addRune adds r (and with fold the members of its case-folding orbit).
func addRune(s *asciiSet, r rune, fold bool) {
	s.add(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			s.add(f)
		}
	}
}
