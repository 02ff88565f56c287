package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seedCases are the golden cases of the seed rule: events in
// testdata/seed/<name>.ndjson, alerts out in <name>.alerts.golden. Besides
// the golden bytes, each case pins what matters: how many alerts, and the
// pids of the matched events in order.
var seedCases = []struct {
	name string
	pids [][]int64 // per alert, the pids of Events[]
}{
	{"attack", [][]int64{{812, 813}}},
	{"maxspan_exact", [][]int64{{812, 813}}},    // 30.000 s after the start: maxspan is inclusive
	{"maxspan_over", nil},                       // 30.001 s
	{"capital_automator", nil},                  // == is case-sensitive
	{"uppercase_runner", [][]int64{{812, 813}}}, // : is not
	{"other_host", nil},
	{"two_starts", [][]int64{{820, 813}}},  // the later start replaces the pending one
	{"two_runners", [][]int64{{812, 813}}}, // each first event completes once
	{"runner_first", nil},
	{"process_started", [][]int64{{812, 813}}},
	{"out_of_order", [][]int64{{812, 813}}}, // delivered out of order within the reorder window
	// Today's version of the rule (by host.id, process.entity_id; maxspan
	// 15s): only Automator's own connection within 15 s.
	{"today_rule", [][]int64{{900, 900}}},
}

func TestSeedRuleGolden(t *testing.T) {
	replayNow = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	defer func() { replayNow = time.Now }()
	defer pinReplayAgent()()
	for _, tc := range seedCases {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join("..", "..", "testdata", "seed", tc.name+".ndjson")
			args := []string{"replay", in}
			if strings.HasPrefix(tc.name, "today_") {
				args = []string{"replay", "--no-builtin", "--rules", filepath.Join("..", "..", "testdata", "rules", "execution_script_via_automator_workflows.toml"), in}
			}
			var stdout, stderr bytes.Buffer
			if code := dispatch(args, &stdout, &stderr); code != 0 {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			var got [][]int64
			for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				var a struct {
					Kind   string `json:"-"`
					Events []struct {
						Process struct{ PID int64 } `json:"process"`
					}
					Event struct{ Kind string } `json:"event"`
				}
				if err := json.Unmarshal(line, &a); err != nil {
					t.Fatalf("alert is not JSON: %v\n%s", err, line)
				}
				if a.Event.Kind != "alert" {
					t.Fatalf("event.kind %q", a.Event.Kind)
				}
				var pids []int64
				for _, e := range a.Events {
					pids = append(pids, e.Process.PID)
				}
				got = append(got, pids)
			}
			if !equalPIDs(got, tc.pids) {
				t.Errorf("alerts' event pids = %v, want %v\nstderr: %s", got, tc.pids, stderr.String())
			}
			golden := strings.TrimSuffix(in, ".ndjson") + ".alerts.golden"
			if *update {
				if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/macsensor -run Golden -update)", err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("alerts differ from %s:\n got %s\nwant %s", golden, stdout.Bytes(), want)
			}
		})
	}
}

func equalPIDs(a, b [][]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestReplayMalformedLines(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.ndjson")
	attack, err := os.ReadFile(filepath.Join("..", "..", "testdata", "seed", "attack.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(attack), "\n")
	// Line 2 is not JSON, line 4 is truncated: both skipped, the rest runs.
	text := lines[0] + "not json\n" + lines[1] + "{\"@timestamp\":\n" + strings.Join(lines[2:], "")
	os.WriteFile(in, []byte(text), 0o644)
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"replay", in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := bytes.Count(stdout.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
	for _, want := range []string{"in.ndjson:2: skipped", "in.ndjson:4: skipped", "5 events read, 2 malformed lines skipped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestReplayQuery(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "seed", "attack.ndjson")
	var stdout, stderr bytes.Buffer
	q := `sequence by host.id [process where process.name == "automator"] [network where true]`
	if code := dispatch([]string{"replay", "--query", q, in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var m struct {
		Sequence []json.RawMessage `json:"sequence"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &m); err != nil || len(m.Sequence) != 2 {
		t.Fatalf("query output %s (%v)", stdout.Bytes(), err)
	}
	stdout.Reset()
	if code := dispatch([]string{"replay", "--query", `process where process.name == "zsh"`, in}, &stdout, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), `{"@timestamp":"2026-11-27T10:00:00Z"`) || strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("event query output %s", stdout.Bytes())
	}
	if code := dispatch([]string{"replay", "--query", `process where (`, in}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "line 1, col") {
		t.Fatalf("bad query: exit %d, %s", code, stderr.String())
	}
}

func TestRulesValidate(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "rules", "execution_script_via_automator_workflows.toml"))
	os.WriteFile(filepath.Join(dir, "good.toml"), good, 0o644)
	bad := strings.Replace(string(good), `process.name == "Automator"]`, `process.name == "Automator"`, 1)
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte(bad), 0o644)
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"rules", "validate", dir}, &stdout, &stderr)
	out := stdout.String()
	if code != 1 || !strings.Contains(out, "bad.toml:") || !strings.HasSuffix(out, "2 rules: 1 ok, 1 failed\n") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// pinReplayAgent makes replayed alerts carry a fixed agent (golden files)
// and returns the undo.
func pinReplayAgent() func() {
	old := replayAgent
	replayAgent = func() *ecs.Agent {
		return &ecs.Agent{ID: "replay-agent-1", Name: "replay-host", Type: "macsensor", Version: "test"}
	}
	return func() { replayAgent = old }
}
