package main

import (
	"bytes"
	"compress/gzip"
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

// replayOut runs `macsensor replay args...` and returns stdout and stderr.
func replayOut(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := dispatch(append([]string{"replay"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("replay %v: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestReplayPartitionsIdentical: a partitioned replay, and a one-engine
// replay without the decoders' annotations (--annotate=false), write
// exactly the bytes of a one-engine replay, over every golden input and
// over a generated stream of 12 hosts, with the seed rule and with
// Elastic's macOS rules (when ../shared has them).
func TestReplayPartitionsIdentical(t *testing.T) {
	replayNow = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	defer func() { replayNow = time.Now }()
	defer pinReplayAgent()()
	for _, tc := range seedCases {
		in := filepath.Join("..", "..", "testdata", "seed", tc.name+".ndjson")
		serial, _ := replayOut(t, "--partitions", "1", in)
		if plain, _ := replayOut(t, "--annotate=false", in); plain != serial {
			t.Errorf("%s: --annotate=false differs:\n%s\nvs\n%s", tc.name, plain, serial)
		}
		for _, n := range []string{"2", "3"} {
			if par, _ := replayOut(t, "--partitions", n, in); par != serial {
				t.Errorf("%s: --partitions %s differs from --partitions 1:\n%s\nvs\n%s", tc.name, n, par, serial)
			}
		}
	}
	gen := filepath.Join(t.TempDir(), "hosts.ndjson")
	pairs, err := writeHostsStream(gen, 120_000, 12)
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]string{nil}
	if all := filepath.Join("..", "..", "..", "shared", "rules", "elastic-macos"); dirExists(all) {
		sets = append(sets, []string{"--rules", all})
	} else {
		t.Log("../shared/rules/elastic-macos absent: the seed rule only")
	}
	for _, rs := range sets {
		serial, serr := replayOut(t, append(append([]string{}, rs...), "--partitions", "1", gen)...)
		if len(rs) == 0 && strings.Count(serial, "\n") != pairs {
			t.Fatalf("serial: %d alerts, want %d", strings.Count(serial, "\n"), pairs)
		}
		plain, plerr := replayOut(t, append(append([]string{}, rs...), "--annotate=false", gen)...)
		if plain != serial || summary(plerr) != summary(serr) {
			t.Errorf("rules %v: --annotate=false: %d alert bytes, serial %d; summary:\n%s\nserial:\n%s", rs, len(plain), len(serial), summary(plerr), summary(serr))
		}
		for _, n := range []string{"2", "5"} {
			par, perr := replayOut(t, append(append([]string{}, rs...), "--partitions", n, gen)...)
			if par != serial {
				t.Errorf("rules %v: --partitions %s: %d alert bytes, serial %d", rs, n, len(par), len(serial))
			}
			if summary(perr) != summary(serr) {
				t.Errorf("rules %v: --partitions %s summary:\n%s\nserial:\n%s", rs, n, summary(perr), summary(serr))
			}
		}
	}
}

// summary drops the lines that are not the per-rule summary.
func summary(stderr string) string {
	var b strings.Builder
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "  ") || strings.Contains(l, "events read") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// TestReplayGzipAndFiles: a .ndjson.gz file replays like its plain text,
// and several files are one stream.
func TestReplayGzipAndFiles(t *testing.T) {
	replayNow = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	defer func() { replayNow = time.Now }()
	defer pinReplayAgent()()
	dir := t.TempDir()
	plain := filepath.Join(dir, "s.ndjson")
	if _, err := writeHostsStream(plain, 60_000, 3); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "s.ndjson.gz")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(gz, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The same stream cut in two files at a line boundary.
	cut := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
	a, b := filepath.Join(dir, "a.ndjson"), filepath.Join(dir, "b.ndjson.gz")
	os.WriteFile(a, data[:cut], 0o600)
	zb.Reset()
	zw = gzip.NewWriter(&zb)
	zw.Write(data[cut:])
	zw.Close()
	os.WriteFile(b, zb.Bytes(), 0o600)

	want, werr := replayOut(t, plain)
	if strings.Count(want, "\n") != 1 {
		t.Fatalf("%d alerts in the plain file, want 1", strings.Count(want, "\n"))
	}
	if got, gerr := replayOut(t, gz); got != want || summary(gerr) != summary(werr) {
		t.Errorf("gzip: alerts or summary differ:\n%s\nvs\n%s", gerr, werr)
	}
	if got, gerr := replayOut(t, a, b); got != want || summary(gerr) != summary(werr) {
		t.Errorf("two files: alerts or summary differ:\n%s\nvs\n%s", gerr, werr)
	}
	// A truncated gzip file is an error naming the file.
	bad := filepath.Join(dir, "bad.ndjson.gz")
	os.WriteFile(bad, zb.Bytes()[:len(zb.Bytes())/2], 0o600)
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"replay", bad}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), bad) {
		t.Errorf("truncated gzip: exit %d, stderr %q", code, stderr.String())
	}
}

// TestReplayProgress: no progress line unless stderr is a terminal (a
// buffer is not) or --progress always; the line's fields.
func TestReplayProgress(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "seed", "attack.ndjson")
	_, serr := replayOut(t, in)
	if strings.Contains(serr, "events/s") {
		t.Errorf("progress on a non-terminal stderr: %q", serr)
	}
	_, serr = replayOut(t, "--progress", "always", in)
	if !strings.Contains(serr, "events/s") || !strings.Contains(serr, "(100.0%)") || !strings.Contains(serr, "1 alerts") {
		t.Errorf("--progress always: %q", serr)
	}
	if got := formatProgress(2*time.Second, 3000, 3<<20, 12<<20, 7); got != "2s  3000 events  1500 events/s  3.0 MiB read (25.0%)  7 alerts" {
		t.Errorf("formatProgress = %q", got)
	}
	if f, err := os.Open(in); err == nil {
		if isTerminal(f.Fd()) {
			t.Error("isTerminal(regular file) = true")
		}
		f.Close()
	}
}
