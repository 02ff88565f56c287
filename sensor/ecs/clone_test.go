package ecs

import (
	"reflect"
	"testing"
	"unsafe"
)

// fillStrings sets every string reachable in v (by reflection) to a
// distinct non-empty value, and gives every slice two elements, so that a
// field Clone forgets is caught.
func fillStrings(v reflect.Value, n *int, depth int) {
	if depth > 4 { // Value.List nests Values: stop the recursion
		return
	}
	switch v.Kind() {
	case reflect.String:
		*n++
		v.SetString("s" + string(rune('a'+*n%26)) + string(rune('A'+*n/26%26)))
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), n, depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		v.Set(s)
		for i := 0; i < 2; i++ {
			fillStrings(s.Index(i), n, depth+1)
		}
	}
}

// sharedStrings lists the strings of a whose bytes are those of b's
// corresponding string (same data pointer).
func sharedStrings(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.String:
		if a.Len() > 0 && unsafe.StringData(a.String()) == unsafe.StringData(b.String()) {
			*out = append(*out, path)
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				sharedStrings(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name, out)
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			*out = append(*out, path+"[]")
		}
		for i := 0; i < a.Len() && i < b.Len(); i++ {
			sharedStrings(a.Index(i), b.Index(i), path+"[i]", out)
		}
	}
}

func TestCloneSharesNothing(t *testing.T) {
	var e Event
	n := 0
	fillStrings(reflect.ValueOf(&e).Elem(), &n, 0)
	// The value of a generic field: strings, a list of values.
	e.Fields[0].Value = Value{Kind: KindList, List: []Value{String("x1"), Strings([]string{"x2"})}}
	e.Fields[1].Value = Strings([]string{"y1", "y2"})
	c := e.Clone()
	if !reflect.DeepEqual(&e, c) {
		t.Fatal("clone differs from the original")
	}
	var shared []string
	sharedStrings(reflect.ValueOf(c).Elem(), reflect.ValueOf(&e).Elem(), "Event", &shared)
	if len(shared) > 0 {
		t.Fatalf("the clone shares memory with the original at %v", shared)
	}
}

func TestCloneEmpty(t *testing.T) {
	e := &Event{Timestamp: 5, Has: HasTimestamp}
	if c := e.Clone(); !reflect.DeepEqual(e, c) || c == e {
		t.Fatal("clone of a bare event")
	}
}

func TestCopySharesNothing(t *testing.T) {
	var e Event
	n := 0
	fillStrings(reflect.ValueOf(&e).Elem(), &n, 0)
	e.Fields[0].Value = Value{Kind: KindList, List: []Value{String("x1"), Strings([]string{"x2"})}}
	e.Fields[1].Value = Strings([]string{"y1", "y2"})
	var c Copy
	// A first, smaller content, then the full one over its memory, then a
	// bare one: each Set is exactly its source and shares nothing with it.
	small := &Event{Timestamp: 1, Has: HasTimestamp}
	small.Process.Name = "zsh"
	small.Process.Args = []string{"zsh", "-c", "true"}
	for _, src := range []*Event{small, &e, {Timestamp: 5, Has: HasTimestamp}, &e} {
		c.Set(src)
		if !reflect.DeepEqual(src, &c.Event) {
			t.Fatalf("copy differs from its source %+v", src)
		}
		var shared []string
		sharedStrings(reflect.ValueOf(&c.Event).Elem(), reflect.ValueOf(src).Elem(), "Event", &shared)
		if len(shared) > 0 {
			t.Fatalf("the copy shares memory with its source at %v", shared)
		}
	}
}

func TestCopyReusesMemory(t *testing.T) {
	e := &Event{Timestamp: 1, Has: HasTimestamp}
	e.Event.Category = []string{"process"}
	e.Event.Type = []string{"start"}
	e.Process.Name = "python3"
	e.Process.Executable = "/usr/bin/python3"
	e.Process.Args = []string{"/usr/bin/python3", "-c", "print(1)"}
	e.Process.Parent.Name = "zsh"
	var c Copy
	c.Set(e)
	if n := testing.AllocsPerRun(100, func() { c.Set(e) }); n != 0 {
		t.Fatalf("Set of an event no larger than the last allocates %v times", n)
	}
	if !reflect.DeepEqual(e, &c.Event) {
		t.Fatal("copy differs from its source")
	}
}
