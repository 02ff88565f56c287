package eql

import (
	"regexp/syntax"
	"slices"
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
// of re (endRanges), when they are at most maxEndRunes, all ASCII: with
// folding, a letter whose orbit leaves ASCII (k, s) is refused by that.
func exactEnd(re *syntax.Regexp, last bool) ([]rune, bool) {
	ranges, ok := endRanges(re, last)
	if !ok {
		return nil, false
	}
	var out []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi >= 128 || hi-lo >= maxEndRunes {
			return nil, false
		}
		for r := lo; r <= hi; r++ {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
		if len(out) > maxEndRunes {
			return nil, false
		}
	}
	return out, len(out) > 0
}
