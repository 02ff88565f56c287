package eql

import (
	"encoding/binary"
	"math"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// KeyFunc appends an encoding of the join-key values of e to dst. ok is
// false when a key field is null or missing and not optional: null join
// keys never join, and `?field` makes null a joinable value. Equal
// encodings mean equal key tuples.
type KeyFunc func(dst []byte, e *ecs.Event) (key []byte, ok bool)

// Key encoding. The same value encodes the same way whatever the accessor
// type, so keys from different stages (by process.entity_id and by a
// generic field) compare byte for byte.
//
// One field: a string not starting with 0xFF is its raw bytes, so the
// engine can look it up in a map without allocating. Everything else is
// 0xFF followed by the tagged form below; valid UTF-8 never starts with
// 0xFF, and a string that does is tagged too, so the two never collide.
//
// Several fields: the tagged form of each, concatenated:
//
//	's' uvarint(len) bytes    string
//	'i' 8 bytes big-endian    integer, or a float with an integral value
//	'f' 8 bytes               other float (IEEE bits)
//	'b' 0|1                   boolean
//	'n'                       null (optional fields only)
//	'a' uvarint(n) elems...   array of two or more values
//	'r' uvarint(len) bytes    raw JSON
//
// A one-element array is its element and an empty array is null, as in
// Elasticsearch's doc values. An empty string is null: the typed struct
// cannot tell "" from absent, so a generic "" is treated the same way.
// Elements inside an array are encoded as they are.
const keyTag = 0xFF

// CompileKey compiles the join keys of a sequence stage (the sequence's
// by fields followed by the stage's).
func CompileKey(fields []*Field) (KeyFunc, error) {
	if len(fields) == 0 {
		return func(dst []byte, _ *ecs.Event) ([]byte, bool) { return dst, true }, nil
	}
	for _, f := range fields {
		if f == nil || f.Path == "" {
			return nil, errorf(Pos{Line: 1, Col: 1}, "empty join key")
		}
	}
	if len(fields) == 1 {
		acc, opt := ecs.Lookup(fields[0].Path), fields[0].Optional
		get := acc.Get
		if acc.Type == ecs.TypeString {
			str := acc.Str
			return func(dst []byte, e *ecs.Event) ([]byte, bool) {
				if s, ok := str(e); ok && s != "" {
					return appendSingleString(dst, s), true
				}
				v := get(e)
				return appendSingle(dst, &v, opt)
			}, nil
		}
		return func(dst []byte, e *ecs.Event) ([]byte, bool) {
			v := get(e)
			return appendSingle(dst, &v, opt)
		}, nil
	}
	encs := make([]func([]byte, *ecs.Event) ([]byte, bool), len(fields))
	for i, f := range fields {
		encs[i] = taggedEncoder(ecs.Lookup(f.Path), f.Optional)
	}
	return func(dst []byte, e *ecs.Event) ([]byte, bool) {
		for _, enc := range encs {
			var ok bool
			if dst, ok = enc(dst, e); !ok {
				return dst, false
			}
		}
		return dst, true
	}, nil
}

// taggedEncoder appends the tagged form of one key field, through the typed
// accessor when there is one.
func taggedEncoder(acc ecs.Accessor, opt bool) func([]byte, *ecs.Event) ([]byte, bool) {
	get := acc.Get
	generic := func(dst []byte, e *ecs.Event) ([]byte, bool) {
		v := get(e)
		normalizeKey(&v)
		if v.Kind == ecs.KindNull && !opt {
			return dst, false
		}
		return appendTagged(dst, &v), true
	}
	switch acc.Type {
	case ecs.TypeString:
		str := acc.Str
		return func(dst []byte, e *ecs.Event) ([]byte, bool) {
			if s, ok := str(e); ok && s != "" {
				return appendTaggedString(dst, s), true
			}
			return generic(dst, e)
		}
	case ecs.TypeInt:
		i := acc.Int
		return func(dst []byte, e *ecs.Event) ([]byte, bool) {
			if v, ok := i(e); ok {
				return binary.BigEndian.AppendUint64(append(dst, 'i'), uint64(v)), true
			}
			return generic(dst, e)
		}
	case ecs.TypeBool:
		i := acc.Int
		return func(dst []byte, e *ecs.Event) ([]byte, bool) {
			if v, ok := i(e); ok {
				return append(dst, 'b', byte(v&1)), true
			}
			return generic(dst, e)
		}
	}
	return generic
}

func appendSingleString(dst []byte, s string) []byte {
	if len(s) > 0 && s[0] == keyTag {
		return appendTaggedString(append(dst, keyTag), s)
	}
	return append(dst, s...)
}

func appendSingle(dst []byte, v *ecs.Value, opt bool) ([]byte, bool) {
	normalizeKey(v)
	switch v.Kind {
	case ecs.KindNull:
		if !opt {
			return dst, false
		}
	case ecs.KindString:
		return appendSingleString(dst, v.Str), true
	}
	return appendTagged(append(dst, keyTag), v), true
}

// normalizeKey maps one-element arrays to their element and empty arrays
// and empty strings to null.
func normalizeKey(v *ecs.Value) {
	switch v.Kind {
	case ecs.KindStrings:
		switch len(v.Strs) {
		case 0:
			*v = ecs.Null
		case 1:
			*v = ecs.String(v.Strs[0])
		}
	case ecs.KindList:
		switch len(v.List) {
		case 0:
			*v = ecs.Null
		case 1:
			*v = v.List[0]
			normalizeKey(v)
		}
	}
	if v.Kind == ecs.KindString && v.Str == "" {
		*v = ecs.Null
	}
}

func appendTaggedString(dst []byte, s string) []byte {
	dst = append(dst, 's')
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTagged(dst []byte, v *ecs.Value) []byte {
	switch v.Kind {
	case ecs.KindString:
		return appendTaggedString(dst, v.Str)
	case ecs.KindInt:
		return binary.BigEndian.AppendUint64(append(dst, 'i'), uint64(v.Int))
	case ecs.KindFloat:
		f := v.Float
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return binary.BigEndian.AppendUint64(append(dst, 'i'), uint64(int64(f)))
		}
		return binary.BigEndian.AppendUint64(append(dst, 'f'), math.Float64bits(f))
	case ecs.KindBool:
		return append(dst, 'b', byte(v.Int&1))
	case ecs.KindStrings:
		dst = append(dst, 'a')
		dst = binary.AppendUvarint(dst, uint64(len(v.Strs)))
		for _, s := range v.Strs {
			dst = appendTaggedString(dst, s)
		}
		return dst
	case ecs.KindList:
		dst = append(dst, 'a')
		dst = binary.AppendUvarint(dst, uint64(len(v.List)))
		for i := range v.List {
			dst = appendTagged(dst, &v.List[i])
		}
		return dst
	case ecs.KindRaw:
		dst = append(dst, 'r')
		dst = binary.AppendUvarint(dst, uint64(len(v.Str)))
		return append(dst, v.Str...)
	}
	return append(dst, 'n')
}
