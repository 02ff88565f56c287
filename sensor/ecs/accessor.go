package ecs

import "unsafe"

// Type is the static type of a field known to the typed struct.
type Type uint8

// The static types. TypeAny is a field of the generic store: its type is
// known only per event.
const (
	TypeAny Type = iota
	TypeString
	TypeStrings
	TypeInt
	TypeBool
)

// Accessor reads one field of an Event. It is built once per field path
// (when a rule is compiled) and called per event without reflection or map
// lookups for typed fields.
//
// Exactly the function matching Type is set (Str for TypeString, Strs for
// TypeStrings, Int for TypeInt and TypeBool); Get is always set and returns
// the same value as a Value. Each falls back to the generic store when the
// typed slot is empty, so a value that arrived with an unexpected JSON type
// is still found.
type Accessor struct {
	Path string
	Type Type
	Str  func(*Event) (string, bool)
	Strs func(*Event) []string
	Int  func(*Event) (int64, bool)
	Get  func(*Event) Value

	off uintptr  // TypeString, TypeStrings, TypeBool: the typed slot's offset in Event
	bit Presence // TypeBool: the slot's presence bit
}

// TypedStr is the typed slot of a TypeString accessor ("" when empty; the
// generic store is not read): an inlined read where a call of Str costs
// more than the rest of a lookup. It must not be called on another Type.
func (a *Accessor) TypedStr(e *Event) string {
	return *(*string)(unsafe.Add(unsafe.Pointer(e), a.off))
}

// TypedStrs is TypedStr for a TypeStrings accessor.
func (a *Accessor) TypedStrs(e *Event) []string {
	return *(*[]string)(unsafe.Add(unsafe.Pointer(e), a.off))
}

// TypedBool is TypedStr for a TypeBool accessor: the slot's value, and
// whether the slot is set.
func (a *Accessor) TypedBool(e *Event) (v, ok bool) {
	return *(*bool)(unsafe.Add(unsafe.Pointer(e), a.off)), e.Has&a.bit != 0
}

// Lookup returns the accessor for a dotted field path. Paths outside the
// typed struct get a TypeAny accessor over the generic store.
func Lookup(path string) Accessor {
	if a, ok := typedAccessors[path]; ok {
		return a
	}
	return Accessor{Path: path, Type: TypeAny, Get: func(e *Event) Value { return e.Fields.Get(path) }}
}

// IsTyped reports whether path is a field of the typed struct.
func IsTyped(path string) bool {
	_, ok := typedAccessors[path]
	return ok
}

// TypedPaths returns the dotted paths of the typed struct's fields.
func TypedPaths() []string {
	out := make([]string, 0, len(typedAccessors))
	for p := range typedAccessors {
		out = append(out, p)
	}
	return out
}

// The accessors of typed fields read the field at its offset in Event
// (slot.off, checked against the struct by TestSlotsMatchStruct).

func strAcc(path string, off uintptr) Accessor {
	str := func(e *Event) (string, bool) {
		if s := *(*string)(unsafe.Add(unsafe.Pointer(e), off)); s != "" {
			return s, true
		}
		if len(e.Fields) > 0 {
			if v := e.Fields.Get(path); v.Kind == KindString {
				return v.Str, true
			}
		}
		return "", false
	}
	return Accessor{Path: path, Type: TypeString, Str: str, off: off, Get: func(e *Event) Value {
		if s := *(*string)(unsafe.Add(unsafe.Pointer(e), off)); s != "" {
			return String(s)
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func strsAcc(path string, off uintptr) Accessor {
	strs := func(e *Event) []string {
		if s := *(*[]string)(unsafe.Add(unsafe.Pointer(e), off)); s != nil {
			return s
		}
		if len(e.Fields) > 0 {
			switch v := e.Fields.Get(path); v.Kind {
			case KindStrings:
				return v.Strs
			}
		}
		return nil
	}
	return Accessor{Path: path, Type: TypeStrings, Strs: strs, off: off, Get: func(e *Event) Value {
		if s := *(*[]string)(unsafe.Add(unsafe.Pointer(e), off)); s != nil {
			return Strings(s)
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func intAcc(path string, bit Presence, off uintptr) Accessor {
	i := func(e *Event) (int64, bool) {
		if e.Has&bit != 0 {
			return *(*int64)(unsafe.Add(unsafe.Pointer(e), off)), true
		}
		if len(e.Fields) > 0 {
			if v := e.Fields.Get(path); v.Kind == KindInt {
				return v.Int, true
			}
		}
		return 0, false
	}
	return Accessor{Path: path, Type: TypeInt, Int: i, Get: func(e *Event) Value {
		if e.Has&bit != 0 {
			return Int(*(*int64)(unsafe.Add(unsafe.Pointer(e), off)))
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func boolAcc(path string, bit Presence, off uintptr) Accessor {
	b := func(e *Event) (int64, bool) {
		if e.Has&bit != 0 {
			if *(*bool)(unsafe.Add(unsafe.Pointer(e), off)) {
				return 1, true
			}
			return 0, true
		}
		if len(e.Fields) > 0 {
			if v := e.Fields.Get(path); v.Kind == KindBool {
				return v.Int, true
			}
		}
		return 0, false
	}
	return Accessor{Path: path, Type: TypeBool, Int: b, off: off, bit: bit, Get: func(e *Event) Value {
		if e.Has&bit != 0 {
			return Bool(*(*bool)(unsafe.Add(unsafe.Pointer(e), off)))
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

// typedAccessors maps every typed field's dotted path to its accessor.
// Times (@timestamp, event.created, process.start) are TypeInt: their
// accessors give Unix nanoseconds.
var typedAccessors = func() map[string]Accessor {
	m := make(map[string]Accessor, nSlots)
	for i := range slots {
		s := &slots[i]
		switch s.kind {
		case slotString:
			m[s.path] = strAcc(s.path, s.off)
		case slotStrings:
			m[s.path] = strsAcc(s.path, s.off)
		case slotInt, slotTime:
			m[s.path] = intAcc(s.path, s.bit, s.off)
		case slotBool:
			m[s.path] = boolAcc(s.path, s.bit, s.off)
		}
	}
	return m
}()
