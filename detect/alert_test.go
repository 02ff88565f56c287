package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/macsensor/macsensor/sensor/ecs"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// seedMeta is the seed rule's metadata, built by hand (no EQL needed).
func seedMeta() *Rule {
	return &Rule{
		ID:          "5d9f8cfc-0d03-443e-a167-2b0597ce0965",
		Name:        "Suspicious Automator Workflows Execution",
		Description: "Identifies the execution of the Automator Workflows process followed by a network connection from it's XPC service.\n",
		Severity:    "medium",
		RiskScore:   47,
		Version:     "107",
		Author:      []string{"Elastic"},
		License:     "Elastic License v2",
		References:  []string{"https://posts.specterops.io/persistent-jxa-66e1c3cd1cf5"},
		Maturity:    "production",
		Threat: []Threat{{
			Framework: "MITRE ATT&CK",
			Tactic:    Tactic{ID: "TA0002", Name: "Execution", Reference: "https://attack.mitre.org/tactics/TA0002/"},
			Technique: []Technique{{ID: "T1059", Name: "Command and Scripting Interpreter", Reference: "https://attack.mitre.org/techniques/T1059/",
				Subtechnique: []Subtechnique{{ID: "T1059.007", Name: "JavaScript", Reference: "https://attack.mitre.org/techniques/T1059/007/"}}}},
		}},
	}
}

const hostID = "8A7B4C1E-0F2D-4E6A-9B3C-5D1E2F3A4B5C"

func fillHost(e *ecs.Event) {
	e.Host = ecs.Host{ID: hostID, Name: "mbp-042", Hostname: "mbp-042", Architecture: "arm64",
		OS: ecs.OS{Type: "macos", Name: "macOS", Version: "15.3", Family: "macos", Platform: "macos"}}
	e.Agent = ecs.Agent{ID: "agent-1", Type: "macsensor", Version: "0.1.0"}
	e.User = ecs.User{ID: "501", Name: "alice"}
}

// automatorPair returns the seed rule's two events: automator starts at
// t0, its runner connects 3 s later.
func automatorPair(t0 time.Time, seq int64) (*ecs.Event, *ecs.Event) {
	p := &ecs.Event{Timestamp: t0.UnixNano(), Has: ecs.HasTimestamp | ecs.HasSequence | ecs.HasPID | ecs.HasParentPID | ecs.HasArgsCount}
	fillHost(p)
	p.Event = ecs.EventMeta{Kind: "event", Category: []string{"process"}, Type: []string{"start"}, Action: "exec", Sequence: seq}
	p.Process = ecs.Process{PID: 4242, EntityID: "ent-automator", Name: "automator", Executable: "/usr/bin/automator",
		Args: []string{"/usr/bin/automator", "/Users/alice/Downloads/invoice.workflow"}, ArgsCount: 2,
		CommandLine: "/usr/bin/automator /Users/alice/Downloads/invoice.workflow",
		Parent:      ecs.Parent{PID: 1, Name: "launchd", Executable: "/sbin/launchd"}}
	n := &ecs.Event{Timestamp: t0.Add(3 * time.Second).UnixNano(), Has: ecs.HasTimestamp | ecs.HasSequence | ecs.HasPID | ecs.HasSourcePort | ecs.HasDestinationPort}
	fillHost(n)
	n.Event = ecs.EventMeta{Kind: "event", Category: []string{"network"}, Type: []string{"start"}, Action: "connection_attempted", Sequence: seq + 1}
	n.Process = ecs.Process{PID: 4250, EntityID: "ent-runner", Name: "com.apple.automator.runner",
		Executable: "/System/Library/CoreServices/Automator Runner.app/Contents/MacOS/com.apple.automator.runner"}
	n.Source = ecs.Endpoint{IP: "192.168.1.20", Port: 50123}
	n.Destination = ecs.Endpoint{IP: "203.0.113.7", Port: 443}
	n.Network = ecs.Network{Transport: "tcp", Type: "ipv4", Direction: "egress"}
	return p, n
}

var t0 = time.Date(2025, 2, 5, 10, 0, 0, 0, time.UTC)

func TestAlertJSONGolden(t *testing.T) {
	p, n := automatorPair(t0, 100)
	r := seedMeta()
	evs := []*ecs.Event{p, n}
	a := &Alert{Rule: r, ID: alertID(r, evs), Timestamp: n.Timestamp, Created: t0.Add(4 * time.Second), Events: evs, LineCap: DefaultLineCap}
	line := a.AppendJSON(nil)
	if !json.Valid(line) {
		t.Fatalf("invalid JSON: %s", line)
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		t.Fatal("alert line contains a newline")
	}
	golden(t, "alert/seed.alert.golden", append(line, '\n'))

	var doc struct {
		Timestamp string `json:"@timestamp"`
		Event     struct {
			Kind, Code, Action, ID string
			Severity               int `json:"severity"`
			RiskScore              int `json:"risk_score"`
			Type                   []string
		}
		Message string
		Rule    struct{ ID, Name, Version string }
		Threat  []struct {
			Tactic    struct{ ID string }
			Technique []struct{ ID string }
		}
		Events []map[string]any
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Timestamp != "2025-02-05T10:00:03Z" || doc.Event.Kind != "alert" || doc.Event.Code != "behavior" ||
		doc.Event.Action != "rule_detection" || doc.Event.Severity != 47 || doc.Event.RiskScore != 47 || doc.Rule.Version != "107" ||
		doc.Message != "Malicious Behavior Detection Alert: Suspicious Automator Workflows Execution" ||
		len(doc.Events) != 2 || doc.Threat[0].Tactic.ID != "TA0002" || doc.Threat[0].Technique[0].ID != "T1059" {
		t.Errorf("unexpected alert document: %+v", doc)
	}
}

func TestAlertIDStable(t *testing.T) {
	p, n := automatorPair(t0, 100)
	r := seedMeta()
	id1 := alertID(r, []*ecs.Event{p, n})
	p2, n2 := automatorPair(t0, 100)
	if id2 := alertID(r, []*ecs.Event{p2, n2}); id1 != id2 {
		t.Errorf("same input, ids %s and %s", id1, id2)
	}
	p3, n3 := automatorPair(t0, 200)
	if id3 := alertID(r, []*ecs.Event{p3, n3}); id3 == id1 {
		t.Errorf("different events, same id %s", id1)
	}
}

func TestAlertLineCap(t *testing.T) {
	p, n := automatorPair(t0, 100)
	// 400 arguments of 100 bytes: ~80 KB with the command line.
	arg := strings.Repeat("é", 49) + "x" // multi-byte runes: cuts must respect them
	p.Process.Args = nil
	for i := 0; i < 400; i++ {
		p.Process.Args = append(p.Process.Args, arg)
	}
	p.Process.CommandLine = strings.Join(p.Process.Args, " ")
	origArgs := len(p.Process.Args)
	origCL := p.Process.CommandLine
	r := seedMeta()
	evs := []*ecs.Event{p, n}
	for _, lineCap := range []int{32 << 10, 8 << 10, 4 << 10} {
		a := &Alert{Rule: r, ID: alertID(r, evs), Timestamp: n.Timestamp, Created: t0, Events: evs, LineCap: lineCap}
		line := a.AppendJSON(nil)
		if len(line) > lineCap {
			t.Errorf("cap %d: line is %d bytes", lineCap, len(line))
		}
		if len(line) < lineCap-2048 {
			t.Errorf("cap %d: line is %d bytes: cut far more than needed", lineCap, len(line))
		}
		var doc struct {
			Macsensor struct{ Truncated bool }
			Events    []struct {
				Process struct {
					Args        []string
					CommandLine string `json:"command_line"`
					Ext         struct {
						Truncated bool `json:"command_line_truncated"`
					}
				}
			}
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("cap %d: %v", lineCap, err)
		}
		if !doc.Macsensor.Truncated || !doc.Events[0].Process.Ext.Truncated {
			t.Errorf("cap %d: truncation not flagged", lineCap)
		}
		if doc.Events[1].Process.Ext.Truncated {
			t.Errorf("cap %d: the network event was flagged but had nothing to cut", lineCap)
		}
		for _, a := range doc.Events[0].Process.Args {
			if strings.ContainsRune(a, '\uFFFD') || strings.Contains(a, `\x`) {
				t.Errorf("cap %d: an argument was cut inside a rune: %q", lineCap, a)
			}
		}
	}
	if len(p.Process.Args) != origArgs || p.Process.CommandLine != origCL || p.Process.ArgsTruncated {
		t.Error("AppendJSON modified the caller's event")
	}
}

func TestAlertUnderCapUntouched(t *testing.T) {
	p, n := automatorPair(t0, 100)
	r := seedMeta()
	evs := []*ecs.Event{p, n}
	full := (&Alert{Rule: r, ID: "x", Timestamp: n.Timestamp, Created: t0, Events: evs}).AppendJSON(nil)
	capped := (&Alert{Rule: r, ID: "x", Timestamp: n.Timestamp, Created: t0, Events: evs, LineCap: len(full)}).AppendJSON(nil)
	if !bytes.Equal(full, capped) {
		t.Error("a line exactly at the cap was changed")
	}
	if bytes.Contains(full, []byte("truncated")) {
		t.Error("an uncut line is flagged truncated")
	}
}

// TestAppendJSONString pins the string escaping alerts share with events
// (ecs.AppendString): DEL and U+2028 as is, invalid UTF-8 as the text \xNN.
func TestAppendJSONString(t *testing.T) {
	in := "a\"b\\c\n\t\x01\x7f\xffé\u2028"
	got := string(ecs.AppendString(nil, in))
	want := `"a\"b\\c\n\t\u0001` + "\x7f" + `\\xffé` + "\u2028" + `"`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var s string
	if err := json.Unmarshal([]byte(got), &s); err != nil {
		t.Fatal(err)
	}
}

// FuzzAlertLineCap: whatever the arguments (any bytes, any count) and the
// cap, the alert is one valid JSON line of valid UTF-8, the caller's event
// is untouched, and the line fits the cap unless even an alert without any
// arguments would not.
func FuzzAlertLineCap(f *testing.F) {
	f.Add([]byte("/usr/bin/automator\x00/tmp/x.workflow"), "/usr/bin/automator /tmp/x.workflow", uint16(600))
	f.Add([]byte(strings.Repeat("é\x00", 3000)), strings.Repeat("日本", 2000), uint16(100))
	f.Add([]byte("\xff\xfe\x00\x80\x80\x80abc"), "\xc3", uint16(0))
	f.Fuzz(func(t *testing.T, args []byte, cmd string, extra uint16) {
		p, n := automatorPair(t0, 1)
		p.Process.Args = strings.Split(string(args), "\x00")
		p.Process.CommandLine = cmd
		orig := strings.Join(p.Process.Args, "\x00") + "|" + p.Process.CommandLine
		r := seedMeta()
		evs := []*ecs.Event{p, n}

		// The smallest line cutting can reach: no arguments, flagged.
		bare := *p
		bare.Process.Args = nil
		bare.Process.CommandLine = ""
		bare.Process.ArgsTruncated = true
		bare.Has |= ecs.HasArgsTruncated
		a := &Alert{Rule: r, ID: "id", Timestamp: n.Timestamp, Created: t0, Events: []*ecs.Event{&bare, n}}
		floor := len(a.appendJSON(nil, a.Events, true))

		lineCap := floor - 200 + int(extra)
		a = &Alert{Rule: r, ID: "id", Timestamp: n.Timestamp, Created: t0, Events: evs, LineCap: lineCap}
		line := a.AppendJSON(nil)
		if !json.Valid(line) || !utf8.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("not one valid JSON line: %q", line)
		}
		if len(line) > max(lineCap, floor) {
			t.Fatalf("line %d bytes, cap %d, floor %d", len(line), lineCap, floor)
		}
		if got := strings.Join(p.Process.Args, "\x00") + "|" + p.Process.CommandLine; got != orig || p.Process.ArgsTruncated {
			t.Fatal("the caller's event was modified")
		}
	})
}

// TestAlertEndpointShape checks what Elastic Security reads from an alert:
// the promotion rule's fields, the full process copy, the stages of the
// events, the replaying agent and Responses[].
func TestAlertEndpointShape(t *testing.T) {
	seed, err := SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	p, n := automatorPair(t0, 100)
	n.Process.Args = []string{"runner", "-x"}
	n.Process.Start = t0.UnixNano()
	n.Has |= ecs.HasStart
	n.Fields = ecs.Fields{
		{Path: "file.path", Value: ecs.String("/tmp/x")},
		{Path: "process.code_signature.exists", Value: ecs.Bool(true)},
		{Path: "process.code_signature.signing_id", Value: ecs.String("com.apple.automator.runner")},
		{Path: "process.parent.code_signature.trusted", Value: ecs.Bool(false)},
	}
	replayer := &ecs.Agent{ID: "replayer-9", Type: "macsensor", Version: "0.2.0"}
	a := &Alert{Rule: seed, ID: "x", Timestamp: n.Timestamp, Created: t0, Events: []*ecs.Event{p, n}, Agent: replayer,
		Responses: []Response{{Timestamp: t0.Add(time.Second).UnixNano(), Action: "kill_process", Field: "process.entity_id", State: 1,
			PID: 4250, EntityID: "ent-runner", Name: "com.apple.automator.runner", Result: 0, Message: "killed"}}}
	line := a.AppendJSON(nil)
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	get := func(path ...string) any {
		var v any = doc
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"event", "module"}, "endpoint"},
		{[]string{"event", "dataset"}, "endpoint.alerts"},
		{[]string{"event", "kind"}, "alert"},
		{[]string{"event", "sequence"}, 101.0},
		{[]string{"data_stream", "dataset"}, "endpoint.alerts"},
		{[]string{"data_stream", "type"}, "logs"},
		{[]string{"agent", "id"}, "replayer-9"},
		{[]string{"agent", "version"}, "0.2.0"},
		{[]string{"rule", "ruleset"}, "macsensor-builtin"},
		{[]string{"process", "code_signature", "signing_id"}, "com.apple.automator.runner"},
		{[]string{"process", "parent", "code_signature", "trusted"}, false},
		{[]string{"process", "start"}, "2025-02-05T10:00:00Z"},
		{[]string{"process", "pid"}, 4250.0},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if get("file") != nil {
		t.Error("a non-process field of the event leaked into the alert's top level")
	}
	if args, _ := get("process", "args").([]any); len(args) != 2 || args[1] != "-x" {
		t.Errorf("process.args = %v", get("process", "args"))
	}
	evs := doc["Events"].([]any)
	for i, e := range evs {
		m := e.(map[string]any)
		if m["_label"] != fmt.Sprintf("stage_%d", i) || m["_state"] != float64(i) {
			t.Errorf("Events[%d] _label %v _state %v", i, m["_label"], m["_state"])
		}
		if ag := m["agent"].(map[string]any); ag["id"] != "agent-1" {
			t.Errorf("Events[%d].agent.id = %v: the events keep the agent that recorded them", i, ag["id"])
		}
	}
	const wantResp = `,"Responses":[{"@timestamp":"2025-02-05T10:00:01Z","action":{"action":"kill_process","field":"process.entity_id","state":1,"tree":false},"message":"killed","process":{"entity_id":"ent-runner","name":"com.apple.automator.runner","pid":4250},"result":0}]}`
	if !bytes.HasSuffix(line, []byte(wantResp)) {
		t.Errorf("Responses:\ngot  %s\nwant suffix %s", line[bytes.LastIndex(line, []byte(`,"Responses"`))+0:], wantResp)
	}
}

func TestRuleset(t *testing.T) {
	seed, err := SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	q, err := QueryRule(`process where true`)
	if err != nil {
		t.Fatal(err)
	}
	f, lerr := ParseRule("/etc/rules/x.toml", SeedRuleTOML())
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, c := range []struct {
		r    *Rule
		want string
	}{{seed, "macsensor-builtin"}, {q, "macsensor-query"}, {f, "file:/etc/rules/x.toml"}} {
		if got := c.r.Ruleset(); got != c.want {
			t.Errorf("%s: Ruleset() = %q, want %q", c.r.Name, got, c.want)
		}
	}
	if q.stageOfEvents(1) != nil {
		t.Error("an event query has no stages")
	}
}

func TestTopLevelMember(t *testing.T) {
	obj := []byte(`{"a":"x\"}{","process":{"args":["}",","],"n":{"m":[1,{"k":"\\"}]}},"z":1}`)
	if got := string(topLevelMember(obj, "process")); got != `{"args":["}",","],"n":{"m":[1,{"k":"\\"}]}}` {
		t.Errorf("process = %s", got)
	}
	if got := string(topLevelMember(obj, "z")); got != "1" {
		t.Errorf("z = %s", got)
	}
	if topLevelMember(obj, "args") != nil || topLevelMember([]byte(`{}`), "process") != nil {
		t.Error("found a member that is not at the top level")
	}
}
