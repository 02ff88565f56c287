package detect

import (
	"encoding/json"
	"testing"
	"time"
)

func TestThrottleWindow(t *testing.T) {
	m := int64(time.Minute)
	th := throttle{window: 5 * m, limit: 2}
	type step struct {
		ts     int64
		ok     bool
		closed bool
	}
	steps := []step{
		{0, true, false},
		{1 * m, true, false},
		{2 * m, false, false},
		{4*m + 59e9, false, false},
		{3 * m, false, false}, // late, counts against the current window
		{5 * m, true, true},   // next window: the first one is reported
		{6 * m, true, false},  // second of two
		{20 * m, true, false}, // a window without throttling is not reported
		{-1, true, false},     // before the epoch: floor, still late here
	}
	var got []ThrottleSummary
	for i, s := range steps {
		ok, sum, closed := th.admit(s.ts)
		if ok != s.ok || closed != s.closed {
			t.Fatalf("step %d (ts %d): ok=%v closed=%v, want %v %v", i, s.ts, ok, closed, s.ok, s.closed)
		}
		if closed {
			got = append(got, sum)
		}
	}
	want := ThrottleSummary{WindowStart: 0, WindowEnd: 5 * m, Allowed: 2, Throttled: 3}
	if len(got) != 1 || got[0] != want {
		t.Errorf("summaries = %+v, want [%+v]", got, want)
	}
	if ws := th.windowStart(-1); ws != -5*m {
		t.Errorf("windowStart(-1) = %d, want %d", ws, -5*m)
	}
}

func TestThrottleSummaryJSON(t *testing.T) {
	s := ThrottleSummary{RuleID: "r1", RuleName: `Rule "one"`, WindowStart: 0, WindowEnd: int64(5 * time.Minute), Allowed: 100, Throttled: 7}
	line := s.AppendJSON(nil)
	want := `{"@timestamp":"1970-01-01T00:05:00Z","event":{"action":"alerts_throttled","dataset":"macsensor.alerts","kind":"metric","module":"macsensor"},"macsensor":{"throttle":{"allowed":100,"throttled":7,"window_end":"1970-01-01T00:05:00Z","window_start":"1970-01-01T00:00:00Z"}},"message":"Alerts throttled: Rule \"one\"","rule":{"id":"r1","name":"Rule \"one\""}}`
	if string(line) != want {
		t.Errorf("got  %s\nwant %s", line, want)
	}
	if !json.Valid(line) {
		t.Error("not valid JSON")
	}
}
