// Package detect is macsensor's detection engine: it loads Elastic
// detection-rules TOML, runs their EQL queries (event queries and
// sequences) over ordered ecs.Events, applies exceptions and per-rule
// throttling, and builds alert documents shaped like Elastic Endpoint's
// behavior alerts.
//
// The flow inside the package is
//
//	Reorder (time-bounded buffer) → Engine.Process → sequencer per rule
//	  → exceptions → throttle → Alert → Options.OnAlert
//
// Sequence semantics follow Elasticsearch's EQL (x-pack/plugin/eql,
// execution/sequence/SequenceMatcher.java): events are ordered by
// @timestamp, then event.sequence (an event without one sorts after those
// with one at the same timestamp), then arrival; one pending sequence per
// join key per stage; a later stage only takes an event strictly after the
// previous one; maxspan is inclusive; until drops the pending sequences of
// its key; a null join key never joins.
//
// It is not an EQL implementation (that is detect/eql), not an alert
// writer (the caller appends Alert.AppendJSON lines to its log) and not a
// source of events: it never imports a collector.
package detect
