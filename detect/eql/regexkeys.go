package eql

import (
	"regexp/syntax"
	"unicode"
)

// regexKeys returns index keys for `field regex pat` (regex~ with fold):
// the pattern matches the whole value (see translateRegex), so a value it
// matches starts with a character of the pattern's first set and ends with
// one of its last set. When either set is small and ASCII (letters with
// their whole case-folding orbit under fold: k and s fold onto non-ASCII
// runes and are refused), each of its characters is a one-byte prefix (or
// suffix) key; of the two, the cheaper set by cost. ok is false when
// neither set qualifies.
func regexKeys(field, pat string, fold bool, cost KeyCost) ([]Key, bool) {
	re, err := translateRegex(pat, fold)
	if err != nil {
		return nil, false
	}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil, false
	}
	parsed = parsed.Simplify()
	var best []Key
	for _, last := range []bool{false, true} {
		runes, ok := exactEnd(parsed, last)
		if !ok {
			continue
		}
		kind := KeyPrefix
		if last {
			kind = KeySuffix
		}
		var keys []Key
		for _, r := range runes {
			keys = appendKeys(keys, []Key{{Field: field, Kind: kind, Text: string(r)}})
		}
		if best == nil || cost(keys) < cost(best) {
			best = keys
		}
	}
	return best, best != nil
}

// maxEndRunes is the largest first or last set regexKeys turns into keys.
const maxEndRunes = 8

// exactEnd returns every character that can start (with last, end) a match
// of re, when they are at most maxEndRunes ASCII characters, re cannot
// match the empty string there, and no case folding maps one of them onto
// a non-ASCII rune (Unicode simple folding, as RE2's (?i)).
func exactEnd(re *syntax.Regexp, last bool) ([]rune, bool) {
	var out []rune
	add := func(r rune, fold bool) bool {
		orbit := []rune{r}
		if fold {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				orbit = append(orbit, f)
			}
		}
		for _, c := range orbit {
			if c < 0 || c >= 128 {
				return false
			}
			if !containsRune(out, c) {
				out = append(out, c)
			}
		}
		return len(out) <= maxEndRunes
	}
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil, false
		}
		r := re.Rune[0]
		if last {
			r = re.Rune[len(re.Rune)-1]
		}
		if !add(r, re.Flags&syntax.FoldCase != 0) {
			return nil, false
		}
		return out, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo >= maxEndRunes {
				return nil, false
			}
			for r := lo; r <= hi; r++ {
				// A class is already folded by the parser: its members
				// are what it matches.
				if !add(r, false) {
					return nil, false
				}
			}
		}
		return out, len(out) > 0
	case syntax.OpCapture, syntax.OpPlus:
		return exactEnd(re.Sub[0], last)
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return exactEnd(re.Sub[0], last)
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			rs, ok := exactEnd(sub, last)
			if !ok {
				return nil, false
			}
			for _, r := range rs {
				if !add(r, false) {
					return nil, false
				}
			}
		}
		return out, len(out) > 0
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
			return exactEnd(subs[i], last)
		}
	}
	return nil, false
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
