package detect

import "github.com/macsensor/macsensor/sensor/ecs"

// ordinal is an event's position in EQL order: @timestamp, then
// event.sequence (the tiebreaker; absent sorts after present, as
// Elasticsearch's Ordinal.compareTo puts null tiebreakers last), then
// arrival.
type ordinal struct {
	ts      int64
	seq     int64
	noSeq   bool
	arrival uint64
}

func ordinalOf(ev *ecs.Event, arrival uint64) ordinal {
	o := ordinal{ts: ev.Timestamp, arrival: arrival}
	if ev.Has&ecs.HasSequence != 0 {
		o.seq = ev.Event.Sequence
	} else {
		o.noSeq = true
	}
	return o
}

// before reports whether o sorts strictly before p.
func (o ordinal) before(p ordinal) bool {
	if o.ts != p.ts {
		return o.ts < p.ts
	}
	if o.noSeq != p.noSeq {
		return !o.noSeq
	}
	if o.seq != p.seq {
		return o.seq < p.seq
	}
	return o.arrival < p.arrival
}

// beforeIgnoringArrival reports whether o sorts strictly before p on
// @timestamp and event.sequence alone.
func (o ordinal) beforeIgnoringArrival(p ordinal) bool {
	if o.ts != p.ts {
		return o.ts < p.ts
	}
	if o.noSeq != p.noSeq {
		return !o.noSeq
	}
	return o.seq < p.seq
}
