package ecs

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

func strAcc(path string, get func(*Event) *string) Accessor {
	str := func(e *Event) (string, bool) {
		if s := *get(e); s != "" {
			return s, true
		}
		if len(e.Fields) > 0 {
			if v := e.Fields.Get(path); v.Kind == KindString {
				return v.Str, true
			}
		}
		return "", false
	}
	return Accessor{Path: path, Type: TypeString, Str: str, Get: func(e *Event) Value {
		if s := *get(e); s != "" {
			return String(s)
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func strsAcc(path string, get func(*Event) *[]string) Accessor {
	strs := func(e *Event) []string {
		if s := *get(e); s != nil {
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
	return Accessor{Path: path, Type: TypeStrings, Strs: strs, Get: func(e *Event) Value {
		if s := *get(e); s != nil {
			return Strings(s)
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func intAcc(path string, bit Presence, get func(*Event) *int64) Accessor {
	i := func(e *Event) (int64, bool) {
		if e.Has&bit != 0 {
			return *get(e), true
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
			return Int(*get(e))
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

func boolAcc(path string, bit Presence, get func(*Event) *bool) Accessor {
	b := func(e *Event) (int64, bool) {
		if e.Has&bit != 0 {
			if *get(e) {
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
	return Accessor{Path: path, Type: TypeBool, Int: b, Get: func(e *Event) Value {
		if e.Has&bit != 0 {
			return Bool(*get(e))
		}
		if len(e.Fields) > 0 {
			return e.Fields.Get(path)
		}
		return Null
	}}
}

// typedAccessors maps every typed field's dotted path to its accessor.
// @timestamp, event.created and process.start are times: their accessors
// give Unix nanoseconds.
var typedAccessors = func() map[string]Accessor {
	list := []Accessor{
		intAcc("@timestamp", HasTimestamp, func(e *Event) *int64 { return &e.Timestamp }),

		strAcc("event.id", func(e *Event) *string { return &e.Event.ID }),
		strAcc("event.kind", func(e *Event) *string { return &e.Event.Kind }),
		strsAcc("event.category", func(e *Event) *[]string { return &e.Event.Category }),
		strsAcc("event.type", func(e *Event) *[]string { return &e.Event.Type }),
		strAcc("event.action", func(e *Event) *string { return &e.Event.Action }),
		strAcc("event.dataset", func(e *Event) *string { return &e.Event.Dataset }),
		strAcc("event.module", func(e *Event) *string { return &e.Event.Module }),
		strAcc("event.outcome", func(e *Event) *string { return &e.Event.Outcome }),
		intAcc("event.created", HasCreated, func(e *Event) *int64 { return &e.Event.Created }),
		intAcc("event.sequence", HasSequence, func(e *Event) *int64 { return &e.Event.Sequence }),

		strAcc("host.id", func(e *Event) *string { return &e.Host.ID }),
		strAcc("host.name", func(e *Event) *string { return &e.Host.Name }),
		strAcc("host.hostname", func(e *Event) *string { return &e.Host.Hostname }),
		strAcc("host.architecture", func(e *Event) *string { return &e.Host.Architecture }),
		strAcc("host.os.type", func(e *Event) *string { return &e.Host.OS.Type }),
		strAcc("host.os.name", func(e *Event) *string { return &e.Host.OS.Name }),
		strAcc("host.os.version", func(e *Event) *string { return &e.Host.OS.Version }),
		strAcc("host.os.kernel", func(e *Event) *string { return &e.Host.OS.Kernel }),
		strAcc("host.os.family", func(e *Event) *string { return &e.Host.OS.Family }),
		strAcc("host.os.platform", func(e *Event) *string { return &e.Host.OS.Platform }),
		strAcc("host.os.full", func(e *Event) *string { return &e.Host.OS.Full }),

		strAcc("agent.id", func(e *Event) *string { return &e.Agent.ID }),
		strAcc("agent.type", func(e *Event) *string { return &e.Agent.Type }),
		strAcc("agent.version", func(e *Event) *string { return &e.Agent.Version }),
		strAcc("agent.name", func(e *Event) *string { return &e.Agent.Name }),

		intAcc("process.pid", HasPID, func(e *Event) *int64 { return &e.Process.PID }),
		strAcc("process.entity_id", func(e *Event) *string { return &e.Process.EntityID }),
		strAcc("process.name", func(e *Event) *string { return &e.Process.Name }),
		strAcc("process.executable", func(e *Event) *string { return &e.Process.Executable }),
		strsAcc("process.args", func(e *Event) *[]string { return &e.Process.Args }),
		intAcc("process.args_count", HasArgsCount, func(e *Event) *int64 { return &e.Process.ArgsCount }),
		strAcc("process.command_line", func(e *Event) *string { return &e.Process.CommandLine }),
		intAcc("process.start", HasStart, func(e *Event) *int64 { return &e.Process.Start }),
		strAcc("process.working_directory", func(e *Event) *string { return &e.Process.WorkingDirectory }),
		boolAcc("process.Ext.command_line_truncated", HasArgsTruncated, func(e *Event) *bool { return &e.Process.ArgsTruncated }),
		intAcc("process.parent.pid", HasParentPID, func(e *Event) *int64 { return &e.Process.Parent.PID }),
		strAcc("process.parent.entity_id", func(e *Event) *string { return &e.Process.Parent.EntityID }),
		strAcc("process.parent.name", func(e *Event) *string { return &e.Process.Parent.Name }),
		strAcc("process.parent.executable", func(e *Event) *string { return &e.Process.Parent.Executable }),
		strsAcc("process.parent.args", func(e *Event) *[]string { return &e.Process.Parent.Args }),
		strAcc("process.parent.command_line", func(e *Event) *string { return &e.Process.Parent.CommandLine }),

		strAcc("user.id", func(e *Event) *string { return &e.User.ID }),
		strAcc("user.name", func(e *Event) *string { return &e.User.Name }),

		strAcc("source.ip", func(e *Event) *string { return &e.Source.IP }),
		intAcc("source.port", HasSourcePort, func(e *Event) *int64 { return &e.Source.Port }),
		strAcc("source.domain", func(e *Event) *string { return &e.Source.Domain }),
		strAcc("destination.ip", func(e *Event) *string { return &e.Destination.IP }),
		intAcc("destination.port", HasDestinationPort, func(e *Event) *int64 { return &e.Destination.Port }),
		strAcc("destination.domain", func(e *Event) *string { return &e.Destination.Domain }),

		strAcc("network.transport", func(e *Event) *string { return &e.Network.Transport }),
		strAcc("network.type", func(e *Event) *string { return &e.Network.Type }),
		strAcc("network.direction", func(e *Event) *string { return &e.Network.Direction }),
	}
	m := make(map[string]Accessor, len(list))
	for _, a := range list {
		m[a.Path] = a
	}
	return m
}()
