package ecs

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
