package workflow

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"
)

// binaryDocument converts an XML document to a binary plist, as
// `plutil -convert binary1` does.
func binaryDocument(t testing.TB, xmlDoc []byte) []byte {
	t.Helper()
	var v any
	if _, err := plist.Unmarshal(xmlDoc, &v); err != nil {
		t.Fatal(err)
	}
	b, err := plist.Marshal(v, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBinaryDocument(t *testing.T) {
	xmlDoc := buildDocument(shellAction, appleScriptAction, jxaAction, copyAction)
	want, wantN, err := Parse(xmlDoc, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := Parse(binaryDocument(t, xmlDoc), DefaultLimits)
	if err != nil || n != wantN || !reflect.DeepEqual(got, want) {
		t.Errorf("binary document: %d actions, %v; want the XML document's %d", n, err, wantN)
	}
}

// nested returns a value nested depth arrays deep.
func nested(depth int) any {
	var v any = "leaf"
	for i := 0; i < depth; i++ {
		v = []any{v}
	}
	return v
}

func TestCheckBinary(t *testing.T) {
	deep, err := plist.Marshal(map[string]any{"actions": nested(100)}, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	ok31, _ := plist.Marshal(nested(31), plist.BinaryFormat)
	// A one-object plist whose array holds itself.
	cycle := []byte("bplist00")
	cycle = append(cycle, 0xA1, 0x00) // object 0 at 8: an array of one reference, to object 0
	table := len(cycle)
	cycle = append(cycle, 8) // offset table: object 0 at 8
	var tr [32]byte
	tr[6], tr[7] = 1, 1
	binary.BigEndian.PutUint64(tr[8:], 1)
	binary.BigEndian.PutUint64(tr[16:], 0)
	binary.BigEndian.PutUint64(tr[24:], uint64(table))
	cycle = append(cycle, tr[:]...)

	withTrailer := func(mut func(tr []byte)) []byte {
		b := append([]byte(nil), cycle...)
		mut(b[len(b)-32:])
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string // "" for no error
	}{
		{"31 deep", ok31, ""},
		{"100 deep", deep, "nesting deeper than 32"},
		{"cycle", cycle, "nesting deeper than 32"},
		{"short", []byte("bplist00"), "too short"},
		{"ref size 0", withTrailer(func(tr []byte) { tr[7] = 0 }), "reference size 0"},
		{"no objects", withTrailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[8:], 0) }), "0 objects"},
		{"top out of range", withTrailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[16:], 5) }), "top object 5"},
		{"table out of bounds", withTrailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[24:], 1<<40) }), "offset table"},
		{"huge object count", withTrailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[8:], 1<<62) }), "objects"},
	}
	for _, c := range cases {
		err := checkBinary(c.data, 32)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// Through Parse: the error, not a stack of 100 frames per level.
	if _, _, err := Parse(deep, DefaultLimits); err == nil || !strings.Contains(err.Error(), "nesting deeper than 32") {
		t.Errorf("Parse(100 deep) = %v", err)
	}
}
