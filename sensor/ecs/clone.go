package ecs

// Clone returns a deep copy of e that shares no memory with it: its strings
// live in one new allocation, its slices are new. The detection engine
// clones the events it keeps in pending sequences, because an event from a
// Reader points into the Reader's batch memory (hundreds of KiB) and would
// otherwise keep the whole batch alive for as long as the sequence waits.
func (e *Event) Clone() *Event {
	c := new(Event)
	*c = *e
	c.Event.Category = cloneStrings(e.Event.Category)
	c.Event.Type = cloneStrings(e.Event.Type)
	c.Process.Args = cloneStrings(e.Process.Args)
	c.Process.Parent.Args = cloneStrings(e.Process.Parent.Args)
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

// strings calls f with a pointer to every string of e, in a fixed order.
// Keep it in step with the struct: TestCloneSharesNothing walks the struct
// by reflection and fails on a string Clone left shared.
func (e *Event) strings(f func(*string)) {
	ps := [...]*string{
		&e.Event.ID, &e.Event.Kind, &e.Event.Action, &e.Event.Dataset, &e.Event.Module, &e.Event.Outcome,
		&e.Host.ID, &e.Host.Name, &e.Host.Hostname, &e.Host.Architecture,
		&e.Host.OS.Type, &e.Host.OS.Name, &e.Host.OS.Version, &e.Host.OS.Kernel, &e.Host.OS.Family, &e.Host.OS.Platform, &e.Host.OS.Full,
		&e.Agent.ID, &e.Agent.Type, &e.Agent.Version, &e.Agent.Name,
		&e.Process.EntityID, &e.Process.Name, &e.Process.Executable, &e.Process.CommandLine, &e.Process.WorkingDirectory,
		&e.Process.Parent.EntityID, &e.Process.Parent.Name, &e.Process.Parent.Executable, &e.Process.Parent.CommandLine,
		&e.User.ID, &e.User.Name,
		&e.Source.IP, &e.Source.Domain, &e.Destination.IP, &e.Destination.Domain,
		&e.Network.Transport, &e.Network.Type, &e.Network.Direction,
	}
	for _, p := range ps {
		f(p)
	}
	for _, s := range [...][]string{e.Event.Category, e.Event.Type, e.Process.Args, e.Process.Parent.Args} {
		for i := range s {
			f(&s[i])
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
