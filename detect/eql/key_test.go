package eql

import (
	"bytes"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func mustKey(t *testing.T, fields ...*Field) KeyFunc {
	t.Helper()
	k, err := CompileKey(fields)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeySingleString(t *testing.T) {
	e := &ecs.Event{}
	e.Host.ID = "HOST-1"
	k := mustKey(t, &Field{Path: "host.id"})
	got, ok := k(nil, e)
	if !ok || string(got) != "HOST-1" {
		t.Fatalf("typed host.id: got %q %v, want raw bytes", got, ok)
	}
	// The same value in the generic store (another stage's field) encodes
	// the same way.
	g := &ecs.Event{}
	g.Fields.Set("host_id", ecs.String("HOST-1"))
	got2, ok := mustKey(t, &Field{Path: "host_id"})(nil, g)
	if !ok || !bytes.Equal(got, got2) {
		t.Fatalf("generic: got %q %v, want %q", got2, ok, got)
	}
	// A one-element array is its element.
	g.Fields.Set("host_ids", ecs.Strings([]string{"HOST-1"}))
	if got3, ok := mustKey(t, &Field{Path: "host_ids"})(nil, g); !ok || !bytes.Equal(got, got3) {
		t.Fatalf("one-element array: got %q %v, want %q", got3, ok, got)
	}
	// dst is appended to.
	if got4, _ := k([]byte("pre:"), e); string(got4) != "pre:HOST-1" {
		t.Fatalf("append: got %q", got4)
	}
}

func TestKeyNull(t *testing.T) {
	e := &ecs.Event{}
	if _, ok := mustKey(t, &Field{Path: "host.id"})(nil, e); ok {
		t.Error("missing key field: ok, want not ok")
	}
	if _, ok := mustKey(t, &Field{Path: "x"})(nil, e); ok {
		t.Error("missing generic key field: ok, want not ok")
	}
	e.Fields.Set("empty", ecs.Strings([]string{}))
	if _, ok := mustKey(t, &Field{Path: "empty"})(nil, e); ok {
		t.Error("empty array: ok, want not ok")
	}
	a, ok1 := mustKey(t, &Field{Path: "host.id", Optional: true})(nil, e)
	b, ok2 := mustKey(t, &Field{Path: "x", Optional: true})(nil, e)
	if !ok1 || !ok2 || !bytes.Equal(a, b) || len(a) == 0 {
		t.Errorf("optional nulls: %q %v, %q %v; want equal non-empty keys", a, ok1, b, ok2)
	}
	if _, ok := mustKey(t, &Field{Path: "host.id"}, &Field{Path: "x", Optional: true})(nil, e); ok {
		t.Error("two fields, first missing and required: ok")
	}
	e.Host.ID = "H"
	if _, ok := mustKey(t, &Field{Path: "host.id"}, &Field{Path: "x", Optional: true})(nil, e); !ok {
		t.Error("two fields, second missing but optional: not ok")
	}
}

// TestKeyDistinct checks that different key tuples never share an
// encoding, across types and field boundaries.
func TestKeyDistinct(t *testing.T) {
	values := []ecs.Value{
		ecs.String("a"), ecs.String("ab"), ecs.String("5"), ecs.Int(5), ecs.Float(5.5), ecs.Bool(true),
		ecs.String("\xff"), ecs.String("\xffs\x015"), ecs.Strings([]string{"a", "b"}), ecs.Strings([]string{"b", "a"}),
		ecs.Value{Kind: ecs.KindList, List: []ecs.Value{ecs.Int(1), ecs.String("a")}},
		ecs.String("sa"), ecs.String("i"), ecs.Int(-1), ecs.Bool(false), ecs.Null,
	}
	seen := map[string]string{}
	for _, v1 := range values {
		for _, v2 := range values {
			e := &ecs.Event{}
			e.Fields.Set("a", v1)
			e.Fields.Set("b", v2)
			for _, fields := range [][]*Field{
				{{Path: "a", Optional: true}},
				{{Path: "a", Optional: true}, {Path: "b", Optional: true}},
			} {
				k, ok := mustKey(t, fields...)(nil, e)
				if !ok {
					t.Fatalf("not ok for %+v", v1)
				}
				id := ecsString(v1)
				if len(fields) == 2 {
					id += " | " + ecsString(v2)
				}
				tag := string(rune('0'+len(fields))) + string(k)
				if prev, dup := seen[tag]; dup && prev != id {
					t.Errorf("%s and %s share the key %q", prev, id, k)
				}
				seen[tag] = id
			}
		}
	}
	// 5 and 5.0 are one number.
	e := &ecs.Event{}
	e.Fields.Set("a", ecs.Int(5))
	e.Fields.Set("b", ecs.Float(5))
	ka, _ := mustKey(t, &Field{Path: "a"})(nil, e)
	kb, _ := mustKey(t, &Field{Path: "b"})(nil, e)
	if !bytes.Equal(ka, kb) {
		t.Errorf("5 and 5.0: %q != %q", ka, kb)
	}
}

func ecsString(v ecs.Value) string {
	switch v.Kind {
	case ecs.KindString:
		return "s:" + v.Str
	case ecs.KindInt:
		return "i:" + string(rune('0'+v.Int))
	case ecs.KindFloat:
		return "f"
	case ecs.KindBool:
		return "b" + string(rune('0'+v.Int))
	case ecs.KindStrings:
		return "S:" + string(bytes.Join(toBytes(v.Strs), []byte(",")))
	case ecs.KindList:
		return "L"
	}
	return "null"
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestKeyTypedTwoFields(t *testing.T) {
	e := &ecs.Event{Has: ecs.HasPID}
	e.Host.ID = "H"
	e.Process.PID = 7
	g := &ecs.Event{}
	g.Fields.Set("host.id", ecs.String("H"))
	g.Fields.Set("process.pid", ecs.Int(7))
	k := mustKey(t, &Field{Path: "host.id"}, &Field{Path: "process.pid"})
	a, ok1 := k(nil, e)
	b, ok2 := k(nil, g)
	if !ok1 || !ok2 || !bytes.Equal(a, b) {
		t.Errorf("typed %q %v vs generic %q %v", a, ok1, b, ok2)
	}
	if want := "s\x01Hi\x00\x00\x00\x00\x00\x00\x00\x07"; string(a) != want {
		t.Errorf("encoding %q, want %q", a, want)
	}
}
