package eql

import (
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// Case-insensitive comparison without building lower-cased copies: every
// rune is mapped to a canonical member of its case-folding orbit (the
// smallest rune of the unicode.SimpleFold cycle), so two runes are equal
// under folding exactly when their canonical runes are equal, as with
// strings.EqualFold. Patterns are canonicalised once at compile time; the
// text is folded rune by rune while matching, with an ASCII fast path.
//
// Elasticsearch's case_insensitive term and wildcard queries fold with
// Lucene's rules, which agree with simple folding for the scripts rules use.

// asciiCanon maps an ASCII byte to its canonical rune: the orbit of 'k' is
// {K, k, U+212A KELVIN SIGN} and its smallest member is 'K', so ASCII
// letters canonicalise to upper case.
var asciiCanon = func() (t [128]byte) {
	for i := range t {
		c := byte(i)
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

// canon returns the canonical rune of r's case-folding orbit.
func canon(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(asciiCanon[r])
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// canonString returns s with every rune canonicalised (compile time only).
func canonString(s string) string {
	b := make([]byte, 0, len(s))
	return string(appendCanon(b, s))
}

// appendCanon appends the canonical form of s to dst.
func appendCanon(dst []byte, s string) []byte {
	i := 0
	for ; i+8 <= len(s); i += 8 { // eight ASCII bytes at a time
		x := load64(s, i)
		if x&0x8080808080808080 != 0 {
			break
		}
		dst = binary.LittleEndian.AppendUint64(dst, upper8(x))
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, asciiCanon[c])
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r == utf8.RuneError && n == 1 {
			// Keep invalid bytes as they are so they only match themselves.
			dst = append(dst, c)
			continue
		}
		dst = utf8.AppendRune(dst, canon(r))
	}
	return dst
}

// equalCanon reports whether s equals the canonical string c under folding.
func equalCanon(s, c string) bool {
	i, j := 0, 0
	// Eight ASCII bytes at a time while both sides are ASCII.
	if len(s) == len(c) {
		for i+8 <= len(s) {
			x, y := load64(s, i), load64(c, i)
			if (x|y)&0x8080808080808080 != 0 {
				break
			}
			if upper8(x) != y {
				return false
			}
			i += 8
		}
		j = i
	}
	for i < len(s) && j < len(c) {
		a, b := s[i], c[j]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if asciiCanon[a] != b {
				return false
			}
			i++
			j++
			continue
		}
		ra, na := decodeCanon(s, i)
		rb, nb := utf8.DecodeRuneInString(c[j:])
		if nb == 1 && rb == utf8.RuneError {
			rb = -1 - rune(c[j])
		}
		if ra != rb {
			return false
		}
		i += na
		j += nb
	}
	return i == len(s) && j == len(c)
}

// decodeCanon decodes the rune at s[i] and canonicalises it. An invalid
// byte b decodes as -1-b, a value no valid rune takes, so it only equals
// the same invalid byte.
func decodeCanon(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(asciiCanon[c]), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return -1 - rune(c), 1
	}
	return canon(r), n
}

// decodeRune decodes the rune at s[i], invalid bytes as in decodeCanon.
func decodeRune(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return -1 - rune(c), 1
	}
	return r, n
}

// decodeLastRune decodes the rune ending at s[:j].
func decodeLastRune(s string, j int, fold bool) (rune, int) {
	c := s[j-1]
	if c < utf8.RuneSelf {
		if fold {
			return rune(asciiCanon[c]), 1
		}
		return rune(c), 1
	}
	r, n := utf8.DecodeLastRuneInString(s[:j])
	if r == utf8.RuneError && n == 1 {
		return -1 - rune(c), 1
	}
	if fold {
		r = canon(r)
	}
	return r, n
}

// hasPrefixCanon reports whether s starts with the canonical string c under
// folding and returns the length of the prefix in s.
func hasPrefixCanon(s, c string) (int, bool) {
	i, j := 0, 0
	for j < len(c) {
		if i >= len(s) {
			return 0, false
		}
		ra, na := decodeCanon(s, i)
		rb, nb := decodeRune(c, j)
		if ra != rb {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

// indexCanon returns the byte offset and length in s of the first match of
// the canonical string c under folding, or -1.
func indexCanon(s, c string) (int, int) {
	if c == "" {
		return 0, 0
	}
	for i := 0; i < len(s); {
		if n, ok := hasPrefixCanon(s[i:], c); ok {
			return i, n
		}
		_, n := decodeRune(s, i)
		i += n
	}
	return -1, 0
}

// lastIndexCanon returns the byte offset and length in s of the last match
// of the canonical string c under folding, or -1.
func lastIndexCanon(s, c string) (int, int) {
	if c == "" {
		return len(s), 0
	}
	for i := len(s); i > 0; {
		_, n := decodeLastRune(s, i, false)
		i -= n
		if m, ok := hasPrefixCanon(s[i:], c); ok {
			return i, m
		}
	}
	return -1, 0
}

// load64 loads s[i:i+8] little-endian (the compiler merges the loads).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// upper8 upper-cases the ASCII letters of eight ASCII bytes (SWAR): a byte
// gets its 0x80 bit set by the first sum when it is >= 'a' and by the
// second when it is > 'z'; the bytes with only the first get 0x20 removed.
func upper8(x uint64) uint64 {
	const ones = 0x0101010101010101
	ge := x + ones*(0x80-'a')
	gt := x + ones*(0x80-'z'-1)
	mask := ge &^ gt & (ones * 0x80)
	return x - mask>>2
}
