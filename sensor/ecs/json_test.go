package ecs

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// processEvent is a full process start event shaped like Elastic Defend's
// on macOS, typed fields and generic ones.
func processEvent() *Event {
	return &Event{
		Timestamp: 1715678493418000000,
		Event: EventMeta{
			ID: "NVDhH9QzEzn5Vd2y++++++Ay", Kind: "event", Category: []string{"process"}, Type: []string{"start"},
			Action: "exec", Dataset: "endpoint.events.process", Module: "endpoint", Outcome: "unknown",
			Created: 1715678493418506123, Sequence: 41827,
		},
		Host: Host{
			ID: "E3B0C442-98FC-1C14-9AFB-F4C8996FB924", Name: "mbp-alice", Hostname: "mbp-alice", Architecture: "arm64",
			OS: OS{Type: "macos", Name: "macOS", Version: "14.4.1", Kernel: "23.4.0", Family: "macos", Platform: "macos", Full: "macOS 14.4.1"},
		},
		Agent: Agent{ID: "5b8f3b52-1d2e-4c8a-9f6e-0d7c3a1b2e4f", Type: "endpoint", Version: "8.13.2", Name: "mbp-alice"},
		Process: Process{
			PID: 4821, EntityID: "Zjk2NmE1ZTctYzk2Yy00YmQ5", Name: "automator", Executable: "/usr/bin/automator",
			Args:      []string{"/usr/bin/automator", "-i", "/Users/alice/Downloads/in voice \"2\".workflow", "caf\xe9"},
			ArgsCount: 4, CommandLine: "/usr/bin/automator -i '/Users/alice/Downloads/in voice \"2\".workflow' caf\xe9",
			Start: 1715678493417000000, WorkingDirectory: "/Users/alice", ArgsTruncated: false,
			Parent: Parent{PID: 4711, EntityID: "YWJjZGVm", Name: "zsh", Executable: "/bin/zsh",
				Args: []string{"-zsh"}, CommandLine: "-zsh"},
			CodeSignature: CodeSignature{Exists: true, Trusted: true, Status: "trusted", SigningID: "com.apple.Automator"},
			Hash:          Hash{SHA256: "3f1c0c7e8d2c6b7a9e0f4d5c6b7a8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
		},
		User: User{ID: "501", Name: "alice"},
		Has: HasTimestamp | HasCreated | HasSequence | HasPID | HasArgsCount | HasStart | HasArgsTruncated | HasParentPID |
			HasProcessCodeSignatureExists | HasProcessCodeSignatureTrusted,
		Fields: Fields{
			{"data_stream.dataset", String("endpoint.events.process")},
			{"data_stream.namespace", String("default")},
			{"data_stream.type", String("logs")},
			{"ecs.version", String("8.10.0")},
			{"group.id", String("20")},
			{"group.name", String("staff")},
			{"process.interactive", Bool(false)},
			{"process.parent.code_signature.team_id", String("")}, // "" is absent in a typed string: kept here
			{"process.thread.capabilities.effective", Value{Kind: KindStrings, Strs: []string{}}},
			{"process.Ext.ancestry", Strings([]string{"YWJjZGVm", "MTIzNDU2"})},
			{"process.Ext.effective_parent.pid", Int(1)},
			{"process.Ext.relative_file_creation_time", Float(312.25)},
			{"process.Ext.trusted_descendant", Value{Kind: KindList, List: []Value{Int(1), String("x"), Null, Float(0.5), Bool(false)}}},
			{"process.Ext.code_signature", Value{Kind: KindRaw, Str: `[{"exists":true,"trusted":true}]`}},
		},
	}
}

// networkEvent is a connection attempt shaped like Elastic Defend's.
func networkEvent() *Event {
	return &Event{
		Timestamp: 1715678495002000000,
		Event: EventMeta{
			ID: "NVDhH9QzEzn5Vd2y++++++B1", Kind: "event", Category: []string{"network"}, Type: []string{"start"},
			Action: "connection_attempted", Dataset: "endpoint.events.network", Module: "endpoint",
			Created: 1715678495002300000, Sequence: 41830,
		},
		Host:  Host{ID: "E3B0C442-98FC-1C14-9AFB-F4C8996FB924", Name: "mbp-alice", OS: OS{Type: "macos", Version: "14.4.1"}},
		Agent: Agent{ID: "5b8f3b52-1d2e-4c8a-9f6e-0d7c3a1b2e4f", Type: "endpoint", Version: "8.13.2"},
		Process: Process{
			PID: 4830, EntityID: "Mzc4NTJhYjEtYzk2Yy00YmQ5", Name: "com.apple.automator.runner",
			Executable: "/System/Library/CoreServices/Automator Application Stub.app/Contents/MacOS/com.apple.automator.runner",
		},
		User:        User{ID: "501", Name: "alice"},
		Source:      Endpoint{IP: "192.168.1.23", Port: 52144},
		Destination: Endpoint{IP: "203.0.113.42", Port: 443, Domain: "updates.example.com"},
		Network:     Network{Transport: "tcp", Type: "ipv4", Direction: "egress"},
		Has:         HasTimestamp | HasCreated | HasSequence | HasPID | HasSourcePort | HasDestinationPort,
		Fields: Fields{
			{"destination.address", String("203.0.113.42")},
			{"network.community_id", String("1:LQU9qZlK+B5F3KDmev6m5PMibrg=")},
			{"network.iana_number", String("6")},
			{"source.address", String("192.168.1.23")},
		},
	}
}

func TestAppendJSONGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		e    *Event
	}{{"process", processEvent()}, {"network", networkEvent()}} {
		sortFields(c.e)
		got := c.e.AppendJSON(nil)
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Errorf("%s: not valid JSON / UTF-8: %s", c.name, got)
		}
		// Indented for review; the golden is compared compacted.
		var pretty bytes.Buffer
		json.Indent(&pretty, got, "", "  ")
		pretty.WriteByte('\n')
		path := "testdata/" + c.name + ".golden.json"
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, compact.Bytes()) {
			t.Errorf("%s: AppendJSON differs from %s (run with -update to see)\ngot  %s\nwant %s", c.name, path, got, compact.Bytes())
		}
	}
}

// sortFields sorts a hand-built event's Fields, as Fields requires.
func sortFields(e *Event) {
	fs := e.Fields
	e.Fields = nil
	for _, f := range fs {
		e.Fields.Set(f.Path, f.Value)
	}
}

// TestRoundTrip checks Decode(AppendJSON(e)) == e for events whose strings
// are valid UTF-8, in nested, dotted and mixed renderings.
func TestRoundTrip(t *testing.T) {
	events := map[string]*Event{"process": processEvent(), "network": networkEvent(), "empty": {}}
	// The process event carries invalid UTF-8; the round trip is exact
	// once it is spelled the way AppendJSON writes it.
	p := events["process"]
	p.Process.Args[3] = `caf\xe9`
	p.Process.CommandLine = strings.ReplaceAll(p.Process.CommandLine, "\xe9", `\xe9`)
	events["generic only"] = &Event{Fields: Fields{{"a", Int(1)}, {"a.b", Int(2)}, {"a-b", String("x")}, {"b.c.d", Bool(true)}, {"", String("empty key")}}}
	events["leaf and prefix"] = &Event{Process: Process{Name: "n"}, Fields: Fields{{"process", String("p")}, {"process.name.text", String("t")}}}
	for name, e := range events {
		sortFields(e)
		line := e.AppendJSON(nil)
		for form, in := range map[string][]byte{"nested": line, "dotted": dotted(t, line), "indented": indented(line)} {
			var got Event
			if err := Decode(in, &got); err != nil {
				t.Fatalf("%s %s: %v\n%s", name, form, err, in)
			}
			if !reflect.DeepEqual(&got, e) {
				t.Errorf("%s %s:\ngot  %+v\nwant %+v\n%s", name, form, got, *e, in)
			}
		}
	}
}

// dotted rewrites a JSON object with every leaf at the top level under its
// dotted path (arrays kept whole).
func dotted(t *testing.T, line []byte) []byte {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	flat := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(map[string]any); ok {
			for k, x := range o {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
			return
		}
		flat[prefix] = v
	}
	for k, v := range m {
		walk(k, v)
	}
	out, err := json.Marshal(flat)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func indented(line []byte) []byte {
	var b bytes.Buffer
	json.Indent(&b, line, " ", "\t")
	return b.Bytes()
}

func TestAppendJSONShapes(t *testing.T) {
	cases := []struct {
		name string
		e    Event
		want string
	}{
		{"empty", Event{}, `{}`},
		{"absent typed fields omitted", Event{Process: Process{PID: 7, Args: nil}, Event: EventMeta{Type: []string{}}},
			`{"event":{"type":[]}}`},
		{"presence bit without value", Event{Has: HasPID}, `{"process":{"pid":0}}`},
		{"leaf and prefix", Event{Fields: Fields{{"a", Int(1)}, {"a-b", Int(3)}, {"a.b", Int(2)}, {"a.c.d", Int(4)}, {"b.c", Int(5)}}},
			`{"a":1,"a-b":3,"a.b":2,"a.c.d":4,"b":{"c":5}}`},
		{"typed leaf, generic below", Event{Process: Process{Name: "x"}, Fields: Fields{{"process.name.text", String("y")}, {"process.pe.x", Int(1)}}},
			`{"process":{"name":"x","name.text":"y","pe":{"x":1}}}`},
		{"typed wins over field", Event{Process: Process{Name: "x"}, Fields: Fields{{"process.name", String("y")}, {"process.pid", String("12")}}},
			`{"process":{"name":"x","pid":"12"}}`},
		{"nulls omitted", Event{Fields: Fields{{"a", Null}, {"a.b", Int(1)}, {"c", Value{Kind: KindRaw}}}},
			`{"a":{"b":1}}`},
		{"empty segments", Event{Fields: Fields{{"", Int(1)}, {".", Int(2)}, {".a", Int(3)}, {"b.", Int(4)}}},
			`{"":1,".":2,".a":3,"b":{"":4}}`},
		{"times", Event{Timestamp: -1, Has: HasTimestamp | HasCreated | HasStart, Event: EventMeta{Created: 0}, Process: Process{Start: 1e9 + 5e8}},
			`{"@timestamp":"1969-12-31T23:59:59.999999999Z","event":{"created":"1970-01-01T00:00:00Z"},"process":{"start":"1970-01-01T00:00:01.5Z"}}`},
		// b is a real negative zero (the constant -0.0 is +0).
		{"floats", Event{Fields: Fields{{"a", Float(1)}, {"b", Float(math.Copysign(0, -1))}, {"c", Float(1e21)}, {"d", Float(1e-7)}, {"e", Float(123.456)}, {"f", Float(math.NaN())}, {"g", Float(math.Inf(1))}, {"h", Float(1e20)}}},
			`{"a":1.0,"b":-0.0,"c":1e+21,"d":1e-7,"e":123.456,"f":null,"g":null,"h":100000000000000000000.0}`},
		{"bools and ints", Event{Process: Process{ArgsTruncated: true}, Has: HasArgsTruncated, Fields: Fields{{"i", Int(math.MinInt64)}, {"t", Bool(false)}}},
			`{"i":-9223372036854775808,"process":{"Ext":{"command_line_truncated":true}},"t":false}`},
		{"strings", Event{User: User{Name: "q\"b\\s/\n\r\t\x00\x1f\x7f é€😀 \u2028 \ufffd"}},
			`{"user":{"name":"q\"b\\s/\n\r\t\u0000\u001f` + "\x7f é€😀 \u2028 \ufffd" + `"}}`},
		{"invalid utf-8", Event{Process: Process{Args: []string{"a\x9fb", "\xff", "\xe2\x82", "\xed\xa0\x80"}}},
			`{"process":{"args":["a\\x9fb","\\xff","\\xe2\\x82","\\xed\\xa0\\x80"]}}`},
		{"invalid utf-8 in a key", Event{Fields: Fields{{"k\xff.x", Int(1)}}},
			`{"k\\xff":{"x":1}}`},
		{"lists", Event{Fields: Fields{{"l", Value{Kind: KindList, List: []Value{Int(1), Value{Kind: KindList, List: []Value{String("x")}}, Null}}}, {"s", Strings([]string{"a"})}}},
			`{"l":[1,["x"],null],"s":["a"]}`},
	}
	for _, c := range cases {
		got := string(c.e.AppendJSON(nil))
		if got != c.want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, c.want)
		}
		if !json.Valid([]byte(got)) || !utf8.ValidString(got) {
			t.Errorf("%s: invalid JSON or UTF-8: %s", c.name, got)
		}
	}
}

// TestAppendJSONDeepPath caps object nesting so the output decodes again.
func TestAppendJSONDeepPath(t *testing.T) {
	path := strings.TrimSuffix(strings.Repeat("s.", 100), ".")
	e := Event{Fields: Fields{{path, Int(1)}, {"z", Value{Kind: KindRaw, Str: strings.Repeat("[", 64) + strings.Repeat("]", 64)}}}}
	out := e.AppendJSON(nil)
	if n := bytes.Count(out, []byte("{")); n != maxDepth {
		t.Errorf("%d objects, want %d", n, maxDepth)
	}
	var got Event
	if err := Decode(out, &got); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("decode: %v %+v", err, got)
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	e := processEvent()
	sortFields(e)
	dst := e.AppendJSON(nil)
	if n := testing.AllocsPerRun(100, func() { dst = e.AppendJSON(dst[:0]) }); n != 0 {
		t.Errorf("AppendJSON: %v allocations, want 0", n)
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	e := networkEvent()
	sortFields(e)
	b, err := json.Marshal(struct {
		Events []*Event `json:"Events"`
	}{[]*Event{e}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, e.AppendJSON(nil)) {
		t.Errorf("json.Marshal: %s", b)
	}
	var back struct{ Events []*Event }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Events) != 1 || !reflect.DeepEqual(back.Events[0], e) {
		t.Errorf("json.Unmarshal: %+v", back.Events)
	}
}

func TestAppendTime(t *testing.T) {
	values := []int64{0, 1, -1, 999999999, 1e9, -1e9, 1715678493418000000, 1715678493418506123,
		math.MinInt64, math.MaxInt64, 951782400e9, 951868799999999999, -62135596800e9 / 1000}
	for v := int64(1); v < math.MaxInt64/3; v = v*3 + 7 {
		values = append(values, v, -v)
	}
	for _, v := range values {
		got := string(AppendTime(nil, v))
		want := time.Unix(0, v).UTC().Format(time.RFC3339Nano)
		if got != want {
			t.Errorf("AppendTime(%d) = %s, want %s", v, got, want)
		}
		if back, ok := parseTime([]byte(got)); !ok || back != v {
			t.Errorf("parseTime(%s) = %d %v, want %d", got, back, ok, v)
		}
		// The general parser agrees with the fast path.
		if back, ok := parseISOGeneral(append([]byte(got[:len(got)-1]), "+00:00"...)); !ok || back != v {
			t.Errorf("parseISOGeneral(%s+00:00) = %d %v", got[:len(got)-1], back, ok)
		}
	}
}
