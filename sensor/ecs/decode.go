package ecs

import (
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
// lines (member predictions) only makes decoding faster, never
// different. The scanning methods take the read offset i
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

	pred *[nNodes]memberPredictions // see learn; made by decode
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
				if ns, ok := parseTime(buf[vs:ve]); ok {
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
			if ns, ok := parseTime(bytesOf(s)); ok {
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

// keep copies b into the arena and returns it as a string.
func (d *decoder) keep(b []byte) string {
	d.reserve(len(b))
	n := len(d.arena)
	d.arena = append(d.arena, b...)
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
