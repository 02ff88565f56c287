package detect

import (
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Live runs a rule set over a live stream of events (a Reorder in front of
// an Engine) and lets a reload swap the rule set while it runs. A swap
// that loads the same rule set with the same limits keeps the engine, so
// its pending sequences survive the reload; one that changes them builds a
// new engine, and the counters of the engines it replaces are carried over
// so that Stats stays cumulative. Like Engine, it is not safe for
// concurrent use.
type Live struct {
	window time.Duration
	opt    Options
	set    *RuleSet
	eng    *Engine
	reord  *Reorder
	prev   carried
}

// carried are the counters of the engines and reorder buffers a swap
// replaced.
type carried struct {
	events uint64
	late   uint64
	rules  map[string]RuleStats // by rule_id: Matches, Alerts, Suppressed, Throttled
}

// NewLive returns a Live running set with opt; window is the reorder
// buffer's (NewReorder; negative: release only by Advance, the daemon's
// watermark).
func NewLive(set *RuleSet, window time.Duration, opt Options) (*Live, error) {
	l := &Live{window: window}
	if err := l.replace(set, opt); err != nil {
		return nil, err
	}
	return l, nil
}

// Swap puts set and opt in force. It keeps the running engine, and returns
// false, when set's fingerprint and opt's limits (MaxPending, LineCap,
// ThrottleWindow) are those in force. Otherwise the events held in the
// reorder buffer are run through the old engine, its throttle windows are
// closed (Flush), its pending sequences end, and a new engine takes over.
// If the new engine cannot be built the old one stays in force.
func (l *Live) Swap(set *RuleSet, opt Options) (replaced bool, err error) {
	if set.Fingerprint == l.set.Fingerprint && sameLimits(opt, l.opt) {
		l.set = set
		return false, nil
	}
	return true, l.replace(set, opt)
}

func sameLimits(a, b Options) bool {
	return a.MaxPending == b.MaxPending && a.LineCap == b.LineCap && a.ThrottleWindow == b.ThrottleWindow
}

func (l *Live) replace(set *RuleSet, opt Options) error {
	eng, err := NewEngine(set.Rules, set.Exceptions, opt)
	if err != nil {
		return err
	}
	if l.eng != nil {
		l.reord.Flush()
		l.eng.Flush()
		l.carry()
	}
	l.set, l.opt, l.eng = set, opt, eng
	l.reord = NewReorder(l.window, eng.Process)
	return nil
}

func (l *Live) carry() {
	if l.prev.rules == nil {
		l.prev.rules = make(map[string]RuleStats)
	}
	st := l.eng.Stats()
	l.prev.events += st.Events
	l.prev.late += l.reord.Stats().Late
	for _, r := range st.Rules {
		p := l.prev.rules[r.ID]
		p.Matches += r.Matches
		p.Alerts += r.Alerts
		p.Suppressed += r.Suppressed
		p.Throttled += r.Throttled
		l.prev.rules[r.ID] = p
	}
}

// Push hands an event to the reorder buffer.
func (l *Live) Push(ev *ecs.Event) { l.reord.Push(ev) }

// Advance releases the events up to watermark (Reorder.Advance).
func (l *Live) Advance(watermark int64) { l.reord.Advance(watermark) }

// Flush releases every held event and closes the throttle windows (end of
// input). Pending sequences stay pending.
func (l *Live) Flush() {
	l.reord.Flush()
	l.eng.Flush()
}

// RuleSet returns the rule set in force.
func (l *Live) RuleSet() *RuleSet { return l.set }

// Stats returns the engine's counters with those of the engines swaps
// replaced added in: Events, and per rule (by rule_id) Matches, Alerts,
// Suppressed and Throttled. Pending and the sequence counters are the
// running engine's. Rules lists the rules in force only.
func (l *Live) Stats() Stats {
	st := l.eng.Stats()
	st.Events += l.prev.events
	for i := range st.Rules {
		r := &st.Rules[i]
		p := l.prev.rules[r.ID]
		r.Matches += p.Matches
		r.Alerts += p.Alerts
		r.Suppressed += p.Suppressed
		r.Throttled += p.Throttled
	}
	return st
}

// ReorderStats returns the reorder buffer's counters, Late carried across
// swaps.
func (l *Live) ReorderStats() ReorderStats {
	rs := l.reord.Stats()
	rs.Late += l.prev.late
	return rs
}
