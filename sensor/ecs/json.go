package ecs

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxEncodeDepth bounds the objects AppendJSON nests, the top-level object
// included; deeper path segments are written as one dotted key. It equals
// the decoder's limit so that every encoded event decodes again.
const maxEncodeDepth = maxDepth

// AppendJSON appends e as one nested ECS JSON object to dst and returns the
// extended buffer. It does not allocate when dst has the capacity.
//
// Typed fields and Fields are merged into one tree. Keys are written in
// byte order of their dotted paths, nested objects built from the shared
// prefixes. A path that is both a leaf and the prefix of another path (a
// and a.b) keeps its value under its own key and the deeper paths are
// written with dotted keys at the same level ({"a":1,"a.b":2}): valid JSON
// that Decode reads back to the same fields. A Fields entry whose path is
// also a present typed field is skipped: the typed value wins.
//
// Absent fields are omitted: "" strings, numbers and booleans without
// their presence bit, nil slices, Null values. Times are RFC 3339 UTC
// strings with fractional seconds (trailing zeros trimmed). Strings are
// written as valid JSON and valid UTF-8: an invalid byte becomes the text
// \xNN (JSON "\\xNN"). KindRaw values are written verbatim.
func (e *Event) AppendJSON(dst []byte) []byte {
	w := encoder{e: e, dst: append(dst, '{')}
	fs := e.Fields
	ti, fi := 0, 0
	for {
		for ti < nSlots && !slots[slotOrder[ti]].present(e) {
			ti++
		}
		for fi < len(fs) && !w.emitField(&fs[fi]) {
			fi++
		}
		switch {
		case ti < nSlots && (fi == len(fs) || slots[slotOrder[ti]].path < fs[fi].Path):
			s := &slots[slotOrder[ti]]
			w.key(s.path)
			w.typed(s)
			ti++
		case fi < len(fs):
			w.key(fs[fi].Path)
			w.dst = appendValue(w.dst, fs[fi].Value)
			fi++
		default:
			for ; w.depth > 0; w.depth-- {
				w.dst = append(w.dst, '}')
			}
			return append(w.dst, '}')
		}
	}
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 1024)), nil
}

// UnmarshalJSON implements json.Unmarshaler with Decode; e is reset first.
func (e *Event) UnmarshalJSON(b []byte) error {
	*e = Event{}
	return Decode(b, e)
}

// encoder holds the state of one AppendJSON: the objects open on the path
// of the last key written.
type encoder struct {
	e     *Event
	dst   []byte
	open  string // dotted path of the innermost open object ("" at the top)
	depth int    // number of open objects below the top-level one
}

// emitField reports whether f is written: not null, and not shadowed by a
// present typed field of the same path.
func (w *encoder) emitField(f *Field) bool {
	if !hasValue(f.Value) {
		return false
	}
	if s := slotOf(f.Path); s >= 0 && slots[s].present(w.e) {
		return false
	}
	return true
}

// hasValue reports whether v is written at all.
func hasValue(v Value) bool {
	return v.Kind != KindNull && (v.Kind != KindRaw || v.Str != "")
}

// isLeaf reports whether path holds a value of its own (typed or generic).
func (w *encoder) isLeaf(path string) bool {
	if s := slotOf(path); s >= 0 && slots[s].present(w.e) {
		return true
	}
	return len(w.e.Fields) > 0 && hasValue(w.e.Fields.Get(path))
}

// key closes the objects path is not inside, opens those it needs and
// writes its key. Paths arrive in byte order, so the members of one object
// (all paths with prefix "p.") arrive together.
func (w *encoder) key(path string) {
	for w.depth > 0 && !(len(path) > len(w.open) && path[len(w.open)] == '.' && path[:len(w.open)] == w.open) {
		w.dst = append(w.dst, '}')
		w.depth--
		if w.depth == 0 {
			w.open = ""
		} else {
			w.open = w.open[:strings.LastIndexByte(w.open, '.')]
		}
	}
	start := 0
	if w.depth > 0 {
		start = len(w.open) + 1
	}
	for {
		i := strings.IndexByte(path[start:], '.')
		if i < 0 || w.depth+2 > maxEncodeDepth || w.isLeaf(path[:start+i]) {
			w.member(path[start:])
			return
		}
		w.member(path[start : start+i])
		w.dst = append(w.dst, '{')
		w.open = path[:start+i]
		w.depth++
		start += i + 1
	}
}

// member writes the separator, k as a JSON string and the colon.
func (w *encoder) member(k string) {
	if w.dst[len(w.dst)-1] != '{' {
		w.dst = append(w.dst, ',')
	}
	w.dst = AppendString(w.dst, k)
	w.dst = append(w.dst, ':')
}

// typed writes the value of a present typed field.
func (w *encoder) typed(s *slot) {
	p := s.at(w.e)
	switch s.kind {
	case slotString:
		w.dst = AppendString(w.dst, *(*string)(p))
	case slotStrings:
		w.dst = appendStrings(w.dst, *(*[]string)(p))
	case slotInt:
		w.dst = strconv.AppendInt(w.dst, *(*int64)(p), 10)
	case slotBool:
		w.dst = strconv.AppendBool(w.dst, *(*bool)(p))
	case slotTime:
		w.dst = append(w.dst, '"')
		w.dst = AppendTime(w.dst, *(*int64)(p))
		w.dst = append(w.dst, '"')
	}
}

// appendValue appends v as JSON. Null (and an empty KindRaw) is null.
func appendValue(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindString:
		return AppendString(dst, v.Str)
	case KindInt:
		return strconv.AppendInt(dst, v.Int, 10)
	case KindFloat:
		return appendFloat(dst, v.Float)
	case KindBool:
		return strconv.AppendBool(dst, v.Int != 0)
	case KindStrings:
		return appendStrings(dst, v.Strs)
	case KindList:
		dst = append(dst, '[')
		for i, x := range v.List {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, x)
		}
		return append(dst, ']')
	case KindRaw:
		if v.Str != "" {
			return append(dst, v.Str...)
		}
	}
	return append(dst, "null"...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

// appendFloat writes f as encoding/json does (shortest repr., exponent
// outside [1e-6, 1e21)), always with a '.' or an exponent so that it reads
// back as a float, not an integer. NaN and ±Inf, which JSON cannot hold,
// are written as null.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7, as encoding/json writes it.
		if n := len(dst); n-start >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: '"' and '\\' escaped, control
// characters as \n, \r, \t or \u00XX, valid UTF-8 as is (DEL and U+2028
// too), and each byte of invalid UTF-8 as the six characters \\xNN (the
// text \xNN once decoded), so the output is valid UTF-8 and nothing is
// dropped. It is the one JSON string writer of macsensor's output: events
// (AppendJSON) and alerts (package detect) agree byte for byte. Runs of
// plain ASCII are found eight bytes at a time (stopMask, shared with the
// decoder). It does not allocate when dst has the capacity.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	b := bytesOf(s)
	if len(b) < 8 {
		// A short string (most keys): test it padded to eight clean bytes.
		w := [8]byte{'_', '_', '_', '_', '_', '_', '_', '_'}
		copy(w[:], b)
		if stopMask(binary.LittleEndian.Uint64(w[:])) == 0 {
			dst = append(dst, b...)
			return append(dst, '"')
		}
	}
	start, i := 0, 0
	for {
		i = scanWords(b, i)
		if i < len(b) && !strStop[b[i]] && len(b) >= 8 {
			// The tail: the last eight bytes, less those already seen.
			// Seen bytes are clean, so they cause no borrow in stopMask.
			m := stopMask(load64(b, len(b)-8)) >> (8 * (8 - (len(b) - i)))
			if m == 0 {
				break // the rest is clean
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		for i < len(b) && !strStop[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, b[start:i]...)
			dst = append(dst, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		} else {
			dst = append(dst, b[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
		}
		i++
		start = i
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}
