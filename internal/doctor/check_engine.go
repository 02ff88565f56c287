package doctor

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/logfile"
)

// seedRuleFor returns the seed rule for this host: the built-in one on
// macOS; elsewhere the same text with host.os.type set to this OS's (the
// rule reads host.os.type == "macos" twice), so that it can fire here.
func seedRuleFor(osType string) (*detect.Rule, error) {
	if osType == "macos" || osType == "" {
		return detect.SeedRule()
	}
	text := string(detect.SeedRuleTOML())
	const mac = `host.os.type == "macos"`
	if n := strings.Count(text, mac); n != 2 {
		return nil, fmt.Errorf("the seed rule has %d %q, want 2", n, mac)
	}
	text = strings.ReplaceAll(text, mac, `host.os.type == "`+osType+`"`)
	r, lerr := detect.ParseRule("builtin:"+detect.SeedRuleFile+" ("+osType+" variant)", []byte(text))
	if lerr != nil {
		return nil, lerr
	}
	return r, nil
}

// checkEngine runs the events the sensor produced for the doctor's children
// through the real engine with the seed rule, writes the alert with the
// alert log writer to a temporary log (mode 0640) and reads it back: one
// line of valid JSON whose Events are the automator's exec and the
// runner's connection.
func checkEngine(ctx context.Context, d *Doctor) (string, error) {
	rule, err := seedRuleFor(d.host.OS.Type)
	if err != nil {
		return "", failf(nextBundle, "seed rule: %v", err)
	}
	d.mu.Lock()
	evs := slices.Clone(d.events)
	auto, conn := d.facts.Automator, d.facts.Connection
	d.mu.Unlock()
	slices.SortStableFunc(evs, func(a, b *ecs.Event) int {
		if a.Timestamp != b.Timestamp {
			return cmp.Compare(a.Timestamp, b.Timestamp)
		}
		return cmp.Compare(a.Event.Sequence, b.Event.Sequence)
	})
	var lines [][]byte
	eng, err := detect.NewEngine([]*detect.Rule{rule}, nil, detect.Options{
		OnAlert: func(a *detect.Alert) { lines = append(lines, a.AppendJSON(nil)) },
	})
	if err != nil {
		return "", failf(nextBundle, "engine: %v", err)
	}
	for _, ev := range evs {
		eng.Process(ev)
	}
	eng.Flush()
	if len(lines) == 0 {
		return "", failf(nextBundle, "the seed rule did not fire on %d events of the doctor's children", len(evs))
	}
	path := filepath.Join(d.work, "log", "alerts.ndjson")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		return "", failf("free space in the temporary folder", "%v", err)
	}
	w, err := logfile.Open(logfile.Options{Path: path})
	if err != nil {
		return "", failf(nextBundle, "open the temporary alert log: %v", err)
	}
	werr := w.WriteBatch(lines)
	cerr := w.Close()
	if werr != nil || cerr != nil {
		return "", failf(nextBundle, "write the temporary alert log: %v %v", werr, cerr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", failf(nextBundle, "%v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", failf(nextBundle, "read back: %v", err)
	}
	var got []alertLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var a alertLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return "", failf(nextBundle, "alert log line %d is not valid JSON: %v", n, err)
		}
		got = append(got, a)
	}
	value := fmt.Sprintf("%d alert(s) of %q in a %04o log", len(got), rule.Name, uint32(fi.Mode().Perm()))
	if len(got) != 1 {
		return value, failf(nextBundle, "%d alert lines read back, want 1", len(got))
	}
	a := got[0]
	var bad []string
	if a.Event.Kind != "alert" || a.Rule.ID != rule.ID {
		bad = append(bad, fmt.Sprintf("event.kind %q rule.id %q", a.Event.Kind, a.Rule.ID))
	}
	if fi.Mode().Perm() != 0o640 {
		bad = append(bad, fmt.Sprintf("log mode %04o, want 0640", uint32(fi.Mode().Perm())))
	}
	var pids []int64
	for _, e := range a.Events {
		pids = append(pids, e.Process.PID)
	}
	if auto != nil && conn != nil && !slices.Equal(pids, []int64{int64(auto.PID), int64(conn.PID)}) {
		bad = append(bad, fmt.Sprintf("Events[].process.pid %v, want [%d %d]", pids, auto.PID, conn.PID))
	}
	if len(bad) > 0 {
		return value, failf(nextBundle, "%s", strings.Join(bad, "; "))
	}
	return value + fmt.Sprintf(", events pid %d -> %d", pids[0], pids[1]), nil
}

// alertLine is what checkEngine reads back of an alert.
type alertLine struct {
	Event struct {
		Kind string `json:"kind"`
	} `json:"event"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Events []struct {
		Process struct {
			PID int64 `json:"pid"`
		} `json:"process"`
	} `json:"Events"`
}
