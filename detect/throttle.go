package detect

import (
	"strconv"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// DefaultThrottleWindow is the window over which a rule may raise at most
// max_signals alerts (Kibana runs rules every 5 minutes with max_signals
// per run).
const DefaultThrottleWindow = 5 * time.Minute

// ThrottleSummary reports the alerts a rule was not allowed to raise in one
// throttle window. Windows are aligned to the Unix epoch and measured on the
// alerts' @timestamp, so a replay throttles exactly like the live run.
type ThrottleSummary struct {
	RuleID      string
	RuleName    string
	WindowStart int64 // Unix ns
	WindowEnd   int64 // Unix ns, exclusive
	Allowed     int   // alerts raised in the window (= the rule's max_signals)
	Throttled   uint64
}

// AppendJSON appends the summary as one ECS JSON line (no newline), for the
// alert log: event.kind "metric", event.action "alerts_throttled".
func (s *ThrottleSummary) AppendJSON(dst []byte) []byte {
	b := append(dst, `{"@timestamp":"`...)
	b = ecs.AppendTime(b, s.WindowEnd)
	b = append(b, `","event":{"action":"alerts_throttled","dataset":"macsensor.alerts","kind":"metric","module":"macsensor"},"macsensor":{"throttle":{"allowed":`...)
	b = strconv.AppendInt(b, int64(s.Allowed), 10)
	b = append(b, `,"throttled":`...)
	b = strconv.AppendUint(b, s.Throttled, 10)
	b = append(b, `,"window_end":"`...)
	b = ecs.AppendTime(b, s.WindowEnd)
	b = append(b, `","window_start":"`...)
	b = ecs.AppendTime(b, s.WindowStart)
	b = append(b, `"}},"message":`...)
	b = ecs.AppendString(b, "Alerts throttled: "+s.RuleName)
	b = append(b, `,"rule":{`...)
	o := object{b: b}
	o.str("id", s.RuleID)
	o.str("name", s.RuleName)
	return append(o.b, "}}"...)
}

// throttle counts one rule's alerts in the current window.
type throttle struct {
	window    int64
	limit     int
	open      bool
	start     int64
	allowed   int
	throttled uint64
}

// windowStart is the start of the window holding ts (floor division, so
// that times before 1970 work too).
func (t *throttle) windowStart(ts int64) int64 {
	s := ts - ts%t.window
	if ts%t.window < 0 {
		s -= t.window
	}
	return s
}

// admit counts an alert stamped ts and reports whether it may be raised.
// An alert in a later window closes the current one first: if that window
// throttled anything, its summary is returned (ok2 true). An alert stamped
// before the current window (a late event) counts against the current one.
func (t *throttle) admit(ts int64) (ok bool, closed ThrottleSummary, ok2 bool) {
	if ws := t.windowStart(ts); !t.open || ws > t.start {
		closed, ok2 = t.close()
		t.open = true
		t.start = ws
	}
	if t.allowed < t.limit {
		t.allowed++
		return true, closed, ok2
	}
	t.throttled++
	return false, closed, ok2
}

// due is the end of the current window when it has something to report.
func (t *throttle) due() (int64, bool) {
	if !t.open || t.throttled == 0 {
		return 0, false
	}
	return t.start + t.window, true
}

// close ends the current window and returns its summary if it throttled
// anything (RuleID and RuleName are filled by the caller).
func (t *throttle) close() (ThrottleSummary, bool) {
	if !t.open {
		return ThrottleSummary{}, false
	}
	s := ThrottleSummary{WindowStart: t.start, WindowEnd: t.start + t.window, Allowed: t.allowed, Throttled: t.throttled}
	t.open = false
	t.allowed = 0
	t.throttled = 0
	return s, s.Throttled > 0
}
