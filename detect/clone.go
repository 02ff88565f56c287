package detect

import (
	"reflect"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// cloneEvent returns a deep copy of ev that shares no memory with it: the
// engine keeps the events of pending sequences, and a decoded event may
// alias the caller's line buffer (see ecs.Decode) or be reused once Process
// returns.
//
// It walks the struct by reflection so that fields added to ecs.Event later
// are copied too; it runs only for events that match a sequence stage, never
// per event. All strings land in one allocation.
func cloneEvent(ev *ecs.Event) *ecs.Event {
	c := new(ecs.Event)
	*c = *ev
	v := reflect.ValueOf(c).Elem()
	var size int
	copySlices(v, &size)
	if size == 0 {
		return c
	}
	arena := make([]byte, 0, size)
	walkStrings(v, func(s reflect.Value) { arena = append(arena, s.String()...) })
	all := string(arena)
	off := 0
	walkStrings(v, func(s reflect.Value) {
		n := s.Len()
		s.SetString(all[off : off+n])
		off += n
	})
	return c
}

// copySlices replaces every slice reachable from v by a copy and adds the
// byte length of every string to *size.
func copySlices(v reflect.Value, size *int) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			*size += v.Len()
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			copySlices(v.Field(i), size)
		}
	case reflect.Slice:
		if v.IsNil() || !v.CanSet() {
			return // nil, or unexported: left shared
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		v.Set(n)
		for i := 0; i < n.Len(); i++ {
			copySlices(n.Index(i), size)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			copySlices(v.Index(i), size)
		}
	}
}

// walkStrings calls fn for every string reachable from v, in a fixed order.
func walkStrings(v reflect.Value, fn func(reflect.Value)) {
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 && v.CanSet() {
			fn(v)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			walkStrings(v.Field(i), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fn)
		}
	}
}
