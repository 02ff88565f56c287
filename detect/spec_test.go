package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/macsensor/macsensor/detect/eql"
	"github.com/macsensor/macsensor/sensor/ecs"
)

// The Elasticsearch EQL spec suite (testdata/eql-spec/README.md): the
// endgame-140 data set and the queries of test_queries.toml and
// additional_test_queries.toml, run through detect/eql and the engine, and
// compared with Elasticsearch's expected_event_ids.

// specDir finds the spec files: the package's copy, else the shared folder
// next to the repository.
func specDir(t *testing.T) string {
	for _, d := range []string{filepath.Join("testdata", "eql-spec"), filepath.Join("..", "..", "shared", "eql-spec")} {
		if _, err := os.Stat(filepath.Join(d, "endgame-140.data")); err == nil {
			return d
		}
	}
	t.Skip("eql-spec data not found in testdata/eql-spec nor ../../shared/eql-spec")
	return ""
}

// specQuery is one [[queries]] entry.
type specQuery struct {
	Name     string `toml:"name"`
	Query    string `toml:"query"`
	Expected any    `toml:"expected_event_ids"`
	Size     int    `toml:"size"`
}

// expected returns the accepted answers: one list, or alternatives.
func (q *specQuery) expected() [][]int64 {
	list, _ := q.Expected.([]any)
	if len(list) > 0 {
		if _, nested := list[0].([]any); nested {
			var alts [][]int64
			for _, a := range list {
				alts = append(alts, toInts(a.([]any)))
			}
			return alts
		}
	}
	return [][]int64{toInts(list)}
}

func toInts(l []any) []int64 {
	out := make([]int64, 0, len(l))
	for _, v := range l {
		out = append(out, v.(int64))
	}
	return out
}

// loadEndgame reads endgame-140.data as the harness loads it: @timestamp
// from the FILETIME timestamp (integer division to epoch milliseconds), the
// aliases event.category → event_type and event.sequence →
// serial_event_id. The events come back sorted by (@timestamp,
// serial_event_id).
func loadEndgame(t *testing.T, dir string) []*ecs.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "endgame-140.data"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []map[string]any
	if err := dec.Decode(&docs); err != nil {
		t.Fatal(err)
	}
	evs := make([]*ecs.Event, 0, len(docs))
	for _, d := range docs {
		ft, err := d["timestamp"].(json.Number).Int64()
		if err != nil {
			t.Fatal(err)
		}
		d["@timestamp"] = ft/10_000 - 11_644_473_600_000
		d["event"] = map[string]any{"category": d["event_type"], "sequence": d["serial_event_id"]}
		line, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		ev := new(ecs.Event)
		if err := ecs.Decode(line, ev); err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		evs = append(evs, ev)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if a.Timestamp != b.Timestamp {
			return a.Timestamp < b.Timestamp
		}
		return a.Event.Sequence < b.Event.Sequence
	})
	return evs
}

// runSpecQuery runs one query over the events and returns the flattened
// serial_event_ids as the harness compares them: pipes applied in order,
// then the size limit (the first size results).
func runSpecQuery(src string, size int, evs []*ecs.Event) ([]int64, error) {
	r, err := QueryRule(src)
	if err != nil {
		return nil, err
	}
	var matches [][]int64
	eng, err := NewEngine([]*Rule{r}, nil, Options{
		MaxPending: 1 << 30, // Elasticsearch has no cap
		OnMatch: func(_ *Rule, m []*ecs.Event) {
			ids := make([]int64, len(m))
			for i, e := range m {
				ids[i] = e.Event.Sequence
			}
			matches = append(matches, ids)
		},
	})
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		eng.Process(e)
	}
	for _, p := range r.Parsed().Pipes {
		switch p.Name {
		case "head":
			if len(matches) > p.N {
				matches = matches[:p.N]
			}
		case "tail":
			if len(matches) > p.N {
				matches = matches[len(matches)-p.N:]
			}
		default:
			return nil, fmt.Errorf("pipe %q not supported by the spec runner", p.Name)
		}
	}
	if len(matches) > size {
		matches = matches[:size]
	}
	out := []int64{}
	for _, m := range matches {
		out = append(out, m...)
	}
	return out, nil
}

type specClass struct {
	File  string `json:"file"`
	Name  string `json:"name"`
	Class string `json:"class"`
}

func TestElasticsearchSpec(t *testing.T) {
	dir := specDir(t)
	evs := loadEndgame(t, dir)
	if len(evs) != 102 {
		t.Fatalf("endgame-140: %d events, want 102", len(evs))
	}
	var classes []specClass
	data, err := os.ReadFile(filepath.Join(dir, "classification.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &classes); err != nil {
		t.Fatal(err)
	}
	classOf := map[string]string{}
	for _, c := range classes {
		classOf[c.File+"\x00"+c.Name] = c.Class
	}

	type tally struct{ run, pass int }
	counts := map[string]*tally{}
	var failures []string
	for _, file := range []string{"test_queries.toml", "additional_test_queries.toml"} {
		var f struct {
			Queries []specQuery `toml:"queries"`
		}
		if _, err := toml.DecodeFile(filepath.Join(dir, file), &f); err != nil {
			t.Fatal(err)
		}
		for _, q := range f.Queries {
			q.Name = strings.TrimSpace(q.Name)
			q.Query = strings.TrimSpace(q.Query)
			class := classOf[file+"\x00"+q.Name]
			if class != "a" && class != "b" {
				continue
			}
			key := file + " class " + class
			if counts[key] == nil {
				counts[key] = &tally{}
			}
			counts[key].run++
			size := 50
			if q.Size > 0 {
				size = q.Size
			}
			got, err := runSpecQuery(q.Query, size, evs)
			ok := false
			if err == nil {
				for _, want := range q.expected() {
					if slices.Equal(got, want) {
						ok = true
					}
				}
			}
			if ok {
				counts[key].pass++
				continue
			}
			msg := fmt.Sprintf("%s %s (class %s)\n    query: %s\n", file, q.Name, class, strings.ReplaceAll(q.Query, "\n", "\n           "))
			if err != nil {
				msg += fmt.Sprintf("    error: %v", err)
			} else {
				msg += fmt.Sprintf("    got:  %v\n    want: %v", got, q.expected()[0])
			}
			failures = append(failures, msg)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%s: %d/%d pass", k, counts[k].pass, counts[k].run)
	}
	for _, f := range failures {
		t.Error(f)
	}
}

// TestSpecQueryErrorsAreEQL makes sure a query the suite cannot parse is
// reported as an eql error, not a panic or a silent empty result.
func TestSpecQueryErrorsAreEQL(t *testing.T) {
	_, err := runSpecQuery("process where (", 50, nil)
	if err == nil {
		t.Fatal("no error for a broken query")
	}
	var qe *eql.Error
	if !errors.As(err, &qe) {
		t.Errorf("error %v is not an *eql.Error", err)
	}
}
