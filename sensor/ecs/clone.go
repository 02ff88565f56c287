package ecs

import "unsafe"

// Clone returns a deep copy of e that shares no memory with it: its strings
// live in one new allocation, its slices are new. The detection engine
// clones the events it keeps in pending sequences, because an event from a
// Reader points into the Reader's batch memory (hundreds of KiB) and would
// otherwise keep the whole batch alive for as long as the sequence waits.
func (e *Event) Clone() *Event {
	c := new(Event)
	*c = *e
	for i := range slots {
		if s := &slots[i]; s.kind == slotStrings {
			p := (*[]string)(s.at(c))
			*p = cloneStrings(*p)
		}
	}
	if e.Fields != nil {
		c.Fields = make(Fields, len(e.Fields))
		for i, f := range e.Fields {
			c.Fields[i] = Field{Path: f.Path, Value: cloneValue(f.Value)}
		}
	}
	n := 0
	c.strings(func(s *string) { n += len(*s) })
	if n == 0 {
		return c
	}
	buf := make([]byte, 0, n)
	c.strings(func(s *string) { buf = append(buf, *s...) })
	all := string(buf)
	off := 0
	c.strings(func(s *string) {
		l := len(*s)
		*s = all[off : off+l]
		off += l
	})
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

func cloneValue(v Value) Value {
	v.Strs = cloneStrings(v.Strs)
	if v.List != nil {
		l := make([]Value, len(v.List))
		for i := range v.List {
			l[i] = cloneValue(v.List[i])
		}
		v.List = l
	}
	return v
}

// strings calls f with a pointer to every string of e, in a fixed order:
// the typed fields (through the slots table, so every typed field of the
// declaration), then Fields. TestCloneSharesNothing walks the struct by
// reflection and fails on a string Clone left shared.
func (e *Event) strings(f func(*string)) {
	for i := range slots {
		switch s := &slots[i]; s.kind {
		case slotString:
			f((*string)(s.at(e)))
		case slotStrings:
			ss := *(*[]string)(s.at(e))
			for j := range ss {
				f(&ss[j])
			}
		}
	}
	for i := range e.Fields {
		f(&e.Fields[i].Path)
		valueStrings(&e.Fields[i].Value, f)
	}
}

func valueStrings(v *Value, f func(*string)) {
	f(&v.Str)
	for i := range v.Strs {
		f(&v.Strs[i])
	}
	for i := range v.List {
		valueStrings(&v.List[i], f)
	}
}

// A Copy is a reusable deep copy of an event: Set overwrites it with a copy
// of another event, reusing the memory of its previous content (a byte
// buffer for its strings, replaced by a larger one when an event does not
// fit, and its []string slices). The detection engine
// recycles the copies its dropped pending sequences kept this way instead
// of cloning (and collecting) one event per sequence opened.
//
// Set changes the bytes under the strings of the previous content: the
// caller must be sure that no one still holds the Copy's previous event or
// any string or slice of it.
type Copy struct {
	Event
	buf   []byte
	lists [nListSlots][]string // the []string fields' memory, kept across Sets
}

// nListSlots is the number of []string typed fields; listSlots their slot
// offsets and textSlots those of the string fields (built by init from the
// generated slots table).
const nListSlots = 4

var listSlots, textSlots []uintptr

func init() {
	for i := range slots {
		switch s := &slots[i]; s.kind {
		case slotString:
			textSlots = append(textSlots, s.off)
		case slotStrings:
			listSlots = append(listSlots, s.off)
		}
	}
	if len(listSlots) != nListSlots {
		panic("ecs: nListSlots is out of date with the slots table")
	}
}

// Set makes c a deep copy of e that shares no memory with e (see Clone).
func (c *Copy) Set(e *Event) {
	c.Event = *e
	base := unsafe.Pointer(&c.Event)
	for i, off := range listSlots {
		p := (*[]string)(unsafe.Add(base, off))
		if *p == nil {
			continue
		}
		l := append(c.lists[i][:0], *p...)
		c.lists[i] = l
		*p = l
	}
	if e.Fields != nil {
		c.Fields = make(Fields, len(e.Fields))
		for i, f := range e.Fields {
			c.Fields[i] = Field{Path: f.Path, Value: cloneValue(f.Value)}
		}
	}
	// One pass: each string's bytes are appended to the buffer and the
	// string moved onto them. When the buffer is full a larger one takes
	// over; the strings already moved keep the old one alive, and the next
	// Set starts on the larger one.
	buf := c.buf[:0]
	move := func(s *string) {
		l := len(*s)
		if l == 0 {
			return
		}
		if cap(buf)-len(buf) < l {
			buf = make([]byte, 0, max(2*cap(buf), 2*(len(buf)+l), 256))
			c.buf = buf
		}
		off := len(buf)
		buf = append(buf, *s...)
		*s = unsafe.String(&buf[off], l)
	}
	for _, o := range textSlots {
		move((*string)(unsafe.Add(base, o)))
	}
	for _, o := range listSlots {
		ss := *(*[]string)(unsafe.Add(base, o))
		for j := range ss {
			move(&ss[j])
		}
	}
	for i := range c.Fields {
		move(&c.Fields[i].Path)
		valueStrings(&c.Fields[i].Value, move)
	}
}
