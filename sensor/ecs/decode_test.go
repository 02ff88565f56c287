package ecs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func mustDecode(t *testing.T, line string) *Event {
	t.Helper()
	e := new(Event)
	if err := Decode([]byte(line), e); err != nil {
		t.Fatalf("Decode(%q): %v", line, err)
	}
	return e
}

func ns(t *testing.T, s string) int64 {
	t.Helper()
	v, ok := parseTime([]byte(s))
	if !ok {
		t.Fatalf("parseTime(%q) failed", s)
	}
	return v
}

func TestDecodeProcessFixture(t *testing.T) {
	line, err := os.ReadFile("testdata/process.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := Decode(line, &got); err != nil {
		t.Fatal(err)
	}
	want := Event{
		Timestamp: 1715678493418000000,
		Event: EventMeta{
			ID: "NVDhH9QzEzn5Vd2y++++++Ay", Kind: "event", Category: []string{"process"}, Type: []string{"start"},
			Action: "exec", Module: "endpoint", Created: 1715678493418506000, Sequence: 41827,
		},
		Host: Host{ID: "E3B0C442-98FC-1C14-9AFB-F4C8996FB924", Name: "mbp-alice", Hostname: "mbp-alice",
			OS: OS{Type: "macos", Version: "14.4.1"}},
		Agent: Agent{ID: "5b8f3b52-1d2e-4c8a-9f6e-0d7c3a1b2e4f", Type: "endpoint", Version: "8.13.2"},
		Process: Process{
			PID:        4821,
			EntityID:   "Zjk2NmE1ZTctYzk2Yy00YmQ5LTk3ODYtMmJkNGE5NTJhOTdmLTQ4MjEtMTcxNTY3ODQ5Mw==",
			Name:       "automator",
			Executable: "/usr/bin/automator",
			Args:       []string{"/usr/bin/automator", "-i", "/Users/alice/Downloads/invoice.workflow"},
			ArgsCount:  3,
			Parent:     Parent{PID: 4711, Name: "zsh"},
		},
		User: User{Name: "alice"},
		Has:  HasTimestamp | HasCreated | HasSequence | HasPID | HasArgsCount | HasParentPID,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// The line may be reused: the event owns its copy.
	for i := range line {
		line[i] = 'x'
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event changed with the input line: %+v", got)
	}
}

// TestDecodeForms decodes one event written nested, dotted and mixed.
func TestDecodeForms(t *testing.T) {
	forms := []string{
		`{"@timestamp":"2024-05-14T09:21:33Z","event":{"category":["process"],"type":["start"]},"host":{"os":{"type":"macos"}},"process":{"name":"automator","pid":12,"parent":{"args":["a","b"]},"Ext":{"command_line_truncated":true,"x":1}},"cloud":{"region":"eu"}}`,
		`{"@timestamp":"2024-05-14T09:21:33Z","event.category":["process"],"event.type":["start"],"host.os.type":"macos","process.name":"automator","process.pid":12,"process.parent.args":["a","b"],"process.Ext.command_line_truncated":true,"process.Ext.x":1,"cloud.region":"eu"}`,
		`{"process.name":"automator","host":{"os.type":"macos"},"process":{"parent.args":["a","b"],"Ext.command_line_truncated":true,"pid":12},"event":{"type":"start","category":"process"},"process.Ext":{"x":1},"cloud":{"region":"eu"},"@timestamp":"2024-05-14T09:21:33Z"}`,
		"\t{ \"@timestamp\" : \"2024-05-14T09:21:33Z\" ,\r\n \"event\" : { \"category\" : [ \"process\" ] , \"type\" : [\"start\"] } , \"host.os\" : {\"type\":\"macos\"}, \"process\" : {\"name\":\"automator\", \"pid\" : 12, \"parent\":{\"args\":[\"a\" ,\"b\"]}, \"Ext\":{\"command_line_truncated\":true, \"x\":1}}, \"cloud.region\":\"eu\" } \n",
	}
	want := Event{
		Timestamp: ns(t, "2024-05-14T09:21:33Z"),
		Event:     EventMeta{Category: []string{"process"}, Type: []string{"start"}},
		Host:      Host{OS: OS{Type: "macos"}},
		Process: Process{Name: "automator", PID: 12, ArgsTruncated: true,
			Parent: Parent{Args: []string{"a", "b"}}},
		Has:    HasTimestamp | HasPID | HasArgsTruncated,
		Fields: Fields{{"cloud.region", String("eu")}, {"process.Ext.x", Int(1)}},
	}
	for i, f := range forms {
		if got := mustDecode(t, f); !reflect.DeepEqual(*got, want) {
			t.Errorf("form %d:\ngot  %+v\nwant %+v", i, *got, want)
		}
	}
}

// TestTypeMismatch gives every typed path values of the wrong type: each
// goes to Fields, the typed slot stays empty, and the accessor still
// finds the value.
func TestTypeMismatch(t *testing.T) {
	values := map[slotKind][]struct {
		json string
		want Value
	}{
		slotString: {
			{`5`, Int(5)}, {`1.5`, Float(1.5)}, {`true`, Bool(true)}, {`["a"]`, Strings([]string{"a"})},
			{`[1,"a"]`, Value{Kind: KindList, List: []Value{Int(1), String("a")}}}, {`""`, String("")},
			{`[{"a":1}]`, Value{Kind: KindRaw, Str: `[{"a":1}]`}},
		},
		slotStrings: {
			{`5`, Int(5)}, {`false`, Bool(false)}, {`[1,"a"]`, Value{Kind: KindList, List: []Value{Int(1), String("a")}}},
			{`["a",null]`, Value{Kind: KindList, List: []Value{String("a"), Null}}},
			{`[["a"]]`, Value{Kind: KindRaw, Str: `[["a"]]`}},
		},
		slotInt: {
			{`"12"`, String("12")}, {`1.5`, Float(1.5)}, {`1e3`, Float(1000)}, {`true`, Bool(true)},
			{`[1]`, Value{Kind: KindList, List: []Value{Int(1)}}}, {`9223372036854775808`, Float(9223372036854775808)},
		},
		slotBool: {
			{`"true"`, String("true")}, {`1`, Int(1)}, {`[true]`, Value{Kind: KindList, List: []Value{Bool(true)}}},
		},
		slotTime: {
			{`"yesterday"`, String("yesterday")}, {`"2024-02-30T00:00:00Z"`, String("2024-02-30T00:00:00Z")},
			{`true`, Bool(true)}, {`1e-7`, Float(1e-7)}, {`1.0000005e-3`, Float(1.0000005e-3)}, {`["2024-05-14T09:21:33Z"]`, Strings([]string{"2024-05-14T09:21:33Z"})},
			{`9300000000000000`, Int(9300000000000000)}, {`"9300000000000000"`, String("9300000000000000")},
		},
	}
	for id := range slots {
		sl := &slots[id]
		for _, v := range values[sl.kind] {
			for _, form := range []string{"dotted", "nested"} {
				line := `{"` + sl.path + `":` + v.json + `}`
				if form == "nested" {
					line = nest(sl.path, v.json)
				}
				e := mustDecode(t, line)
				if sl.present(e) {
					t.Errorf("%s: typed slot filled", line)
				}
				want := Fields{{sl.path, v.want}}
				if !reflect.DeepEqual(e.Fields, want) {
					t.Errorf("%s: Fields = %+v, want %+v", line, e.Fields, want)
				}
				if got := Lookup(sl.path).Get(e); !reflect.DeepEqual(got, v.want) {
					t.Errorf("%s: accessor Get = %+v, want %+v", line, got, v.want)
				}
			}
		}
	}
}

// nest writes {"a":{"b":{"c":value}}} for path a.b.c.
func nest(path, value string) string {
	segs := strings.Split(path, ".")
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(`{"` + s + `":`)
	}
	b.WriteString(value)
	b.WriteString(strings.Repeat("}", len(segs)))
	return b.String()
}

// TestTypedValues fills every typed slot from a value of its type.
func TestTypedValues(t *testing.T) {
	for id := range slots {
		sl := &slots[id]
		var line string
		switch sl.kind {
		case slotString:
			line = `{"` + sl.path + `":"v"}`
		case slotStrings:
			line = `{"` + sl.path + `":"v"}` // a single string: a one-element array
		case slotInt:
			line = `{"` + sl.path + `":-7}`
		case slotBool:
			line = `{"` + sl.path + `":false}`
		case slotTime:
			line = `{"` + sl.path + `":"1970-01-01T00:00:00.000000007Z"}`
		}
		e := mustDecode(t, line)
		if len(e.Fields) != 0 || !sl.present(e) {
			t.Fatalf("%s: fields %+v, present %v", line, e.Fields, sl.present(e))
		}
		a := Lookup(sl.path)
		switch sl.kind {
		case slotString:
			if s, ok := a.Str(e); s != "v" || !ok {
				t.Errorf("%s: %q %v", line, s, ok)
			}
		case slotStrings:
			if s := a.Strs(e); !reflect.DeepEqual(s, []string{"v"}) {
				t.Errorf("%s: %q", line, s)
			}
		case slotInt:
			if v, ok := a.Int(e); v != -7 || !ok {
				t.Errorf("%s: %d %v", line, v, ok)
			}
		case slotBool:
			if v, ok := a.Int(e); v != 0 || !ok {
				t.Errorf("%s: %d %v", line, v, ok)
			}
		case slotTime:
			if v, ok := a.Int(e); v != 7 || !ok {
				t.Errorf("%s: %d %v", line, v, ok)
			}
		}
	}
}

func TestDecodeTimes(t *testing.T) {
	const base = 1715678493000000000 // 2024-05-14T09:21:33Z
	cases := []struct {
		json string
		want int64
	}{
		{`"2024-05-14T09:21:33Z"`, base},
		{`"2024-05-14T09:21:33.418Z"`, base + 418e6},
		{`"2024-05-14T09:21:33.123456789Z"`, base + 123456789},
		{`"2024-05-14T09:21:33.1Z"`, base + 1e8},
		{`"2024-05-14t09:21:33z"`, base},
		{`"2024-05-14 09:21:33Z"`, base},
		{`"2024-05-14T09:21:33"`, base},
		{`"2024-05-14T09:21:33.5"`, base + 5e8},
		{`"2024-05-14T11:21:33+02:00"`, base},
		{`"2024-05-14T11:21:33+0200"`, base},
		{`"2024-05-14T11:21:33+02"`, base},
		{`"2024-05-14T03:51:33-05:30"`, base},
		{`"2024-05-14T09:21"`, base - 33e9},
		{`"2024-05-14T09"`, base - 21*60e9 - 33e9},
		{`"2024-05-14"`, 1715644800e9},
		{`"2024-05"`, 1714521600e9},
		{`"2024"`, 1704067200e9},
		{`1715678493418`, base + 418e6},
		{`"1715678493418"`, base + 418e6},
		{`1715678493418.5`, base + 418e6 + 5e5},
		{`1.7156784934185e12`, base + 418e6 + 5e5},
		{`1715678493418e0`, base + 418e6},
		{`1715678493418.0`, base + 418e6},
		{`1e-6`, 1},
		{`"1715678493418.000001"`, base + 418e6 + 1},
		{`-1000`, -1e9},
		{`"-1"`, -1e6},
		{`0`, 0},
		{`"1"`, 1e6},
		{`"1969-12-31T23:59:59.999999999Z"`, -1},
		{`"1677-09-21T00:12:43.145224192Z"`, math.MinInt64},
		{`"2262-04-11T23:47:16.854775807Z"`, math.MaxInt64},
		{`"2024-02-29T00:00:00Z"`, 1709164800e9},
		{`"2000-02-29T00:00:00Z"`, 951782400e9},
	}
	for _, c := range cases {
		for _, path := range []string{"@timestamp", "event.created", "process.start"} {
			e := mustDecode(t, `{"`+path+`":`+c.json+`}`)
			v, ok := Lookup(path).Int(e)
			if !ok || v != c.want || len(e.Fields) != 0 {
				t.Errorf("%s %s: got %d %v (fields %+v), want %d", path, c.json, v, ok, e.Fields, c.want)
			}
		}
	}
	bad := []string{
		`"2024-02-30T00:00:00Z"`, `"2023-02-29T00:00:00Z"`, `"1900-02-29"`, `"2024-13-01"`, `"2024-00-01"`, `"2024-01-00"`,
		`"2024-05-14T24:00:00Z"`, `"2024-05-14T09:60:00Z"`, `"2024-05-14T09:21:60Z"`,
		`"2024-05-14T09:21:33.1234567891Z"`, `"2024-05-14T09:21:33.Z"`, `"2024-05-14T09:21:33+24:00"`,
		`"2024-05-14T09:21:33+02:0"`, `"2024-05-14T09:21:33ZZ"`, `"2024-05T09"`, `"2024T09"`, `"24-05-14"`,
		`"2262-04-11T23:47:16.854775808Z"`, `"1677-09-21T00:12:43.145224191Z"`, `"9999-12-31T23:59:59Z"`,
		`"1.5e3"`, `"0x10"`, `""`, `"-"`, `"1."`, `"1.1234567"`, `1.1234567`, `9300000000000000`, `-9300000000000000`, `1e16`, `1e400`,
		`"2024-05-14T09:21:33.5+"`, `"2024-05-14X09"`,
	}
	for _, b := range bad {
		e := mustDecode(t, `{"@timestamp":`+b+`}`)
		if e.Has&HasTimestamp != 0 || len(e.Fields) != 1 || e.Fields[0].Path != "@timestamp" {
			t.Errorf("%s: want it in Fields, got ts %d has %b fields %+v", b, e.Timestamp, e.Has, e.Fields)
		}
	}
}

func TestDecodeNumbers(t *testing.T) {
	cases := []struct {
		json string
		want Value
	}{
		{`0`, Int(0)}, {`-0`, Int(0)}, {`42`, Int(42)}, {`-42`, Int(-42)},
		{`9223372036854775807`, Int(math.MaxInt64)},
		{`-9223372036854775808`, Int(math.MinInt64)},
		{`9223372036854775808`, Float(9223372036854775808)},
		{`-9223372036854775809`, Float(-9223372036854775809)},
		{`18446744073709551616`, Float(18446744073709551616)},
		{`123456789012345678901234567890`, Float(123456789012345678901234567890)},
		{`1e3`, Float(1000)}, {`1E+2`, Float(100)}, {`-2.5e-3`, Float(-0.0025)}, {`0.5`, Float(0.5)},
		{`-0.0`, Float(math.Copysign(0, -1))}, {`1.0`, Float(1)}, {`1e-400`, Float(0)},
		{`1e400`, Value{Kind: KindRaw, Str: "1e400"}}, {`-1e400`, Value{Kind: KindRaw, Str: "-1e400"}},
	}
	for _, c := range cases {
		e := mustDecode(t, `{"n":`+c.json+`}`)
		if got := e.Fields.Get("n"); !reflect.DeepEqual(got, c.want) || math.Signbit(got.Float) != math.Signbit(c.want.Float) {
			t.Errorf("%s: got %+v, want %+v", c.json, got, c.want)
		}
	}
}

func TestDecodeGenericKinds(t *testing.T) {
	e := mustDecode(t, `{"s":"x","i":-3,"f":2.5,"t":true,"F":false,"z":null,"ss":["a","b"],"empty":[],"l":[1,"a",true,null,2.5],"r":[{"a": [1, 2]}, 3],"o":{},"deep":{"x":{"y":null}}}`)
	want := Fields{
		{"F", Bool(false)},
		{"empty", Value{Kind: KindStrings, Strs: []string{}}},
		{"f", Float(2.5)},
		{"i", Int(-3)},
		{"l", Value{Kind: KindList, List: []Value{Int(1), String("a"), Bool(true), Null, Float(2.5)}}},
		{"r", Value{Kind: KindRaw, Str: `[{"a":[1,2]},3]`}},
		{"s", String("x")},
		{"ss", Strings([]string{"a", "b"})},
		{"t", Bool(true)},
	}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Errorf("got  %+v\nwant %+v", e.Fields, want)
	}
	if v := e.Fields.Get("empty"); v.Strs == nil {
		t.Error("empty array: want a non-nil empty slice")
	}
	// An empty typed array stays a present, empty array.
	e = mustDecode(t, `{"process":{"args":[]}}`)
	if e.Process.Args == nil || len(e.Process.Args) != 0 || len(e.Fields) != 0 {
		t.Errorf("process.args []: got %#v, fields %+v", e.Process.Args, e.Fields)
	}
}

func TestDecodeDuplicates(t *testing.T) {
	e := mustDecode(t, `{"a":1,"b":{"c":1},"a":2,"b.c":"x","process.name":"p","process":{"name":"q"}}`)
	want := Fields{{"a", Int(2)}, {"b.c", String("x")}}
	if !reflect.DeepEqual(e.Fields, want) || e.Process.Name != "q" {
		t.Errorf("got %+v name %q", e.Fields, e.Process.Name)
	}
	// A typed value wins over a value of the wrong type, in either order.
	for _, line := range []string{
		`{"process.pid":"x","process":{"pid":5}}`,
		`{"process":{"pid":5},"process.pid":"x"}`,
		`{"process.name":"","process.name":"n"}`,
	} {
		e := mustDecode(t, line)
		if len(e.Fields) != 0 || (e.Process.PID != 5 && e.Process.Name != "n") {
			t.Errorf("%s: got %+v", line, e)
		}
	}
}

// TestDecodeEmptyString keeps "" on a typed string path present.
func TestDecodeEmptyString(t *testing.T) {
	e := mustDecode(t, `{"user":{"name":""}}`)
	if s, ok := Lookup("user.name").Str(e); s != "" || !ok {
		t.Errorf(`user.name "": got %q %v`, s, ok)
	}
	if got := string(e.AppendJSON(nil)); got != `{"user":{"name":""}}` {
		t.Errorf("AppendJSON = %s", got)
	}
}

func TestDecodeEscapes(t *testing.T) {
	cases := []struct{ json, want string }{
		{`"a\u0000b"`, "a\x00b"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\uD83D\uDE00x"`, "😀x"},
		{`"\u00e9\u00E9é"`, "ééé"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\uffff"`, "\uffff"},
		{`"\ufffd"`, "\ufffd"},
		{"\"a\x9fb\"", `a\x9fb`},
		{"\"\xff\xfe\"", `\xff\xfe`},
		{"\"\xed\xa0\x80\"", `\xed\xa0\x80`}, // a surrogate in UTF-8 is invalid UTF-8
		{"\"\xe2\x82\"", `\xe2\x82`},         // truncated sequence
		{"\"é\xe2\x82\xac\"", "é€"},
	}
	for _, c := range cases {
		e := mustDecode(t, `{"k":`+c.json+`,"process.name":`+c.json+`}`)
		if got := e.Fields.Get("k").Str; got != c.want {
			t.Errorf("%s: generic %q, want %q", c.json, got, c.want)
		}
		if e.Process.Name != c.want {
			t.Errorf("%s: typed %q, want %q", c.json, e.Process.Name, c.want)
		}
	}
	// Keys are unescaped and normalized the same way.
	e := mustDecode(t, `{"pro\u0063ess":{"n\u0061me":"x"},"k\u00e9y\u002eb":1,"a`+"\x9f"+`":2}`)
	if e.Process.Name != "x" || e.Fields.Get("kéy.b").Int != 1 || e.Fields.Get(`a\x9f`).Int != 2 {
		t.Errorf("escaped keys: %+v", e)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, "ecs: offset 0: unexpected end of input"},
		{`   `, "ecs: offset 3: unexpected end of input"},
		{`[]`, "ecs: offset 0: expected object"},
		{`"x"`, "ecs: offset 0: expected object"},
		{` 5`, "ecs: offset 1: expected object"},
		{`{`, "ecs: offset 1: unexpected end of input"},
		{`{"a"`, "ecs: offset 4: unexpected end of input"},
		{`{"a":`, "ecs: offset 5: unexpected end of input"},
		{`{"a":1`, "ecs: offset 6: unexpected end of input"},
		{`{"a":1,`, "ecs: offset 7: unexpected end of input"},
		{`{"a":1}x`, "ecs: offset 7: invalid character 'x' after top-level value"},
		{`{"a":1}{}`, "ecs: offset 7: invalid character '{' after top-level value"},
		{`{a:1}`, "ecs: offset 1: invalid character 'a' looking for beginning of object key string"},
		{`{"a":1,}`, "ecs: offset 7: invalid character '}' looking for beginning of object key string"},
		{`{"a" 1}`, "ecs: offset 5: invalid character '1' after object key"},
		{`{"a":1 "b":2}`, "ecs: offset 7: invalid character '\"' after object key:value pair"},
		{`{"a":x}`, "ecs: offset 5: invalid character 'x' looking for beginning of value"},
		{`{"a":tru}`, "ecs: offset 8: invalid character '}' in literal true (expecting 'e')"},
		{`{"a":nul`, "ecs: offset 8: unexpected end of input"},
		{`{"a":[1,]}`, "ecs: offset 8: invalid character ']' looking for beginning of value"},
		{`{"a":[1 2]}`, "ecs: offset 8: invalid character '2' after array element"},
		{`{"a":[{"b":1]}`, "ecs: offset 12: invalid character ']' after object key:value pair"},
		{`{"a":[{"b" 1}]}`, "ecs: offset 11: invalid character '1' after object key"},
		{`{"a":[{1:1}]}`, "ecs: offset 7: invalid character '1' looking for beginning of object key string"},
		{`{"a":01}`, "ecs: offset 6: invalid character '1' after object key:value pair"},
		{`{"a":1.}`, "ecs: offset 7: invalid character '}' after decimal point in numeric literal"},
		{`{"a":.5}`, "ecs: offset 5: invalid character '.' looking for beginning of value"},
		{`{"a":-}`, "ecs: offset 6: invalid character '}' in numeric literal"},
		{`{"a":1e}`, "ecs: offset 7: invalid character '}' in exponent of numeric literal"},
		{`{"a":+1}`, "ecs: offset 5: invalid character '+' looking for beginning of value"},
		{`{"a":"x` + "\x01" + `"}`, "ecs: offset 7: invalid character '\\x01' in string literal"},
		{"{\"a\":\"x\ny\"}", "ecs: offset 7: invalid character '\\x0a' in string literal"},
		{`{"a":"\x"}`, "ecs: offset 7: invalid character 'x' in string escape code"},
		{`{"a":"\u12"}`, "ecs: offset 6: invalid \\u escape"},
		{`{"a":"\u12`, "ecs: offset 10: unexpected end of input"},
		{`{"a":"\uZZZZ"}`, "ecs: offset 6: invalid \\u escape"},
		{`{"a":"\ud83d"}`, "ecs: offset 6: lone surrogate in \\u escape"},
		{`{"a":"\ud83d\u0041"}`, "ecs: offset 6: lone surrogate in \\u escape"},
		{`{"a":"\ude00"}`, "ecs: offset 6: lone surrogate in \\u escape"},
		{`{"a":"x\`, "ecs: offset 8: unexpected end of input"},
		{`{"a":"x`, "ecs: offset 7: unexpected end of input"},
		{`{"a` + "\x00" + `":1}`, "ecs: offset 3: invalid character '\\x00' in string literal"},
		{"\xef\xbb\xbf{}", "ecs: offset 0: expected object"},
	}
	for _, c := range cases {
		var e Event
		err := Decode([]byte(c.in), &e)
		var se *SyntaxError
		if err == nil || err.Error() != c.want || !errors.As(err, &se) {
			t.Errorf("Decode(%q) = %v, want %s", c.in, err, c.want)
		}
	}
}

func TestDecodeDepth(t *testing.T) {
	deep := func(n int) string { return nest(strings.TrimSuffix(strings.Repeat("a.", n), "."), "1") }
	// 64 nested objects (the top-level one included) decode.
	e := mustDecode(t, deep(64))
	if len(e.Fields) != 1 || len(e.Fields[0].Path) != 64*2-1 {
		t.Errorf("64 levels: %+v", e.Fields)
	}
	var x Event
	if err := Decode([]byte(deep(65)), &x); err == nil || !strings.Contains(err.Error(), "nesting deeper than 64") {
		t.Errorf("65 objects: err = %v", err)
	}
	// Arrays count from the array: 64 levels decode, 65 do not.
	arr := func(n int) string { return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	e = mustDecode(t, arr(64))
	if v := e.Fields.Get("a"); v.Kind != KindRaw || len(v.Str) != 128 {
		t.Errorf("64 arrays: %+v", v)
	}
	if err := Decode([]byte(arr(65)), &x); err == nil || !strings.Contains(err.Error(), "nesting deeper than 64") {
		t.Errorf("65 arrays: err = %v", err)
	}
	// Hostile depth is an error, not a stack overflow.
	for _, in := range []string{strings.Repeat(`{"a":`, 1<<20), `{"a":` + strings.Repeat(`[{"b":`, 1<<19)} {
		if err := Decode([]byte(in), &x); err == nil {
			t.Error("deep input: no error")
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	line, err := os.ReadFile("testdata/process.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	// A decoder as Decode takes from its pool (which the race detector
	// empties at random, hence not Decode itself).
	var d decoder
	e := new(Event)
	d.decodeCopy(line, e)
	// The line's copy and the slab of string arrays.
	if n := testing.AllocsPerRun(100, func() {
		*e = Event{}
		d.decodeCopy(line, e)
	}); n != 2 {
		t.Errorf("Decode of the process event: %v allocations, want 2", n)
	}
}

// TestSlotsMatchStruct checks the generated slots table against the ecs
// tags of Event read by reflection: the same paths, in declaration order,
// at the same offsets, of the kind the Go type gives, with one distinct
// presence bit for each int64 and bool.
func TestSlotsMatchStruct(t *testing.T) {
	type want struct {
		path string
		off  uintptr
		kind slotKind
	}
	var fields []want
	var walk func(typ reflect.Type, prefix string, base uintptr)
	walk = func(typ reflect.Type, prefix string, base uintptr) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, ok := f.Tag.Lookup("ecs")
			if !ok {
				continue
			}
			opts := strings.Split(tag, ",")
			path := opts[0]
			if prefix != "" {
				path = prefix + "." + path
			}
			w := want{path: path, off: base + f.Offset}
			switch f.Type {
			case reflect.TypeFor[string]():
				w.kind = slotString
			case reflect.TypeFor[[]string]():
				w.kind = slotStrings
			case reflect.TypeFor[int64]():
				w.kind = slotInt
				if slices.Contains(opts[1:], "time") {
					w.kind = slotTime
				}
			case reflect.TypeFor[bool]():
				w.kind = slotBool
			default:
				walk(f.Type, path, base+f.Offset)
				continue
			}
			fields = append(fields, w)
		}
	}
	walk(reflect.TypeFor[Event](), "", 0)
	if len(fields) != nSlots {
		t.Fatalf("%d tagged fields, %d slots", len(fields), nSlots)
	}
	var bits Presence
	for id, w := range fields {
		sl := &slots[id]
		if sl.path != w.path || sl.off != w.off || sl.kind != w.kind {
			t.Errorf("slot %d = %s at %d kind %d, struct: %s at %d kind %d", id, sl.path, sl.off, sl.kind, w.path, w.off, w.kind)
		}
		switch sl.kind {
		case slotInt, slotTime, slotBool:
			if sl.bit == 0 || sl.bit&(sl.bit-1) != 0 || bits&sl.bit != 0 {
				t.Errorf("%s: presence bit %#x not one new bit", sl.path, sl.bit)
			}
			bits |= sl.bit
		default:
			if sl.bit != 0 {
				t.Errorf("%s: presence bit on a string field", sl.path)
			}
		}
	}
}

func TestSlotsMatchAccessors(t *testing.T) {
	paths := map[string]bool{}
	for _, p := range TypedPaths() {
		paths[p] = true
	}
	if len(paths) != nSlots {
		t.Fatalf("%d typed accessors, %d slots", len(paths), nSlots)
	}
	for id := range slots {
		sl := &slots[id]
		if !paths[sl.path] {
			t.Errorf("slot %s has no accessor", sl.path)
		}
		if got := slotOf(sl.path); got != id {
			t.Errorf("slotOf(%s) = %d, want %d", sl.path, got, id)
		}
		var e Event
		var want Value
		switch sl.kind {
		case slotString:
			*(*string)(sl.at(&e)) = "v" + sl.path
			want = String("v" + sl.path)
		case slotStrings:
			*(*[]string)(sl.at(&e)) = []string{sl.path}
			want = Strings([]string{sl.path})
		case slotInt, slotTime:
			*(*int64)(sl.at(&e)) = int64(id) + 1000
			e.Has |= sl.bit
			want = Int(int64(id) + 1000)
		case slotBool:
			*(*bool)(sl.at(&e)) = true
			e.Has |= sl.bit
			want = Bool(true)
		}
		if got := Lookup(sl.path).Get(&e); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: accessor reads %+v, slot wrote %+v", sl.path, got, want)
		}
		// Only this slot is present.
		for j := range slots {
			if j != id && slots[j].present(&e) {
				t.Errorf("%s: writing it made %s present", sl.path, slots[j].path)
			}
		}
	}
	for i := 1; i < nSlots; i++ {
		if slots[slotOrder[i-1]].path >= slots[slotOrder[i]].path {
			t.Errorf("slotOrder not sorted at %d", i)
		}
	}
}

func TestTrieMatchesSlots(t *testing.T) {
	prefixes := map[string]bool{}
	for id := range slots {
		path := slots[id].path
		if n, s := walk(nRoot, []byte(path)); n != -1 || s != id {
			t.Errorf("walk(%s) = %d, %d; want slot %d", path, n, s, id)
		}
		for i := range path {
			if path[i] == '.' {
				prefixes[path[:i]] = true
			}
		}
		for _, extra := range []string{path + ".x", path + "x", path[:len(path)-1], "x." + path} {
			if n, s := walk(nRoot, []byte(extra)); s != -1 || (n != -1) != prefixes[extra] {
				t.Errorf("walk(%s) = %d, %d", extra, n, s)
			}
		}
	}
	for p := range prefixes {
		n, s := walk(nRoot, []byte(p))
		if n < 0 || s != -1 {
			t.Errorf("walk(%s) = %d, %d; want a node", p, n, s)
			continue
		}
		// Every typed path under p is reached from its node.
		for id := range slots {
			if rest, ok := strings.CutPrefix(slots[id].path, p+"."); ok {
				if _, s := walk(n, []byte(rest)); s != id {
					t.Errorf("walk(%s node, %s) = %d, want %d", p, rest, s, id)
				}
			}
		}
	}
}

// TestShapes decodes variants of a line by the shape learned from it (and
// from a second shape sharing its prefix) and checks each against the
// general parser: same event, or the same error.
func TestShapes(t *testing.T) {
	const base = `{"@timestamp":"2026-11-27T10:00:00.001Z","event":{"kind":"event","category":["process"],"type":["start"],"sequence":7},` +
		`"process":{"pid":1000,"name":"zsh","args":["/bin/zsh","-c","x"],"start":"2026-11-27T10:00:00Z"},"labels":{"team":"a","n":5,"tags":["x","y"]},"user":{"name":"alice"}}`
	const other = `{"@timestamp":"2026-11-27T10:00:00.001Z","event":{"kind":"event","category":["process"],"type":["start"],"sequence":7},` +
		`"process":{"pid":1000,"name":"zsh"},"source":{"ip":"10.0.0.1","port":22}}`
	variants := []string{
		base, other,
		strings.Replace(base, `"zsh"`, `"bash"`, 1),
		strings.Replace(base, `"zsh"`, `""`, 1),         // empty typed string
		strings.Replace(base, `"zsh"`, `"z\u0073h"`, 1), // escape
		strings.Replace(base, `"zsh"`, `"zsh é"`, 1),    // non-ASCII
		strings.Replace(base, `"a"`, `""`, 1),           // empty generic string
		strings.Replace(base, `"2026-11-27T10:00:00Z"`, `"2026-11-27"`, 1),
		strings.Replace(base, `"2026-11-27T10:00:00Z"`, `"not a time"`, 1),
		strings.Replace(base, `"2026-11-27T10:00:00Z"`, `"1715678493418"`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":0`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":01`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":1000.5`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":1e3`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":-1`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":1234567890123456789`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":99999999999999999999`, 1),
		strings.Replace(base, `"pid":1000`, `"pid":"1000"`, 1),
		strings.Replace(base, `"n":5`, `"n":5.5`, 1),
		strings.Replace(base, `["process"]`, `[]`, 1),
		strings.Replace(base, `["process"]`, `["process","network"]`, 1),
		strings.Replace(base, `["process"]`, `[ "process"]`, 1),
		strings.Replace(base, `["process"]`, `["process",1]`, 1),
		strings.Replace(base, `["process"]`, `"process"`, 1),
		strings.Replace(base, `["x","y"]`, `["x","y","z"]`, 1),
		strings.Replace(base, `"team"`, `"zteam"`, 1), // generic order changes
		strings.Replace(base, `"team":"a"`, `"team":"a","n":6`, 1),
		strings.Replace(base, `"user"`, `"usr"`, 1),
		base + "  ",
		base + " x",
		base[:len(base)-1],
		base[:len(base)/2],
		strings.Replace(other, `"port":22`, `"port":22,"domain":"h"`, 1),
		strings.Replace(other, `}}`, `},"x":1}`, 1),
	}
	warm := decoder{shared: true}
	for _, learn := range []string{base, other} {
		var e Event
		warm.learnGap, warm.misses = 0, 0
		if err := warm.decode([]byte(learn), &e); err != nil {
			t.Fatal(err)
		}
	}
	if len(warm.shapes) != 2 {
		t.Fatalf("%d shapes learned, want 2", len(warm.shapes))
	}
	for _, v := range variants {
		fresh := decoder{shared: true}
		var want, got Event
		wantErr := fresh.decodeGeneral([]byte(v), &want)
		shaped := warm.decodeShaped([]byte(v), &got)
		if !shaped {
			got = Event{}
			if err := warm.decodeGeneral([]byte(v), &got); fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%s: error %v, want %v", v, err, wantErr)
				continue
			}
		} else if wantErr != nil {
			t.Errorf("%s: decoded by a shape, want error %v", v, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s (shaped %v):\ngot  %s\nwant %s", v, shaped, got.AppendJSON(nil), want.AppendJSON(nil))
		}
	}
	// The base and the other shape, and a plain change of value, go by
	// shapes; the other variants by the general parser or a shape, alike.
	for _, v := range []string{base, other, variants[2]} {
		var e Event
		if !warm.decodeShaped([]byte(v), &e) {
			t.Errorf("not decoded by a shape: %s", v)
		}
	}
}

// TestShapeEviction keeps the most recently used shapes.
func TestShapeEviction(t *testing.T) {
	d := decoder{shared: true}
	line := func(i int) []byte { return []byte(fmt.Sprintf(`{"k%d":"v","event":{"kind":"x"}}`, i)) }
	for i := range maxShapes + 2 {
		var e Event
		d.learnGap, d.misses = 0, 0
		if err := d.decode(line(i), &e); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // keep shape 0 in use
			continue
		}
		d.decode(line(0), &e)
	}
	if len(d.shapes) != maxShapes {
		t.Fatalf("%d shapes, want %d", len(d.shapes), maxShapes)
	}
	for _, i := range []int{0, maxShapes + 1} {
		var e Event
		if !d.decodeShaped(line(i), &e) {
			t.Errorf("shape %d evicted", i)
		}
	}
	var e Event
	if d.decodeShaped(line(1), &e) {
		t.Error("shape 1 kept")
	}
}

// TestTypedSlotReads checks Accessor.TypedStr, TypedStrs and TypedBool
// against Str, Strs and Int for every typed string, string-array and
// boolean field: the decoded
// value when the field is typed in the line, empty when it is absent or
// arrived with another JSON type (then only Str/Get see it, in Fields).
func TestTypedSlotReads(t *testing.T) {
	n, bools := 0, 0
	for _, path := range TypedPaths() {
		a := Lookup(path)
		var set, other, none Event
		switch a.Type {
		case TypeString:
			if err := Decode([]byte(`{"`+path+`":"v:`+path+`"}`), &set); err != nil {
				t.Fatal(err)
			}
			if err := Decode([]byte(`{"`+path+`":7}`), &other); err != nil {
				t.Fatal(err)
			}
			if got, _ := a.Str(&set); a.TypedStr(&set) != got || got != "v:"+path {
				t.Errorf("%s: TypedStr %q, Str %q", path, a.TypedStr(&set), got)
			}
			if a.TypedStr(&other) != "" || a.TypedStr(&none) != "" {
				t.Errorf("%s: TypedStr of a number %q, of nothing %q", path, a.TypedStr(&other), a.TypedStr(&none))
			}
			n++
		case TypeStrings:
			if err := Decode([]byte(`{"`+path+`":["a","b:`+path+`"]}`), &set); err != nil {
				t.Fatal(err)
			}
			if got := a.TypedStrs(&set); !slices.Equal(got, a.Strs(&set)) || len(got) != 2 || got[1] != "b:"+path {
				t.Errorf("%s: TypedStrs %q, Strs %q", path, got, a.Strs(&set))
			}
			if a.TypedStrs(&none) != nil {
				t.Errorf("%s: TypedStrs of nothing %q", path, a.TypedStrs(&none))
			}
			n++
		case TypeBool:
			if err := Decode([]byte(`{"`+path+`":true}`), &set); err != nil {
				t.Fatal(err)
			}
			if err := Decode([]byte(`{"`+path+`":"true"}`), &other); err != nil {
				t.Fatal(err)
			}
			var unset Event
			if err := Decode([]byte(`{"`+path+`":false}`), &unset); err != nil {
				t.Fatal(err)
			}
			v, ok := a.TypedBool(&set)
			f, fok := a.TypedBool(&unset)
			if got, _ := a.Int(&set); !v || !ok || got != 1 || f || !fok {
				t.Errorf("%s: TypedBool of true %v %v (Int %d), of false %v %v", path, v, ok, got, f, fok)
			}
			if _, ok := a.TypedBool(&other); ok {
				t.Errorf("%s: TypedBool of a string is set", path)
			}
			if _, ok := a.TypedBool(&none); ok {
				t.Errorf("%s: TypedBool of nothing is set", path)
			}
			bools++
		}
	}
	if n < 40 || bools < 4 {
		t.Fatalf("%d typed string fields and %d booleans checked", n, bools)
	}
}

// TestMinuteMemo parses a run of times with one minuteMemo, as a decoder
// does, and each alone: the remembered minute must never change a result,
// whether the next time shares it or not, and whether it is valid or not
// (a bad second or fraction after a good minute, a bad minute after it).
func TestMinuteMemo(t *testing.T) {
	times := []string{
		"2024-05-14T09:21:33Z", "2024-05-14T09:21:34.5Z", "2024-05-14T09:21:59.999999999Z",
		"2024-05-14T09:21:60Z", "2024-05-14T09:21:3xZ", "2024-05-14T09:21:33.Z",
		"2024-05-14T09:21:33.12345678901Z", "2024-05-14T09:21:33.1x3Z", "2024-05-14T09:21:33+02:00",
		"2024-05-14T09:21:33", "2024-05-14T09:21 33Z", "2024-05-14T09:22:00Z", "2024-05-14T09:22:01Z",
		"2024-05-14T09:21:33Z", "2024-02-30T09:21:33Z", "2024-02-30T09:21:34Z", "2024-05-14T24:00:00Z",
		"2024-05-14T09:60:00Z", "2024-13-14T09:21:33Z", "1969-12-31T23:59:59.999999999Z",
		"1969-12-31T23:59:58Z", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
		"2262-04-11T23:47:17Z", "1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224191Z",
		"1715678493418", "2024-05-14T09:21:33Z",
	}
	var m minuteMemo
	valid := 0
	for _, s := range times {
		got, gotOK := m.parseTime([]byte(s))
		want, wantOK := parseTime([]byte(s))
		if got != want || gotOK != wantOK {
			t.Errorf("%s after the memo's minute: %d %v, alone %d %v", s, got, gotOK, want, wantOK)
		}
		if wantOK {
			valid++
		}
	}
	if valid != 14 {
		t.Errorf("%d of the times parse, want 14", valid)
	}
}

// TestRunMemo decodes, with one decoder as a Reader does, lines whose host
// members repeat (a remembered run), differ in a byte at the run's start,
// middle or end, stop inside it, or come from more hosts than a memo has
// entries; every event must equal a fresh decoder's, and stay equal while
// later lines are decoded (events keep the remembered strings). A
// repeated host must be taken from the memo: its strings then lie in the
// memo's copy, outside every line.
func TestRunMemo(t *testing.T) {
	// Two runs: the event's kind, category, type and action (with
	// arrays), the host's members.
	host := func(id, name, ver, typ string) string {
		return `{"@timestamp":"2024-05-14T09:21:33Z","event":{"kind":"event","category":["process"],"type":[` + typ +
			`],"action":"exec","sequence":1},"host":{"id":"` + id + `","name":"` + name + `","hostname":"` + name +
			`","os":{"type":"macos","version":"` + ver + `"}},"process":{"pid":4821,"name":"zsh"}}`
	}
	const id, start = "E3B0C442-98FC-1C14", `"start"`
	var lines []string
	for i := range 40 {
		lines = append(lines, host(id, "mbp-alice", "14.4.1", start))
		switch i % 6 {
		case 0:
			lines = append(lines, host("E3B0C442-98FC-1C15", "mbp-alice", "14.4.1", start)) // the first value
		case 1:
			lines = append(lines, host(id, "mbp-alicf", "14.4.1", `"start",""`)) // a middle one; an empty element
		case 2:
			lines = append(lines, host(id, "mbp-alice", "14.4.2", `"start","end"`)) // the last byte; one element more
		case 3:
			line := host(id, "mbp-alice", "14.4.1", start)
			lines = append(lines, line[:strings.Index(line, "hostname")]) // cut inside the host's run
		case 4:
			lines = append(lines, host(fmt.Sprintf("HOST-%04d-AAAA", i), "mbp-alice", "14.4.1", start)) // many hosts
		case 5:
			lines = append(lines, host(id, "mbp-alice", "14.4.11", start)) // longer at the end
		}
	}
	d := decoder{shared: true}
	type kept struct {
		e    *Event
		json string
	}
	var all []kept
	var bufs [][]byte
	fromMemo, typeFromMemo := 0, 0
	for n, line := range lines {
		buf := []byte(line)
		var want Event
		wantErr := (&decoder{shared: true}).decodeGeneral(buf, &want)
		got := new(Event)
		err := d.decode(buf, got)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("line %d: error %v, fresh decoder %v", n, err, wantErr)
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("line %d:\n%s\nfresh decoder:\n%s", n, got.AppendJSON(nil), want.AppendJSON(nil))
		}
		bufs = append(bufs, buf)
		inLine := func(s string) bool {
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			for _, b := range bufs {
				if start := uintptr(unsafe.Pointer(&b[0])); p >= start && p < start+uintptr(len(b)) {
					return true
				}
			}
			return false
		}
		if !inLine(got.Host.OS.Version) {
			fromMemo++
		}
		if !inLine(got.Event.Type[0]) {
			typeFromMemo++
		}
		all = append(all, kept{got, string(got.AppendJSON(nil))})
	}
	for n, k := range all {
		if got := string(k.e.AppendJSON(nil)); got != k.json {
			t.Fatalf("event %d changed:\n%s\nwas\n%s", n, got, k.json)
		}
	}
	// The first line is learned (its shape and its run), then its 39
	// repeats hit; so do the 6 repeats of the other id, which has a set
	// of its own. The variants with the first line's id share its set:
	// each evicts the older entry, the variant before it, and misses.
	if fromMemo != 45 {
		t.Errorf("%d of %d events took their host from the memo, want 45", fromMemo, len(all))
	}
	// The event's run is the first line's in 39 repeats of it and in the
	// 19 variants of the host alone; each variant of the type evicts the
	// other (their set is the first line's, the first value being "event").
	if typeFromMemo != 58 {
		t.Errorf("%d of %d events took their type from the memo, want 58", typeFromMemo, len(all))
	}
}
