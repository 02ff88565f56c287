package eql

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// The Elasticsearch EQL spec suite (testdata/spec, copied from
// ../shared/eql-spec): every class a and b query must parse and compile;
// the event queries among them (and the arithmetic ones of class c) are
// run over the endgame-140 data and must return exactly the expected ids.
// Sequences are the engine's business (package detect).

type specQuery struct {
	File     string
	Name     string `toml:"name"`
	Query    string `toml:"query"`
	Expected []int  `toml:"expected_event_ids"`
	Class    string
}

func loadSpec(t *testing.T) []specQuery {
	t.Helper()
	var classes []struct {
		File  string `json:"file"`
		Name  string `json:"name"`
		Class string `json:"class"`
	}
	data, err := os.ReadFile("testdata/spec/classification.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &classes); err != nil {
		t.Fatal(err)
	}
	class := map[string]string{}
	for _, c := range classes {
		class[c.File+"/"+c.Name] = c.Class
	}
	var all []specQuery
	for _, f := range []string{"test_queries.toml", "additional_test_queries.toml", "test_missing_events.toml"} {
		var doc struct {
			Queries []specQuery `toml:"queries"`
		}
		if _, err := toml.DecodeFile("testdata/spec/"+f, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, q := range doc.Queries {
			q.File = f
			q.Name = strings.TrimSpace(q.Name)
			q.Query = strings.TrimSpace(q.Query)
			q.Class = class[f+"/"+q.Name]
			if q.Class == "" {
				t.Fatalf("%s/%s: not classified", f, q.Name)
			}
			all = append(all, q)
		}
	}
	return all
}

func TestSpecParseCompile(t *testing.T) {
	counts := map[string]int{}
	ok := map[string]int{}
	for _, q := range loadSpec(t) {
		counts[q.Class]++
		parsed, err := Parse(q.Query)
		if err == nil {
			err = compileQuery(parsed)
		}
		if err != nil {
			if q.Class == "a" || q.Class == "b" {
				t.Errorf("%s (class %s): %v\n%s", q.Name, q.Class, err, q.Query)
			} else if !strings.Contains(err.Error(), "missing events ![...] are not supported") {
				t.Errorf("%s (class c): unexpected error %v", q.Name, err)
			}
			continue
		}
		ok[q.Class]++
	}
	t.Logf("parsed and compiled: class a %d/%d, class b %d/%d, class c %d/%d",
		ok["a"], counts["a"], ok["b"], counts["b"], ok["c"], counts["c"])
	if counts["a"] != 159 || counts["b"] != 18 || counts["c"] != 43 {
		t.Errorf("class counts a=%d b=%d c=%d, want 159, 18 and 43", counts["a"], counts["b"], counts["c"])
	}
	// Class c: the 17 arithmetic queries compile; the 26 missing-event
	// sequences (![...]) are rejected.
	if ok["c"] != 17 {
		t.Errorf("class c compiled: %d, want 17", ok["c"])
	}
}

// endgameEvent is one event of endgame-140.data with the fields the spec
// harness adds: @timestamp (epoch millis from the FILETIME timestamp) and
// the event.category alias of event_type.
type endgameEvent struct {
	id int64
	ts int64
	ev *ecs.Event
}

func loadEndgame(t testing.TB) []endgameEvent {
	t.Helper()
	data, err := os.ReadFile("testdata/spec/endgame-140.data")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw []map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	out := make([]endgameEvent, 0, len(raw))
	for _, m := range raw {
		e := &ecs.Event{}
		flatten(&e.Fields, "", m)
		if v := e.Fields.Get("event_type"); v.Kind == ecs.KindString {
			e.Event.Category = []string{v.Str}
		}
		ft := e.Fields.Get("timestamp").Int
		ts := ft/10_000 - 11_644_473_600_000
		e.Fields.Set("@timestamp", ecs.Int(ts))
		out = append(out, endgameEvent{id: e.Fields.Get("serial_event_id").Int, ts: ts, ev: e})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ts != out[j].ts {
			return out[i].ts < out[j].ts
		}
		return out[i].id < out[j].id
	})
	return out
}

// flatten stores a decoded JSON object in fs under dotted paths.
func flatten(fs *ecs.Fields, prefix string, m map[string]any) {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(fs, path, sub)
			continue
		}
		fs.Set(path, jsonValue(v))
	}
}

func jsonValue(v any) ecs.Value {
	switch v := v.(type) {
	case nil:
		return ecs.Null
	case string:
		return ecs.String(v)
	case bool:
		return ecs.Bool(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return ecs.Int(i)
		}
		f, _ := v.Float64()
		return ecs.Float(f)
	case []any:
		strs := make([]string, 0, len(v))
		allStr := true
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				allStr = false
				break
			}
			strs = append(strs, s)
		}
		if allStr {
			return ecs.Strings(strs)
		}
		list := make([]ecs.Value, len(v))
		for i, x := range v {
			list[i] = jsonValue(x)
		}
		return ecs.Value{Kind: ecs.KindList, List: list}
	}
	b, _ := json.Marshal(v)
	return ecs.Value{Kind: ecs.KindRaw, Str: string(b)}
}

// TestSpecEventQueries runs the spec's event queries over endgame-140 and
// compares the ids, in (@timestamp, serial_event_id) order, after the
// head/tail pipes and the harness's default size of 50.
func TestSpecEventQueries(t *testing.T) {
	events := loadEndgame(t)
	if len(events) != 102 {
		t.Fatalf("loaded %d events, want 102", len(events))
	}
	ran, passed := 0, 0
	for _, q := range loadSpec(t) {
		parsed, err := Parse(q.Query)
		if err != nil || parsed.Event == nil {
			continue // sequences, and class c queries that do not parse
		}
		m, err := Compile(parsed.Event)
		if err != nil {
			continue
		}
		ran++
		var got []int
		for _, e := range events {
			if m(e.ev) {
				got = append(got, int(e.id))
			}
		}
		for _, p := range parsed.Pipes {
			if p.Name == "head" && len(got) > p.N {
				got = got[:p.N]
			}
			if p.Name == "tail" && len(got) > p.N {
				got = got[len(got)-p.N:]
			}
		}
		if len(got) > 50 {
			got = got[:50]
		}
		want := q.Expected
		if len(want) == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s (class %s): got %v, want %v\n%s", q.Name, q.Class, got, want, q.Query)
			continue
		}
		passed++
	}
	t.Logf("event queries run: %d, matching Elasticsearch's expected ids: %d", ran, passed)
	if ran != 149 {
		t.Errorf("ran %d event queries, want 149 (132 class a/b + 17 arithmetic)", ran)
	}
}
