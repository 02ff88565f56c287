package ecs

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// maxDepth bounds nesting in Decode: objects nest at most maxDepth deep
// (the top-level object is 1), and a value inside an array at most
// maxDepth deep counted from that array. The two counts are separate so
// that an array keeps its meaning wherever AppendJSON places it; the
// recursion is bounded either way.
const maxDepth = 64

// SyntaxError is a malformed JSON line. Offset is the byte offset in the
// line where the problem was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "ecs: offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Decode decodes one JSON object (an ndjson line) into e, which the caller
// passes zeroed. It accepts nested objects, dotted keys and any mix of the
// two ({"process.name":"x","host":{"os.type":"macos"}}).
//
// A typed path whose JSON value has the typed field's type fills the typed
// field: strings; arrays of strings for event.category, event.type,
// process.args and process.parent.args (a single string there becomes a
// one-element array, as in Elasticsearch); integers for pids, ports,
// args_count and sequence; a boolean for
// process.Ext.command_line_truncated; and for @timestamp, event.created and
// process.start an RFC 3339 / ISO 8601 string or epoch milliseconds (a
// number or a numeric string; see parseTime). Any other value of a typed
// path, and every other path, goes to e.Fields: a string is KindString
// (an empty string too, so that it stays present), an integer KindInt
// (outside int64: KindFloat), another number KindFloat (outside float64:
// KindRaw with its text), a boolean KindBool, an array of strings
// KindStrings (an empty array: an empty non-nil slice), an array of other
// scalars KindList, an array holding objects or arrays KindRaw with its
// JSON text (compacted, invalid UTF-8 escaped as in AppendJSON). A null is
// a missing field and is dropped; so is an empty object.
//
// When a path occurs twice, the later value wins, except that a typed
// value wins over a value of the wrong type for that path.
//
// The line is copied once into memory owned by e; e's strings point into
// that copy, so the caller may reuse line. A malformed line returns a
// *SyntaxError and leaves e partly filled. Hostile input cannot make
// Decode panic or recurse without bound (see maxDepth).
func Decode(line []byte, e *Event) error {
	p := decoderPool.Get().(*decoder)
	// Work on a copy on the stack: the many pointer stores of a decode
	// then need no GC write barriers.
	d := *p
	err := d.decodeCopy(line, e)
	*p = d
	decoderPool.Put(p)
	return err
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// decoder is the reusable state of Decode and of a Reader. Its scratch
// slices (key, fields, vals, strScratch) are reused across lines. buf is
// the line being decoded; arena, strs and slab are the memory handed to
// events: with shared, chunks that successive events of a Reader share;
// without, the memory of one event (Decode). What it learns from earlier
// lines (member predictions; with shared, shapes) only makes decoding
// faster, never different. The scanning methods take the read offset i
// and return the offset after what they read.
type decoder struct {
	buf    []byte   // the line; the event's strings alias it
	arena  []byte   // memory for unescaped strings and built paths
	strs   []string // memory for string arrays
	slab   Fields   // memory for Event.Fields (shared only)
	shared bool
	e      *Event
	used   int // arena bytes used for this line
	hint   int // arena bytes used for the previous line (Decode)

	// The member being decoded: the keys of the objects open down to it
	// (its dotted path, built only for a generic field) and its typed
	// slot, found by walking the trie of typed paths, or -1.
	spans  []span // spans[:depth]; len maxDepth
	depth  int
	slot   int
	shadow bool   // a typed path went to fields
	key    []byte // an unescaped key

	fields     Fields
	vals       []Value
	strScratch []string

	pred *[nNodes]memberPredictions // see learn; made by decodeGeneral

	// Shapes (see shape); shared only.
	shapes    []*shape
	lines     uint64 // lines decoded by a shape or tried
	maxFields int    // the most fields of a shape
	nstrs     int    // string-array elements used by runShape, after len(strs)
	misses    int    // lines since the last shape was learned, none matching
	learnGap  int    // misses before the next attempt to learn a shape

	minute minuteMemo // the last time's minute
}

// span is one object key in buf: buf[start:end], escaped if esc.
type span struct {
	start, end int
	esc        bool
}

// decodeCopy decodes a copy of line into e, with memory of e's own: one
// allocation holds the line and room for unescaped strings and the dotted
// paths of nested generic fields, sized by the previous line.
func (d *decoder) decodeCopy(line []byte, e *Event) error {
	n := len(line)
	mem := make([]byte, n+min(d.hint, n+64))
	copy(mem, line)
	d.arena = mem[n:n]
	d.strs = nil
	err := d.decode(mem[:n:n], e)
	d.hint = d.used
	d.arena, d.strs = nil, nil
	return err
}

// decode decodes line into e. The line must outlive e unchanged: e's
// strings alias it.
func (d *decoder) decode(line []byte, e *Event) error {
	if d.shared && d.decodeShaped(line, e) {
		return nil
	}
	err := d.decodeGeneral(line, e)
	if err == nil && d.shared {
		d.noShape(line, e)
	}
	return err
}

// decodeGeneral decodes line into e with the general parser.
func (d *decoder) decodeGeneral(line []byte, e *Event) error {
	d.buf = line
	if d.spans == nil {
		d.spans = make([]span, maxDepth)
		d.pred = new([nNodes]memberPredictions)
	}
	d.e = e
	d.used = 0
	d.shadow = false

	err := d.top()
	if err == nil {
		d.finish()
	}
	clear(d.fields)
	d.fields = d.fields[:0]
	clear(d.vals[:cap(d.vals)])
	d.vals = d.vals[:0]
	clear(d.strScratch[:cap(d.strScratch)])
	d.strScratch = d.strScratch[:0]
	d.buf, d.e = nil, nil
	return err
}

func (d *decoder) top() error {
	buf := d.buf
	i := skipSpace(buf, 0)
	if i >= len(buf) {
		return d.errEOF()
	}
	if buf[i] != '{' {
		return d.errAt(i, "expected object")
	}
	i, err := d.object(i, 1, 0)
	if err != nil {
		return err
	}
	if i = skipSpace(buf, i); i < len(buf) {
		return d.errChar(i, "after top-level value")
	}
	return nil
}

// finish sorts the generic fields, keeps the last of equal paths, drops
// those shadowed by a typed value and gives the event an exact-size copy.
func (d *decoder) finish() {
	fs := d.fields
	if len(fs) == 0 {
		return
	}
	for i := 1; i < len(fs); i++ {
		if fs[i].Path <= fs[i-1].Path {
			slices.SortStableFunc(fs, func(a, b Field) int { return strings.Compare(a.Path, b.Path) })
			break
		}
	}
	out := fs[:0]
	for i := range fs {
		if i+1 < len(fs) && fs[i+1].Path == fs[i].Path {
			continue
		}
		if d.shadow {
			if s := slotOf(fs[i].Path); s >= 0 && slots[s].present(d.e) {
				continue
			}
		}
		out = append(out, fs[i])
	}
	if len(out) > 0 {
		d.setFields(out)
	}
}

// setFields gives the event a copy of fs as its Fields.
func (d *decoder) setFields(fs Fields) {
	if !d.shared {
		d.e.Fields = append(Fields(nil), fs...)
		return
	}
	if cap(d.slab)-len(d.slab) < len(fs) {
		d.slab = make(Fields, 0, max(len(fs), 256))
	}
	l := len(d.slab)
	d.slab = append(d.slab, fs...)
	d.e.Fields = d.slab[l:len(d.slab):len(d.slab)]
}

// Errors.

func (d *decoder) errAt(i int, msg string) error { return &SyntaxError{Offset: i, Msg: msg} }

func (d *decoder) errEOF() error {
	return &SyntaxError{Offset: len(d.buf), Msg: "unexpected end of input"}
}

// errChar reports the byte at i as unexpected, or the end of input.
func (d *decoder) errChar(i int, context string) error {
	if i >= len(d.buf) {
		return d.errEOF()
	}
	return d.errAt(i, "invalid character "+quoteChar(d.buf[i])+" "+context)
}

func (d *decoder) errDepth(i int) error {
	return d.errAt(i, "nesting deeper than "+strconv.Itoa(maxDepth))
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	}
	return "'\\x" + string(hexDigits[c>>4]) + string(hexDigits[c&0xf]) + "'"
}

// Scanning.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the offset of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// object decodes the object whose '{' is at i, at nesting depth depth;
// node is the trie node of its path, or -1 when no typed path lies below.
//
// The loop inlines the common cases, which make no call: a key without
// escapes, found in keyTable, and a value going to its typed field, as a
// string without escapes, a time in a string, a plain positive integer or
// an array of such strings. Anything else goes through leaf, from the
// value's first byte, which decodes it with every check; so does a fast
// path that meets something it does not expect, before it has stored
// anything. The Go compiler spills registers around every call, and calls
// per member were most of the cost.
func (d *decoder) object(i, depth, node int) (int, error) {
	if depth > maxDepth {
		return i, d.errDepth(i)
	}
	buf := d.buf
	i = skipSpace(buf, i+1)
	if i < len(buf) && buf[i] == '}' {
		return i + 1, nil
	}
	var err error
	var pred *memberPredictions
	if node >= 0 {
		pred = &d.pred[node]
	}
	for k := 0; ; k++ {
		if i >= len(buf) || buf[i] != '"' {
			return i, d.errChar(i, "looking for beginning of object key string")
		}
		ks := i + 1
		var ke, cn, cs int
		var esc bool
		// The member's key: as predicted (match, inlined), or read.
		var p *prediction
		if pred != nil && k < maxPredicted && ks+16 <= len(buf) {
			if q := &pred[k]; q.n != 0 && load64(buf, ks)&q.m0 == q.w0 && load64(buf, ks+8)&q.m1 == q.w1 {
				p = q
			}
		}
		if p != nil {
			// The key and its colon as in an earlier line.
			ke, cn, cs = ks+int(p.n)-2, int(p.node), int(p.slot)
			i = ke + 2
		} else {
			if ke, esc, cn, cs, err = d.readKey(ks, node); err != nil {
				return ke, err
			}
			if !esc && pred != nil && k < maxPredicted {
				pred.learn(k, buf, ks, ke, cn, cs)
			}
			i = ke + 1
			if i < len(buf) && buf[i] == ':' {
				i++
			} else {
				if i = skipSpace(buf, i); i >= len(buf) || buf[i] != ':' {
					return i, d.errChar(i, "after object key")
				}
				i++
			}
		}
		if i < len(buf) && buf[i] <= ' ' {
			i = skipSpace(buf, i)
		}
		if i >= len(buf) {
			return i, d.errEOF()
		}
		switch c := buf[i]; {
		case c == '"':
			if cs < 0 {
				break
			}
			// A string value, as scanString does it.
			vs := i + 1
			ve := scanWords(buf, vs)
			if ve >= len(buf) || buf[ve] != '"' {
				break
			}
			switch sl := &slots[cs]; sl.kind {
			case slotString:
				if ve > vs {
					*(*string)(sl.at(d.e)) = unsafe.String(&buf[vs], ve-vs)
					i = ve + 1
					goto next
				}
			case slotTime:
				if ns, ok := d.minute.parseTime(buf[vs:ve]); ok {
					*(*int64)(sl.at(d.e)) = ns
					d.e.Has |= sl.bit
					i = ve + 1
					goto next
				}
			}
		case c >= '1' && c <= '9':
			if cs < 0 || slots[cs].kind != slotInt {
				break
			}
			// At most 18 digits always fit in an int64; the number must
			// end there (no fraction, no exponent) to be an integer.
			j, end := i, min(i+18, len(buf))
			var v int64
			for j < end && buf[j]-'0' <= 9 {
				v = v*10 + int64(buf[j]-'0')
				j++
			}
			if j < len(buf) {
				if c := buf[j]; c-'0' > 9 && c != '.' && c != 'e' && c != 'E' {
					sl := &slots[cs]
					*(*int64)(sl.at(d.e)) = v
					d.e.Has |= sl.bit
					i = j
					goto next
				}
			}
		case c == '[':
			if cs >= 0 && slots[cs].kind == slotStrings {
				if j, ok := d.typedStrings(i, cs); ok {
					i = j
					goto next
				}
			}
		case c == '{':
			d.spans[depth-1] = span{ks, ke, esc}
			if i, err = d.object(i, depth+1, cn); err != nil {
				return i, err
			}
			goto next
		}
		d.spans[depth-1] = span{ks, ke, esc}
		d.slot, d.depth = cs, depth
		if i, err = d.leaf(i); err != nil {
			return i, err
		}
	next:
		if i < len(buf) && buf[i] <= ' ' {
			i = skipSpace(buf, i)
		}
		if i >= len(buf) {
			return i, d.errEOF()
		}
		switch buf[i] {
		case ',':
			i++
			if i < len(buf) && buf[i] <= ' ' {
				i = skipSpace(buf, i)
			}
		case '}':
			return i + 1, nil
		default:
			return i, d.errChar(i, "after object key:value pair")
		}
	}
}

// readKey reads the key whose content starts at ks, in an object at trie node
// node: it returns the offset of its closing quote, whether it holds
// escapes, and its trie node and typed slot (-1 if none).
func (d *decoder) readKey(ks, node int) (ke int, esc bool, cn, cs int, err error) {
	buf := d.buf
	// As scanString does it.
	ke = scanWords(buf, ks)
	if ke >= len(buf) || buf[ke] != '"' {
		if ke, esc, err = d.scanSlow(ke); err != nil {
			return ke, false, -1, -1, err
		}
	}
	if node < 0 {
		return ke, esc, -1, -1, nil
	}
	if esc {
		d.key = unescape(d.key[:0], buf[ks:ke])
		cn, cs = walk(node, d.key)
		return ke, esc, cn, cs, nil
	}
	cn, cs = lookup(node, buf, ks, ke)
	return ke, esc, cn, cs, nil
}

// Member prediction. Lines of one stream share their shape: the same keys
// in the same order. For each trie node, the decoder remembers the k-th
// member of the last object decoded there: the bytes `key":` and what the
// key led to. When the next line has the same bytes at the same place,
// object takes the key as known, skipping its scan, its lookup and the
// colon. The bytes include the closing quote, and a remembered key has no
// escape, quote or control character, so a match means the very same key,
// and the node and slot are those lookup would give. (Remembering two
// shapes per member, for streams alternating process and network events,
// cost more in the extra compare than it saved in misses.)
const maxPredicted = 16 // members predicted per object

// prediction is one remembered member: the bytes `key":` as two
// little-endian words with their masks (so at most 16 bytes: keys of up to
// 14), their length, and the key's trie node and typed slot.
type prediction struct {
	w0, w1 uint64
	m0, m1 uint64
	n      uint8 // 0: nothing remembered
	node   int8
	slot   int8
}

type memberPredictions [maxPredicted]prediction

// learn remembers member k, whose key is buf[ks:ke], if `key":` fits in
// 16 bytes and the colon follows the key at once.
func (p *memberPredictions) learn(k int, buf []byte, ks, ke, cn, cs int) {
	n := ke - ks + 2
	if n > 16 || ke+1 >= len(buf) || buf[ke+1] != ':' {
		return
	}
	var b [16]byte
	copy(b[:], buf[ks:ke+2])
	q := prediction{
		w0:   binary.LittleEndian.Uint64(b[:8]),
		w1:   binary.LittleEndian.Uint64(b[8:]),
		n:    uint8(n),
		node: int8(cn),
		slot: int8(cs),
	}
	for j := range n {
		if j < 8 {
			q.m0 |= 0xff << (8 * j)
		} else {
			q.m1 |= 0xff << (8 * (j - 8))
		}
	}
	p[k] = q
}

// typedStrings is object's fast path for an array of strings without
// escapes, written compactly, going to the typed string-array slot cs: the
// strings go straight into the event's memory for string arrays. If the
// array is anything else, or that memory is full, it reports false having
// stored nothing, and leaf decodes the array.
func (d *decoder) typedStrings(i, cs int) (int, bool) {
	buf := d.buf
	free := d.strs[len(d.strs):cap(d.strs)]
	n := 0
	j := i + 1
	if j >= len(buf) || buf[j] != '"' {
		return i, false
	}
	for {
		vs := j + 1
		ve := scanWords(buf, vs)
		if ve >= len(buf) || buf[ve] != '"' || n == len(free) {
			return i, false
		}
		free[n] = stringOf(buf[vs:ve])
		n++
		j = ve + 1
		if j >= len(buf) {
			return i, false
		}
		if buf[j] == ']' {
			break
		}
		if buf[j] != ',' || j+1 >= len(buf) || buf[j+1] != '"' {
			return i, false
		}
		j++
	}
	l := len(d.strs)
	d.strs = d.strs[:l+n]
	*(*[]string)(slots[cs].at(d.e)) = d.strs[l : l+n : l+n]
	return j + 1, true
}

// leaf decodes the non-object value at i into the current member.
func (d *decoder) leaf(i int) (int, error) {
	switch c := d.buf[i]; {
	case c == '"':
		end, esc, err := d.scanString(i)
		if err != nil {
			return end, err
		}
		d.setString(d.str(i+1, end, esc))
		return end + 1, nil
	case c == '[':
		return d.array(i)
	case c == '-' || (c >= '0' && c <= '9'):
		v, next, err := d.number(i)
		if err != nil {
			return next, err
		}
		d.setNumber(v)
		return next, nil
	case c == 't':
		next, err := d.literal(i, "true")
		if err == nil {
			d.setBool(true)
		}
		return next, err
	case c == 'f':
		next, err := d.literal(i, "false")
		if err == nil {
			d.setBool(false)
		}
		return next, err
	case c == 'n':
		return d.literal(i, "null")
	}
	return i, d.errChar(i, "looking for beginning of value")
}

// setString stores a string in the current member.
func (d *decoder) setString(s string) {
	if id := d.slot; id >= 0 {
		sl := &slots[id]
		switch sl.kind {
		case slotString:
			if s != "" {
				*(*string)(sl.at(d.e)) = s
				return
			}
		case slotStrings:
			ss := d.strings(1)
			ss[0] = s
			*(*[]string)(sl.at(d.e)) = ss
			return
		case slotTime:
			if ns, ok := d.minute.parseTime(bytesOf(s)); ok {
				*(*int64)(sl.at(d.e)) = ns
				d.e.Has |= sl.bit
				return
			}
		}
		d.shadow = true
	}
	d.generic(Value{Kind: KindString, Str: s})
}

// setNumber stores a number in the current member.
func (d *decoder) setNumber(v Value) {
	if id := d.slot; id >= 0 {
		sl := &slots[id]
		switch sl.kind {
		case slotInt:
			if v.Kind == KindInt {
				*(*int64)(sl.at(d.e)) = v.Int
				d.e.Has |= sl.bit
				return
			}
		case slotTime:
			if ns, ok := numberTime(v); ok {
				*(*int64)(sl.at(d.e)) = ns
				d.e.Has |= sl.bit
				return
			}
		}
		d.shadow = true
	}
	d.generic(v)
}

// numberTime reads a JSON number as epoch milliseconds. The decision
// depends on the number's value, not on how the line spelled it (1e3,
// 1000, 1000.0 alike), so that a number kept in Fields is still kept
// there when AppendJSON's rendering of it is decoded again: an integer
// counts when its nanoseconds fit int64; a float when its shortest
// decimal form has at most six fractional digits (whole nanoseconds).
func numberTime(v Value) (int64, bool) {
	switch v.Kind {
	case KindInt:
		if v.Int > math.MaxInt64/1_000_000 || v.Int < math.MinInt64/1_000_000 {
			return 0, false
		}
		return v.Int * 1e6, true
	case KindFloat:
		if math.Abs(v.Float) >= 1e16 {
			return 0, false
		}
		var b [40]byte
		return parseEpochMillis(strconv.AppendFloat(b[:0], v.Float, 'f', -1, 64))
	}
	return 0, false
}

func (d *decoder) setBool(b bool) {
	if id := d.slot; id >= 0 {
		sl := &slots[id]
		if sl.kind == slotBool {
			*(*bool)(sl.at(d.e)) = b
			d.e.Has |= sl.bit
			return
		}
		d.shadow = true
	}
	d.generic(Bool(b))
}

// generic appends v to the generic fields under the current member's
// dotted path. A top-level key without escapes is its own path and is
// aliased; any other path is built in the arena.
func (d *decoder) generic(v Value) {
	var p string
	if sp := d.spans[:d.depth]; len(sp) == 1 && !sp[0].esc {
		p = stringOf(d.buf[sp[0].start:sp[0].end])
	} else {
		n := len(sp) - 1
		for _, k := range sp {
			n += k.end - k.start
		}
		d.reserve(n)
		start := len(d.arena)
		for j, k := range sp {
			if j > 0 {
				d.arena = append(d.arena, '.')
			}
			if k.esc {
				d.arena = unescape(d.arena, d.buf[k.start:k.end])
			} else {
				d.arena = append(d.arena, d.buf[k.start:k.end]...)
			}
		}
		p = stringOf(d.arena[start:])
	}
	d.fields = append(d.fields, Field{Path: p, Value: v})
}

// array decodes the array at i into the current member.
func (d *decoder) array(i int) (int, error) {
	buf := d.buf
	start := i
	i = skipSpace(buf, i+1)
	strs, vals := d.strScratch[:0], d.vals[:0]
	raw, list := false, false
	if i < len(buf) && buf[i] == ']' {
		i++
	} else {
		for {
			if i >= len(buf) {
				return i, d.errEOF()
			}
			var err error
			var v Value
			switch c := buf[i]; {
			case c == '"':
				var end int
				var esc bool
				if end, esc, err = d.scanString(i); err != nil {
					return end, err
				}
				s := d.str(i+1, end, esc)
				i = end + 1
				if list {
					vals = append(vals, Value{Kind: KindString, Str: s})
				} else {
					strs = append(strs, s)
				}
				goto next
			case c == '{' || c == '[':
				i, err = d.skip(i, 2)
				raw = true
				goto next
			case c == '-' || (c >= '0' && c <= '9'):
				v, i, err = d.number(i)
			case c == 't' || c == 'f' || c == 'n':
				v, i, err = d.scalarLiteral(i)
			default:
				err = d.errChar(i, "looking for beginning of value")
			}
			if !list {
				list = true
				for _, s := range strs {
					vals = append(vals, Value{Kind: KindString, Str: s})
				}
			}
			vals = append(vals, v)
		next:
			if err != nil {
				return i, err
			}
			if i = skipSpace(buf, i); i >= len(buf) {
				return i, d.errEOF()
			}
			if buf[i] == ']' {
				i++
				break
			}
			if buf[i] != ',' {
				return i, d.errChar(i, "after array element")
			}
			i = skipSpace(buf, i+1)
		}
	}
	d.strScratch, d.vals = strs, vals
	if !raw && !list {
		ss := d.strings(len(strs))
		copy(ss, strs)
		if id := d.slot; id >= 0 {
			if sl := &slots[id]; sl.kind == slotStrings {
				*(*[]string)(sl.at(d.e)) = ss
				return i, nil
			}
		}
		d.slotMiss()
		d.generic(Value{Kind: KindStrings, Strs: ss})
		return i, nil
	}
	d.slotMiss()
	if raw {
		d.generic(Value{Kind: KindRaw, Str: d.raw(buf[start:i])})
	} else {
		d.generic(Value{Kind: KindList, List: slices.Clone(vals)})
	}
	return i, nil
}

// slotMiss notes that a typed path's value went to the generic fields.
func (d *decoder) slotMiss() {
	if d.slot >= 0 {
		d.shadow = true
	}
}

// skip validates and skips the value at i, an element of an array, at
// array nesting depth depth.
func (d *decoder) skip(i, depth int) (int, error) {
	if depth > maxDepth {
		return i, d.errDepth(i)
	}
	buf := d.buf
	switch c := buf[i]; {
	case c == '"':
		end, _, err := d.scanString(i)
		return end + 1, err
	case c == '-' || (c >= '0' && c <= '9'):
		_, next, err := d.number(i)
		return next, err
	case c == 't' || c == 'f' || c == 'n':
		_, next, err := d.scalarLiteral(i)
		return next, err
	case c == '{' || c == '[':
		end, what := byte('}'), "after object key:value pair"
		if c == '[' {
			end, what = ']', "after array element"
		}
		i = skipSpace(buf, i+1)
		if i < len(buf) && buf[i] == end {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(buf) || buf[i] != '"' {
					return i, d.errChar(i, "looking for beginning of object key string")
				}
				end, _, err := d.scanString(i)
				if err != nil {
					return end, err
				}
				if i = skipSpace(buf, end+1); i >= len(buf) || buf[i] != ':' {
					return i, d.errChar(i, "after object key")
				}
				i = skipSpace(buf, i+1)
			}
			if i >= len(buf) {
				return i, d.errEOF()
			}
			if i, err = d.skip(i, depth+1); err != nil {
				return i, err
			}
			if i = skipSpace(buf, i); i >= len(buf) {
				return i, d.errEOF()
			}
			if buf[i] == end {
				return i + 1, nil
			}
			if buf[i] != ',' {
				return i, d.errChar(i, what)
			}
			i = skipSpace(buf, i+1)
		}
	}
	return i, d.errChar(i, "looking for beginning of value")
}

// literal checks for the literal word at i.
func (d *decoder) literal(i int, word string) (int, error) {
	buf := d.buf
	for j := 0; j < len(word); j++ {
		if i >= len(buf) {
			return i, d.errEOF()
		}
		if buf[i] != word[j] {
			return i, d.errChar(i, "in literal "+word+" (expecting "+quoteChar(word[j])+")")
		}
		i++
	}
	return i, nil
}

// scalarLiteral reads true, false or null at i.
func (d *decoder) scalarLiteral(i int) (Value, int, error) {
	switch d.buf[i] {
	case 't':
		next, err := d.literal(i, "true")
		return Bool(true), next, err
	case 'f':
		next, err := d.literal(i, "false")
		return Bool(false), next, err
	}
	next, err := d.literal(i, "null")
	return Null, next, err
}

// number reads the JSON number at i: an integer that fits int64 is
// KindInt, any other number KindFloat, and one beyond float64 (1e400)
// KindRaw holding its text.
func (d *decoder) number(i int) (Value, int, error) {
	buf := d.buf
	start := i
	neg := false
	if buf[i] == '-' {
		neg = true
		i++
	}
	if i >= len(buf) {
		return Null, i, d.errEOF()
	}
	var u uint64
	overflow := false
	switch c := buf[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			if u > (math.MaxUint64-9)/10 {
				overflow = true
			}
			u = u*10 + uint64(buf[i]-'0')
			i++
		}
	default:
		return Null, i, d.errChar(i, "in numeric literal")
	}
	isFloat := false
	if i < len(buf) && buf[i] == '.' {
		i++
		if i >= len(buf) || buf[i] < '0' || buf[i] > '9' {
			return Null, i, d.errChar(i, "after decimal point in numeric literal")
		}
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
		isFloat = true
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		if i >= len(buf) || buf[i] < '0' || buf[i] > '9' {
			return Null, i, d.errChar(i, "in exponent of numeric literal")
		}
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
		isFloat = true
	}
	if !isFloat && !overflow {
		if !neg && u <= math.MaxInt64 {
			return Value{Kind: KindInt, Int: int64(u)}, i, nil
		}
		if neg && u <= 1<<63 {
			return Value{Kind: KindInt, Int: int64(-u)}, i, nil
		}
	}
	text := stringOf(buf[start:i])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return Value{Kind: KindRaw, Str: text}, i, nil
	}
	return Value{Kind: KindFloat, Float: f}, i, nil
}

// strStop marks the bytes that end the fast scan of a string: the quote,
// the backslash, the control characters JSON forbids unescaped, and the
// bytes of multi-byte UTF-8 (checked one sequence at a time).
var strStop = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stopMask returns, for the eight bytes of x (little-endian), a mask whose
// lowest set bit is the high bit of the first byte in strStop; 0 if there
// is none. Per byte: (x^'"')-1 and (x^'\\')-1 set the high bit of a zero
// (a quote or a backslash), x-0x20 that of a control character, and x
// itself that of a non-ASCII byte, which also covers every other way the
// first three can set it. Only a hit borrows from the byte above it, so
// false hits lie above the first true one and the lowest bit is exact.
func stopMask(x uint64) uint64 {
	return (((x ^ (lsb * '"')) - lsb) | ((x ^ (lsb * '\\')) - lsb) | (x - lsb*0x20) | x) & msb
}

// scanWords returns the offset of the first byte at or after i that is in
// strStop, reading eight bytes at a time; when fewer than eight bytes are
// left before one is found, the offset of the first of them (len(b) at
// most), the caller checking that byte and those after it itself. Every
// byte before the offset returned is plain. It is small enough to be
// inlined: the decoder's inner loops have no call in them.
func scanWords(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := stopMask(load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// load64 reads the eight bytes b[i:i+8] as a little-endian word; the
// caller has checked i+8 <= len(b).
func load64(b []byte, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))[:])
}

// scanString validates the string whose opening quote is at i. It returns
// the offset of the closing quote (the content is buf[i+1:end]) and
// whether the content must be rewritten (then unescape gives the value):
// it holds escapes or invalid UTF-8. On error, end is the offset of the
// problem.
//
// The fast path reads eight bytes at a time to the first quote,
// backslash, control character or non-ASCII byte; scanSlow takes over at
// anything but a quote.
func (d *decoder) scanString(i int) (end int, esc bool, err error) {
	buf := d.buf
	j := scanWords(buf, i+1)
	if j < len(buf) && buf[j] == '"' {
		return j, false, nil
	}
	return d.scanSlow(j)
}

// scanSlow continues scanString from j.
//
// Escapes are checked here: \u needs four hex digits, and a UTF-16
// surrogate must be a high one followed by an escaped low one (a lone
// surrogate names no character and is an error). Invalid UTF-8 is not an
// error: unescape writes each invalid byte as the text \xNN, as
// AppendJSON does, so a decoded event holds valid UTF-8 only.
func (d *decoder) scanSlow(j int) (end int, esc bool, err error) {
	buf := d.buf
	for {
		j = scanWords(buf, j)
		for j < len(buf) && !strStop[buf[j]] {
			j++
		}
		if j >= len(buf) {
			return j, false, d.errEOF()
		}
		switch c := buf[j]; {
		case c == '"':
			return j, esc, nil
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(buf[j:])
			if r == utf8.RuneError && size == 1 {
				esc = true
			}
			j += size
		case c == '\\':
			esc = true
			if j+1 >= len(buf) {
				return j + 1, false, d.errEOF()
			}
			switch buf[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				r, ok := hex4(buf, j+2)
				if !ok {
					if j+6 > len(buf) {
						return j, false, d.errEOF()
					}
					return j, false, d.errAt(j, "invalid \\u escape")
				}
				switch {
				case r >= 0xd800 && r < 0xdc00:
					if r2, ok := hex4(buf, j+8); ok && buf[j+6] == '\\' && buf[j+7] == 'u' && r2 >= 0xdc00 && r2 < 0xe000 {
						j += 12
						continue
					}
					return j, false, d.errAt(j, "lone surrogate in \\u escape")
				case r >= 0xdc00 && r < 0xe000:
					return j, false, d.errAt(j, "lone surrogate in \\u escape")
				}
				j += 6
			default:
				return j + 1, false, d.errChar(j+1, "in string escape code")
			}
		default:
			return j, false, d.errChar(j, "in string literal")
		}
	}
}

// hex4 parses four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the value of the string content src, which
// scanString has validated, to dst: escapes resolved, and each byte of
// invalid UTF-8 written as the four characters \xNN.
func unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		j := i
		for j < len(src) && src[j] != '\\' && src[j] < utf8.RuneSelf {
			j++
		}
		dst = append(dst, src[i:j]...)
		if j == len(src) {
			break
		}
		if c := src[j]; c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(src[j:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				dst = append(dst, src[j:j+size]...)
			}
			i = j + size
			continue
		}
		switch c := src[j+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(src, j+2)
			if r >= 0xd800 && r < 0xdc00 {
				r2, _ := hex4(src, j+8)
				r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
				j += 6
			}
			dst = utf8.AppendRune(dst, r)
			i = j + 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i = j + 2
	}
	return dst
}

// Memory owned by the event.

// str returns the string content buf[start:end] as a string aliasing the
// event's memory, rewritten into the arena when scanString said so.
func (d *decoder) str(start, end int, esc bool) string {
	if !esc {
		return stringOf(d.buf[start:end])
	}
	d.reserve(end - start)
	n := len(d.arena)
	d.arena = unescape(d.arena, d.buf[start:end])
	return stringOf(d.arena[n:])
}

// reserve makes room for n more bytes in the arena. A full arena is
// replaced, never grown: strings already handed out keep pointing into the
// old one.
func (d *decoder) reserve(n int) {
	d.used += n
	if cap(d.arena)-len(d.arena) < n {
		size := max(n, 256, len(d.buf)/2)
		if d.shared {
			size = max(n, 16<<10)
		}
		d.arena = make([]byte, 0, size)
	}
}

// strings returns a slice of n strings from the event's slab.
func (d *decoder) strings(n int) []string {
	if n == 0 {
		return []string{}
	}
	if cap(d.strs)-len(d.strs) < n {
		size := max(n, 16)
		if d.shared {
			size = max(n, 512)
		}
		d.strs = make([]string, 0, size)
	}
	l := len(d.strs)
	d.strs = d.strs[:l+n]
	return d.strs[l : l+n : l+n]
}

// raw returns the JSON text of an array holding objects or arrays, as
// AppendJSON writes it back: compact, and valid UTF-8 (invalid bytes in
// its strings escaped as \\xNN). Text already in that form is aliased.
func (d *decoder) raw(src []byte) string {
	if isCompact(src) {
		return stringOf(src)
	}
	d.reserve(len(src) * 5)
	n := len(d.arena)
	d.arena = appendCompact(d.arena, src)
	return stringOf(d.arena[n:])
}

// isCompact reports whether the valid JSON src has no whitespace outside
// strings and is valid UTF-8.
func isCompact(src []byte) bool {
	if !utf8.Valid(src) {
		return false
	}
	inStr := false
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && isSpace(c):
			return false
		}
	}
	return true
}

// appendCompact appends the valid JSON src without whitespace outside
// strings, each invalid UTF-8 byte inside a string written as \\xNN.
func appendCompact(dst, src []byte) []byte {
	inStr := false
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				dst = append(dst, src[i:i+size]...)
			}
			i += size
			continue
		case inStr && c == '\\':
			dst = append(dst, c, src[i+1])
			i += 2
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && isSpace(c):
			i++
			continue
		}
		dst = append(dst, c)
		i++
	}
	return dst
}

func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Shapes. A Reader's lines mostly come in a few shapes: the same members
// in the same order, with the same bytes between the values. A shape is
// such a line compiled into steps: the literal bytes up to a value, then
// what to do with the value (store it in a typed field, or as a generic
// field at a known index of Fields). Decoding a line by a shape compares
// the literals word by word and scans only the values; at the first byte
// that differs, or a value the step does not take as it is (an escape, a
// non-ASCII byte, an empty string for a typed field, a time parseTime
// rejects, a fraction or an exponent), it gives up and the general parser
// decodes the line from the start. The result is the same by
// construction: a shape is compiled from a line the general parser
// decoded, only from members whose value it decodes the same way whatever
// the bytes of the value, and it is kept only if decoding that line by the
// shape gives exactly the general parser's event (FuzzDecodeWarm checks
// the same over arbitrary pairs of lines).
//
// A decoder keeps up to maxShapes shapes. Shapes of one stream share a
// prefix (process and network events agree up to the process's members):
// when a literal differs at step k, decoding goes on at step k of the
// next shape that has the same steps before k and another literal at k
// (shape.alt), without going back, so a line costs one pass whichever of
// the shapes it has. When none fits, the decoder learns the line's shape,
// evicting the least recently used, and backs off exponentially while
// learning does not pay (a stream of ever-different lines costs a compile
// once in maxLearnGap lines).
const (
	maxShapes   = 4
	maxLearnGap = 1024
	shapeStrs   = 64 // string-array elements a line decoded by a shape may have
)

type stepKind uint8

const (
	stepEnd        stepKind = iota // the closing literal; only whitespace follows
	stepString                     // typed string: a non-empty plain string
	stepTime                       // typed time: a plain string parseTime accepts
	stepInt                        // typed integer: a plain integer
	stepStrings                    // typed string array: a compact non-empty array of plain strings
	stepGenString                  // generic: a plain string
	stepGenInt                     // generic: a plain integer
	stepGenStrings                 // generic: a compact non-empty array of plain strings
)

// A plain string has no escape, no control character and no byte beyond
// ASCII: stopMask stops at its closing quote. A plain integer is 0 or
// [1-9][0-9]{0,17}, not followed by '.', 'e' or 'E': it fits int64.

type shapeStep struct {
	w     [3]uint64 // lit's first 24 bytes as little-endian words, zero-padded
	m     [3]uint64 // the masks of lit's bytes in w
	lit   string    // the bytes before the value: a string's opening quote, an array's '['
	kind  stepKind
	off   uintptr  // typed: the field's offset in Event, from slots (so in bounds, as slot.at)
	bit   Presence // typed integer and time: the presence bit
	field int      // generic: the field's index in Fields
	path  string   // generic: the field's path
	run   int      // the first of runMin or more stepString and stepStrings steps: their number (see runMemo)
	memo  *runMemo // with run
}

// Runs. The members of a line that describe its host and agent (ids,
// names, addresses, the OS's version, kernel, family, platform) are the
// same bytes on every line of that host: a run of typed strings and string
// arrays that the steps would compare and scan one by one. A runMemo
// remembers the bytes of recent runs at one step and the values they
// decoded to; a line whose bytes there equal a remembered run's, from the
// first literal to the last closing quote or bracket, takes those values
// at the cost of one comparison. The values are decoded from the bytes
// alone (stepString and stepStrings take plain strings as they are), so
// the event is the one the steps would make. A remembered run is a copy of
// its own, never rewritten: the events that took its strings may outlive
// the line and the memo's entry.
const (
	runMin    = 3
	runBits   = 4
	runSlots  = 1 << runBits // entries of a runMemo, in sets of two chosen by the run's first value
	runSample = 64           // tries in a sample: fewer than a quarter hits rest the memo
	runRest   = 16384
	runSlab   = 4096 // bytes of a runMemo's slab
)

// A hit saves some hundreds of instructions per run, a miss costs about a
// third of that and a copy of the run: a memo whose runs rarely repeat (a
// process's ids; more hosts interleaved than it has entries) rests for
// runRest lines, then samples again.
type runMemo struct {
	ents              [runSlots]runEntry
	tries, hits, rest uint32
	slab              []byte   // the runs' copies are carved from it, appended to only
	lists             []string // the arrays' elements likewise
	// The offsets in Event of the run's stepString and stepStrings
	// values, in step order: an entry's vals and lists.
	strOffs, listOffs []uintptr
}

type runEntry struct {
	text  string     // the run's bytes
	vals  []string   // the values of its stepString steps, in text
	lists [][]string // the values of its stepStrings steps, their elements in text
}

// runSet is the first of the two entries (the most recently used first)
// a run whose first literal starts at i may be in, chosen by its first
// value: its length and its first and last eight bytes (host ids and
// names often differ only at one end; the bytes after the value may not
// be the run's). The set only says where to look: a hit is the comparison
// of the whole run.
func runSet(st *shapeStep, buf []byte, i int) int {
	v := i + len(st.lit)
	e := scanWords(buf, v)
	if e >= len(buf) || buf[e] != '"' {
		return 0 // the value's last bytes, or not plain: one set will do
	}
	h := uint64(e - v)
	switch {
	case e-v >= 8:
		h ^= load64(buf, v) ^ bits.RotateLeft64(load64(buf, e-8), 31)
	case v+8 <= len(buf):
		h ^= load64(buf, v)
	}
	return int((h*0x9e3779b97f4a7c15)>>(64-runBits)) &^ 1
}

// runHit stores the strings of a remembered run at buf[i:] and returns its
// length, or returns 0 and the entry in which to remember the run the
// steps will decode (-1 while the memo rests).
func runHit(st *shapeStep, buf []byte, i int, base unsafe.Pointer) (n, record int) {
	m := st.memo
	if m.rest > 0 {
		m.rest--
		return 0, -1
	}
	if m.tries++; m.tries == runSample {
		if m.hits < runSample/4 {
			m.rest = runRest
		}
		m.tries, m.hits = 0, 0
	}
	j := runSet(st, buf, i)
	en := &m.ents[j]
	if !en.at(buf, i) {
		m.ents[j], m.ents[j+1] = m.ents[j+1], m.ents[j]
		if !en.at(buf, i) {
			return 0, j // the older entry, now first, is the one to replace
		}
	}
	m.hits++
	vals := en.vals[:len(m.strOffs)]
	for k, off := range m.strOffs {
		*(*string)(unsafe.Add(base, off)) = vals[k]
	}
	lists := en.lists[:len(m.listOffs)]
	for k, off := range m.listOffs {
		*(*[]string)(unsafe.Add(base, off)) = lists[k]
	}
	return len(en.text), -1
}

// at reports whether buf holds the entry's run at i.
func (en *runEntry) at(buf []byte, i int) bool {
	return len(en.text) > 0 && len(buf)-i >= len(en.text) && string(buf[i:i+len(en.text)]) == en.text
}

// runRecord remembers in entry j (runHit's record) the run of st decoded
// from buf[start:end]: a copy of its bytes, and its strings (which alias
// buf) moved into the copy. The copy and the arrays are carved from the
// memo's slabs, whose contents are never rewritten (append only writes
// past them).
func runRecord(st *shapeStep, j int, buf []byte, start, end int, base unsafe.Pointer) {
	m := st.memo
	en := &m.ents[j]
	n := end - start
	if cap(m.slab)-len(m.slab) < n {
		m.slab = make([]byte, 0, max(runSlab, n))
	}
	at := len(m.slab)
	m.slab = append(m.slab, buf[start:end]...)
	text := unsafe.String(&m.slab[at], n)
	from := uintptr(unsafe.Pointer(&buf[start]))
	moved := func(v string) string {
		if v == "" { // an empty element: no data to move
			return ""
		}
		at := int(uintptr(unsafe.Pointer(unsafe.StringData(v))) - from)
		return text[at : at+len(v)]
	}
	for k, off := range m.strOffs {
		en.vals[k] = moved(*(*string)(unsafe.Add(base, off)))
	}
	for k, off := range m.listOffs {
		ss := *(*[]string)(unsafe.Add(base, off))
		if cap(m.lists)-len(m.lists) < len(ss) {
			m.lists = make([]string, 0, max(runSlab/16, len(ss)))
		}
		at := len(m.lists)
		for _, v := range ss {
			m.lists = append(m.lists, moved(v))
		}
		en.lists[k] = m.lists[at:len(m.lists):len(m.lists)]
	}
	en.text = text
}

type shape struct {
	steps   []shapeStep
	alt     []*shape // per step: where to go on when its literal differs
	nfields int
	used    uint64 // when it last decoded a line, in lines
}

// matchSlow reports whether buf holds st.lit at i: runShape's literal
// compare where fewer than 24 bytes are left or the literal is longer.
func (st *shapeStep) matchSlow(buf []byte, i int) bool {
	return i+len(st.lit) <= len(buf) && string(buf[i:i+len(st.lit)]) == st.lit
}

// decodeShaped decodes line into e by one of the known shapes. It reports
// false, with e zeroed again, when none fits.
func (d *decoder) decodeShaped(line []byte, e *Event) bool {
	if len(d.shapes) == 0 {
		return false
	}
	if cap(d.strs)-len(d.strs) < shapeStrs {
		d.strs = make([]string, 0, 512)
	}
	d.lines++
	if sh := d.runShape(d.shapes[0], line, e); sh != nil {
		sh.used = d.lines
		d.learnGap = 1
		return true
	}
	*e = Event{}
	clear(d.fields)
	d.fields = d.fields[:0]
	return false
}

// runShape decodes buf into e by sh, or by the shapes its alt leads to,
// and returns the shape that fit. On nil, e is partly filled and nothing
// else has changed but the runs remembered (which hold whatever the rest
// of the line). The loop inlines the literal and the typed string, most
// of the steps, and calls out for the others.
func (d *decoder) runShape(sh *shape, buf []byte, e *Event) *shape {
	if d.maxFields > 0 {
		d.fields = slices.Grow(d.fields[:0], d.maxFields)[:d.maxFields]
	}
	d.nstrs = 0
	base := unsafe.Pointer(e)
	steps := sh.steps
	i := 0
	recFirst, recLast, recStart, recEntry := 0, -1, 0, 0 // the run being decoded to remember
	for k := 0; k < len(steps); k++ {
		st := &steps[k]
		if st.run > 0 {
			n, record := runHit(st, buf, i, base)
			if n > 0 {
				i += n
				k += st.run - 1
				continue
			}
			if record >= 0 {
				recFirst, recLast, recStart, recEntry = k, k+st.run-1, i, record
			}
		}
		var same bool
		if i+24 <= len(buf) {
			same = (load64(buf, i)^st.w[0])&st.m[0]|(load64(buf, i+8)^st.w[1])&st.m[1]|(load64(buf, i+16)^st.w[2])&st.m[2] == 0 &&
				(len(st.lit) <= 24 || st.matchSlow(buf, i))
		} else {
			same = st.matchSlow(buf, i)
		}
		if !same {
			// The steps before k are those of sh.alt[k]: go on there.
			if sh = sh.alt[k]; sh == nil {
				return nil
			}
			steps = sh.steps
			recLast = -1 // the run's later steps are another shape's
			k--
			continue
		}
		i += len(st.lit)
		if st.kind != stepString {
			var ok bool
			if i, ok = d.shapeValue(st, buf, i, e); !ok {
				return nil
			}
			if st.kind == stepEnd {
				return sh
			}
			if k == recLast {
				runRecord(&steps[recFirst], recEntry, buf, recStart, i, base)
				recLast = -1
			}
			continue
		}
		ve := scanWords(buf, i)
		if ve >= len(buf) || buf[ve] != '"' {
			ve = plainEnd(buf, ve) // the last bytes of the line, or not plain
		}
		if ve <= i { // -1: not plain; i: empty
			return nil
		}
		*(*string)(unsafe.Add(base, st.off)) = unsafe.String(&buf[i], ve-i)
		i = ve + 1
		if k == recLast {
			runRecord(&steps[recFirst], recEntry, buf, recStart, i, base)
			recLast = -1
		}
	}
	return nil // not reached: the last step is stepEnd
}

// shapeValue is runShape for the steps other than stepString: it decodes
// the value at i and returns the offset after it.
func (d *decoder) shapeValue(st *shapeStep, buf []byte, i int, e *Event) (int, bool) {
	base := unsafe.Pointer(e)
	switch st.kind {
	case stepEnd:
		if skipSpace(buf, i) != len(buf) {
			return i, false
		}
		if d.nstrs > 0 {
			d.strs = d.strs[:len(d.strs)+d.nstrs]
		}
		if n := st.field; n > 0 { // the shape's number of fields
			d.e = e
			d.setFields(d.fields[:n])
			d.e = nil
		}
		clear(d.fields)
		d.fields = d.fields[:0]
		return i, true
	case stepTime, stepGenString:
		ve := plainEnd(buf, i)
		if ve < 0 {
			return i, false
		}
		if st.kind == stepGenString {
			d.fields[st.field] = Field{Path: st.path, Value: Value{Kind: KindString, Str: stringOf(buf[i:ve])}}
			return ve + 1, true
		}
		ns, ok := d.minute.parseTime(buf[i:ve])
		if !ok {
			return i, false
		}
		*(*int64)(unsafe.Add(base, st.off)) = ns
		e.Has |= st.bit
		return ve + 1, true
	case stepInt, stepGenInt:
		v, j, ok := plainInt(buf, i)
		if !ok {
			return i, false
		}
		if st.kind == stepInt {
			*(*int64)(unsafe.Add(base, st.off)) = v
			e.Has |= st.bit
		} else {
			d.fields[st.field] = Field{Path: st.path, Value: Value{Kind: KindInt, Int: v}}
		}
		return j, true
	case stepStrings, stepGenStrings:
		strs := d.strs[len(d.strs):cap(d.strs)] // room for string arrays
		first := d.nstrs
		n := first
		for {
			if i >= len(buf) || buf[i] != '"' || n == len(strs) {
				return i, false
			}
			ve := plainEnd(buf, i+1)
			if ve < 0 {
				return i, false
			}
			strs[n] = stringOf(buf[i+1 : ve])
			n++
			i = ve + 1
			if i < len(buf) && buf[i] == ',' {
				i++
				continue
			}
			if i < len(buf) && buf[i] == ']' {
				i++
				break
			}
			return i, false
		}
		d.nstrs = n
		ss := strs[first:n:n]
		if st.kind == stepStrings {
			*(*[]string)(unsafe.Add(base, st.off)) = ss
		} else {
			d.fields[st.field] = Field{Path: st.path, Value: Value{Kind: KindStrings, Strs: ss}}
		}
		return i, true
	}
	return i, false
}

// plainInt reads the plain integer at i.
func plainInt(buf []byte, i int) (v int64, next int, ok bool) {
	j := i
	if j < len(buf) && buf[j] == '0' {
		j++
	} else {
		for end := min(i+18, len(buf)); j < end && buf[j]-'0' <= 9; j++ {
			v = v*10 + int64(buf[j]-'0')
		}
		if j == i {
			return 0, i, false
		}
	}
	if j >= len(buf) {
		return 0, i, false
	}
	if c := buf[j]; c-'0' <= 9 || c == '.' || c == 'e' || c == 'E' {
		return 0, i, false
	}
	return v, j, true
}

// noShape is called when line, decoded into e by the general parser, fit
// no shape: it learns the line's shape, unless learning has been backing
// off.
func (d *decoder) noShape(line []byte, e *Event) {
	if d.misses++; d.misses < d.learnGap {
		return
	}
	d.misses = 0
	d.learnGap = min(2*max(d.learnGap, 1), maxLearnGap)
	sh := compileShape(line)
	if sh == nil || !d.checkShape(sh, line, e) {
		return
	}
	sh.used = d.lines
	if len(d.shapes) == maxShapes {
		lru := 0
		for j, o := range d.shapes {
			if o.used < d.shapes[lru].used {
				lru = j
			}
		}
		d.shapes = slices.Delete(d.shapes, lru, lru+1)
	}
	d.shapes = append(d.shapes, sh)
	linkShapes(d.shapes)
	d.maxFields = 0
	for _, o := range d.shapes {
		d.maxFields = max(d.maxFields, o.nfields)
	}
}

// linkShapes sets the alt of every step of every shape: the first later
// shape whose steps before it are the same and whose step there differs.
// Following alt only goes forward in the list, so a line visits each shape
// at most once.
func linkShapes(shapes []*shape) {
	for j, sh := range shapes {
		sh.alt = make([]*shape, len(sh.steps))
		for _, o := range shapes[j+1:] {
			k := commonSteps(sh, o)
			if k < len(sh.steps) && k < len(o.steps) && sh.alt[k] == nil {
				sh.alt[k] = o
			}
		}
	}
}

// commonSteps returns the number of leading steps a and b have alike.
func commonSteps(a, b *shape) int {
	k := 0
	for k < len(a.steps) && k < len(b.steps) {
		x, y := &a.steps[k], &b.steps[k]
		if x.lit != y.lit || x.kind != y.kind || x.off != y.off || x.bit != y.bit || x.field != y.field || x.path != y.path {
			break
		}
		k++
	}
	return k
}

// checkShape reports whether decoding line by sh alone gives want, which
// the general parser decoded from it.
func (d *decoder) checkShape(sh *shape, line []byte, want *Event) bool {
	if cap(d.strs)-len(d.strs) < shapeStrs {
		d.strs = make([]string, 0, 512)
	}
	strs, slab, maxFields := len(d.strs), len(d.slab), d.maxFields
	d.maxFields = max(d.maxFields, sh.nfields)
	sh.alt = make([]*shape, len(sh.steps))
	var got Event
	ok := d.runShape(sh, line, &got) == sh
	clear(d.fields)
	d.fields = d.fields[:0]
	same := ok && got.Has == want.Has && bytes.Equal(got.AppendJSON(nil), want.AppendJSON(nil))
	// The check's event is dropped: take back what it used.
	d.strs, d.slab, d.maxFields = d.strs[:strs], d.slab[:slab], maxFields
	return same
}

// shapeCompiler compiles a line into a shape.
type shapeCompiler struct {
	buf   []byte
	steps []shapeStep
	spans [][2]int // the literal of each step in buf
	lit   int      // start of the pending literal
}

// compileShape returns the shape of line, which the general parser has
// decoded without error, or nil if the line holds anything a shape does
// not take: a key with an escape or beyond ASCII, a typed value the
// general parser stores elsewhere (an empty string, a time it did not
// parse, a value of another type), a value that is not a plain string, a
// plain integer or a compact non-empty array of plain strings, or two
// generic fields with one path.
func compileShape(line []byte) *shape {
	n := bytes.Count(line, []byte{':'}) + 1 // members, at most
	c := shapeCompiler{buf: line, steps: make([]shapeStep, 0, n), spans: make([][2]int, 0, n)}
	if len(line) == 0 || line[0] != '{' {
		return nil
	}
	end, ok := c.object(0, nRoot, "")
	if !ok || skipSpace(line, end) != len(line) {
		return nil
	}
	c.add(end, shapeStep{kind: stepEnd})
	c.finish()
	sh := &shape{steps: c.steps}
	last := &sh.steps[len(sh.steps)-1]
	// Generic fields go to Fields sorted by path, as finish leaves them.
	var gen []int
	for k, st := range sh.steps {
		if st.kind >= stepGenString {
			gen = append(gen, k)
		}
	}
	slices.SortFunc(gen, func(a, b int) int { return strings.Compare(sh.steps[a].path, sh.steps[b].path) })
	for j, k := range gen {
		if j > 0 && sh.steps[k].path == sh.steps[gen[j-1]].path {
			return nil
		}
		sh.steps[k].field = j
	}
	sh.nfields = len(gen)
	last.field = sh.nfields // stepEnd: the number of fields
	for k := 0; k < len(sh.steps); {
		n, arrays := 0, 0
		for ; k+n < len(sh.steps); n++ {
			if kind := sh.steps[k+n].kind; kind == stepStrings {
				arrays++
			} else if kind != stepString {
				break
			}
		}
		if n >= runMin {
			m := new(runMemo)
			for _, st := range sh.steps[k : k+n] {
				if st.kind == stepString {
					m.strOffs = append(m.strOffs, st.off)
				} else {
					m.listOffs = append(m.listOffs, st.off)
				}
			}
			vals, lists := make([]string, runSlots*(n-arrays)), make([][]string, runSlots*arrays)
			for j := range m.ents {
				m.ents[j].vals, vals = vals[:n-arrays:n-arrays], vals[n-arrays:]
				m.ents[j].lists, lists = lists[:arrays:arrays], lists[arrays:]
			}
			sh.steps[k].run, sh.steps[k].memo = n, m
		}
		k += max(n, 1)
	}
	return sh
}

// add ends the pending literal at end with step st. finish fills in its
// lit, words and last.
func (c *shapeCompiler) add(end int, st shapeStep) {
	c.spans = append(c.spans, [2]int{c.lit, end})
	c.steps = append(c.steps, st)
}

// finish gives the steps their literals, all in one string.
func (c *shapeCompiler) finish() {
	n := 0
	for _, sp := range c.spans {
		n += sp[1] - sp[0]
	}
	all := make([]byte, 0, n)
	for _, sp := range c.spans {
		all = append(all, c.buf[sp[0]:sp[1]]...)
	}
	lits := string(all)
	off := 0
	for k, sp := range c.spans {
		st := &c.steps[k]
		st.lit = lits[off : off+sp[1]-sp[0]]
		off += len(st.lit)
		var b [24]byte
		copy(b[:], st.lit)
		for j := range st.w {
			st.w[j] = binary.LittleEndian.Uint64(b[8*j:])
			for x := 8 * j; x < min(len(st.lit), 8*j+8); x++ {
				st.m[j] |= 0xff << (8 * (x - 8*j))
			}
		}
	}
}

// object compiles the object at i, at trie node node (or -1), whose
// members' paths start with prefix. It returns the offset after it.
func (c *shapeCompiler) object(i, node int, prefix string) (int, bool) {
	buf := c.buf
	i = skipSpace(buf, i+1)
	if i < len(buf) && buf[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(buf) || buf[i] != '"' {
			return i, false
		}
		ks := i + 1
		ke := plainEnd(buf, ks)
		if ke < 0 {
			return i, false
		}
		key := buf[ks:ke]
		path := string(key)
		if prefix != "" {
			path = prefix + "." + path
		}
		cn, cs := -1, -1
		if node >= 0 {
			cn, cs = walk(node, key)
		}
		if i = skipSpace(buf, ke+1); i >= len(buf) || buf[i] != ':' {
			return i, false
		}
		if i = skipSpace(buf, i+1); i >= len(buf) {
			return i, false
		}
		var ok bool
		switch c0 := buf[i]; {
		case c0 == '{':
			i, ok = c.object(i, cn, path)
		case c0 == '"':
			i, ok = c.str(i, cs, path)
		case c0 == '[':
			i, ok = c.array(i, cs, path)
		case c0 >= '0' && c0 <= '9':
			i, ok = c.integer(i, cs, path)
		}
		if !ok {
			return i, false
		}
		if i = skipSpace(buf, i); i >= len(buf) {
			return i, false
		}
		switch buf[i] {
		case ',':
			i = skipSpace(buf, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// plainEnd returns the offset of the closing quote of the plain string
// whose content starts at i, or -1 if the string is not plain.
func plainEnd(buf []byte, i int) int {
	for i = scanWords(buf, i); i < len(buf); i++ {
		if c := buf[i]; strStop[c] {
			if c == '"' {
				return i
			}
			return -1
		}
	}
	return -1
}

func (c *shapeCompiler) str(i, cs int, path string) (int, bool) {
	buf := c.buf
	ve := plainEnd(buf, i+1)
	if ve < 0 {
		return i, false
	}
	st := shapeStep{kind: stepGenString, path: path}
	if cs >= 0 {
		sl := &slots[cs]
		switch sl.kind {
		case slotString:
			if ve == i+1 {
				return i, false
			}
			st = shapeStep{kind: stepString, off: sl.off}
		case slotTime:
			if _, ok := parseTime(buf[i+1 : ve]); !ok {
				return i, false
			}
			st = shapeStep{kind: stepTime, off: sl.off, bit: sl.bit}
		default:
			return i, false
		}
	}
	c.add(i+1, st)
	c.lit = ve + 1
	return ve + 1, true
}

func (c *shapeCompiler) integer(i, cs int, path string) (int, bool) {
	_, next, ok := plainInt(c.buf, i)
	if !ok {
		return i, false
	}
	st := shapeStep{kind: stepGenInt, path: path}
	if cs >= 0 {
		sl := &slots[cs]
		if sl.kind != slotInt {
			return i, false
		}
		st = shapeStep{kind: stepInt, off: sl.off, bit: sl.bit}
	}
	c.add(i, st)
	c.lit = next
	return next, true
}

func (c *shapeCompiler) array(i, cs int, path string) (int, bool) {
	buf := c.buf
	j := i + 1
	for {
		if j >= len(buf) || buf[j] != '"' {
			return i, false
		}
		ve := plainEnd(buf, j+1)
		if ve < 0 || ve+1 >= len(buf) {
			return i, false
		}
		j = ve + 1
		if buf[j] == ']' {
			break
		}
		if buf[j] != ',' {
			return i, false
		}
		j++
	}
	st := shapeStep{kind: stepGenStrings, path: path}
	if cs >= 0 {
		sl := &slots[cs]
		if sl.kind != slotStrings {
			return i, false
		}
		st = shapeStep{kind: stepStrings, off: sl.off}
	}
	c.add(i+1, st)
	c.lit = j + 1
	return j + 1, true
}
