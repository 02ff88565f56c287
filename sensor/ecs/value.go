package ecs

import "sort"

// Kind is the type of a Value.
type Kind uint8

// The kinds of Value. KindNull is both JSON null and a missing field: EQL
// treats them alike.
const (
	KindNull    Kind = iota
	KindString       // Str
	KindInt          // Int
	KindFloat        // Float
	KindBool         // Int: 0 or 1
	KindStrings      // Strs: an array of strings
	KindList         // List: an array of mixed scalars
	KindRaw          // Str holds raw JSON (an object inside an array): kept for output, not matchable
)

// Value is one field's value. It is passed by value and never allocates.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Strs  []string
	List  []Value
}

// Null is the missing value.
var Null = Value{}

// String returns a string Value.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Int returns an integer Value.
func Int(i int64) Value { return Value{Kind: KindInt, Int: i} }

// Float returns a floating-point Value.
func Float(f float64) Value { return Value{Kind: KindFloat, Float: f} }

// Bool returns a boolean Value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, Int: 1}
	}
	return Value{Kind: KindBool}
}

// Strings returns a string-array Value; nil is Null.
func Strings(s []string) Value {
	if s == nil {
		return Null
	}
	return Value{Kind: KindStrings, Strs: s}
}

// IsNull reports whether v is missing or null.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Field is one generic field: a dotted path and its value.
type Field struct {
	Path  string
	Value Value
}

// Fields is the generic store: fields outside the typed struct, sorted by
// Path, each path once.
type Fields []Field

// Get returns the value at path, or Null.
func (fs Fields) Get(path string) Value {
	if len(fs) < 8 {
		for i := range fs {
			if fs[i].Path == path {
				return fs[i].Value
			}
		}
		return Null
	}
	i := sort.Search(len(fs), func(i int) bool { return fs[i].Path >= path })
	if i < len(fs) && fs[i].Path == path {
		return fs[i].Value
	}
	return Null
}

// Set stores v at path, replacing an earlier value, keeping fs sorted.
func (fs *Fields) Set(path string, v Value) {
	s := *fs
	i := sort.Search(len(s), func(i int) bool { return s[i].Path >= path })
	if i < len(s) && s[i].Path == path {
		s[i].Value = v
		return
	}
	s = append(s, Field{})
	copy(s[i+1:], s[i:])
	s[i] = Field{Path: path, Value: v}
	*fs = s
}
