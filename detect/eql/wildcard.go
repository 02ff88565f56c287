package eql

import (
	"strings"
	"unicode/utf8"
)

// wildcard is a compiled EQL wildcard pattern: `*` matches any run of
// characters, `?` exactly one character (a rune, as Lucene's wildcard query
// counts code points), everything else itself. The pattern is anchored at
// both ends and has no escape character (Elasticsearch's toLikePattern).
//
// The pattern is split at each `*` into pieces; the first piece is anchored
// at the start, the last at the end, and the middle ones are found leftmost
// in between, which is exact for globs made of `*` and `?`.
type wildcard struct {
	fold   bool
	pieces []piece // len(pieces) == stars+1
	// fast: case-sensitive and no `?`: pieces are plain strings.
	fast bool
}

// piece is a run of literal runes and `?`s between two stars. lit holds the
// literal text (canonicalised when folding); when folding or when the piece
// has `?`s, runes holds it rune by rune with -1 for `?`.
type piece struct {
	lit   string
	runes []rune
	ascii bool // folding, no `?`, lit is ASCII: byte-wise fast path
}

// hasWildcard reports whether s contains a wildcard character.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

func compileWildcard(pat string, fold bool) *wildcard {
	w := &wildcard{fold: fold, fast: !fold && !strings.Contains(pat, "?")}
	for _, part := range strings.Split(pat, "*") {
		var pc piece
		if fold {
			pc.lit = canonString(part)
		} else {
			pc.lit = part
		}
		if fold || strings.Contains(part, "?") {
			for i := 0; i < len(part); {
				r, n := decodeRune(part, i)
				i += n
				switch {
				case r == '?':
					r = -1
				case fold && r >= 0:
					r = canon(r)
				}
				pc.runes = append(pc.runes, r)
			}
		}
		pc.ascii = fold && isASCII(part) && !strings.Contains(part, "?")
		w.pieces = append(w.pieces, pc)
	}
	return w
}

// match reports whether s matches the whole pattern.
func (w *wildcard) match(s string) bool {
	if w.fast {
		return w.matchFast(s)
	}
	return w.matchASCII(s, w.fold && isASCII(s))
}

// matchASCII is match with ascii telling whether s is all ASCII, so that a
// list of patterns checks it once.
func (w *wildcard) matchASCII(s string, ascii bool) bool {
	if w.fast {
		return w.matchFast(s)
	}
	first := &w.pieces[0]
	if len(w.pieces) == 1 && w.fold && !strings.Contains(first.lit, "?") {
		// A canonical rune is never longer in UTF-8 than the runes that
		// fold to it, so a shorter text cannot match.
		return len(s) >= len(first.lit) && equalCanon(s, first.lit)
	}
	if len(w.pieces) == 1 {
		end, ok := w.matchAt(s, 0, len(s), first)
		return ok && end == len(s)
	}
	start, ok := w.matchAt(s, 0, len(s), first)
	if !ok {
		return false
	}
	last := &w.pieces[len(w.pieces)-1]
	end, ok := w.matchBack(s, start, len(s), last)
	if !ok {
		return false
	}
	for k := 1; k < len(w.pieces)-1; k++ {
		start, ok = w.find(s, start, end, &w.pieces[k], ascii)
		if !ok {
			return false
		}
	}
	return true
}

// matchFast is match for case-sensitive patterns without `?`.
func (w *wildcard) matchFast(s string) bool {
	if len(w.pieces) == 1 {
		return s == w.pieces[0].lit
	}
	first, last := w.pieces[0].lit, w.pieces[len(w.pieces)-1].lit
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for k := 1; k < len(w.pieces)-1; k++ {
		m := w.pieces[k].lit
		i := strings.Index(s, m)
		if i < 0 {
			return false
		}
		s = s[i+len(m):]
	}
	return true
}

// matchAt matches pc at s[i:], not past limit, and returns where it ends.
func (w *wildcard) matchAt(s string, i, limit int, pc *piece) (int, bool) {
	if pc.runes == nil {
		if strings.HasPrefix(s[i:limit], pc.lit) {
			return i + len(pc.lit), true
		}
		return 0, false
	}
	if pc.ascii {
		lit := pc.lit
		if limit-i < len(lit) {
			return 0, false
		}
		k := 0
		for k < len(lit) {
			c := s[i+k]
			if c >= utf8.RuneSelf {
				break
			}
			if asciiCanon[c] != lit[k] {
				return 0, false
			}
			k++
		}
		if k == len(lit) {
			return i + k, true
		}
		// A non-ASCII rune may still fold to ASCII (U+212A KELVIN SIGN
		// folds to k): compare rune by rune.
	}
	for _, pr := range pc.runes {
		if i >= limit {
			return 0, false
		}
		var r rune
		var n int
		if w.fold {
			r, n = decodeCanon(s, i)
		} else {
			r, n = decodeRune(s, i)
		}
		if i+n > limit || pr != -1 && r != pr {
			return 0, false
		}
		i += n
	}
	return i, true
}

// matchBack matches pc so that it ends at s[:j], not before lo, and returns
// where it starts.
func (w *wildcard) matchBack(s string, lo, j int, pc *piece) (int, bool) {
	if pc.runes == nil {
		if j-lo >= len(pc.lit) && strings.HasSuffix(s[:j], pc.lit) {
			return j - len(pc.lit), true
		}
		return 0, false
	}
	if pc.ascii {
		lit := pc.lit
		if j-lo < len(lit) {
			return 0, false
		}
		k := len(lit)
		for k > 0 {
			c := s[j-len(lit)+k-1]
			if c >= utf8.RuneSelf {
				break
			}
			if asciiCanon[c] != lit[k-1] {
				return 0, false
			}
			k--
		}
		if k == 0 {
			return j - len(lit), true
		}
	}
	return matchBackRunes(s, lo, j, pc.runes, w.fold)
}

func matchBackRunes(s string, lo, j int, runes []rune, fold bool) (int, bool) {
	for k := len(runes) - 1; k >= 0; k-- {
		if j <= lo {
			return 0, false
		}
		r, n := decodeLastRune(s, j, fold)
		if j-n < lo || runes[k] != -1 && r != runes[k] {
			return 0, false
		}
		j -= n
	}
	return j, true
}

// find finds the leftmost match of pc within s[i:limit] and returns where
// it ends.
func (w *wildcard) find(s string, i, limit int, pc *piece, ascii bool) (int, bool) {
	if pc.ascii && len(pc.lit) > 0 && ascii {
		j := indexFoldASCII(s[i:limit], pc.lit)
		if j < 0 {
			return 0, false
		}
		return i + j + len(pc.lit), true
	}
	for i <= limit {
		if pc.ascii && i < limit && s[i] < utf8.RuneSelf && len(pc.lit) > 0 && asciiCanon[s[i]] != pc.lit[0] {
			i++
			continue
		}
		if end, ok := w.matchAt(s, i, limit, pc); ok {
			return end, true
		}
		if i == limit {
			break
		}
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, n := decodeRune(s, i)
			i += n
		}
	}
	return 0, false
}

func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if load64(s, i)&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// indexFoldASCII returns the index of the first match in the ASCII text s
// of the canonical ASCII literal lit under folding, or -1. Candidates are
// found with strings.IndexByte on both cases of the first letter.
func indexFoldASCII(s, lit string) int {
	up := lit[0]
	lo := up
	if up >= 'A' && up <= 'Z' {
		lo = up + 'a' - 'A'
	}
	n := len(lit)
	nu, nl := -2, -2 // next position of up / lo at or after i; -1: none
	next := func(c byte, from int) int {
		if k := strings.IndexByte(s[from:], c); k >= 0 {
			return from + k
		}
		return -1
	}
	for i := 0; i+n <= len(s); {
		if nu != -1 && nu < i {
			nu = next(up, i)
		}
		if lo == up {
			nl = nu
		} else if nl != -1 && nl < i {
			nl = next(lo, i)
		}
		k := nu
		if k < 0 || nl >= 0 && nl < k {
			k = nl
		}
		if k < 0 || k+n > len(s) {
			return -1
		}
		if equalFoldASCII(s[k+1:k+n], lit[1:]) {
			return k
		}
		i = k + 1
	}
	return -1
}

// equalFoldASCII reports whether the ASCII text s equals the canonical
// ASCII literal c (same length) under folding.
func equalFoldASCII(s, c string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if upper8(load64(s, i)) != load64(c, i) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if asciiCanon[s[i]] != c[i] {
			return false
		}
	}
	return true
}
