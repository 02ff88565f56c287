package detect

import (
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Reorder puts events back into EQL order (@timestamp, event.sequence,
// arrival) before they reach the engine. It holds events in a heap and
// releases, in order, every event with a timestamp at or below the
// watermark:
//
//   - Advance(w) releases everything stamped ≤ w (the live pipeline passes
//     the snapshot time of the last completed poll);
//   - with a window W ≥ 0, Push also releases everything stamped
//     ≤ (the highest timestamp pushed so far − W);
//   - Flush releases everything (end of input).
//
// An event that sorts before an event already released is late: it is
// passed to out at once (never dropped) and counted.
//
// Reorder keeps a pushed *ecs.Event until it is released: the caller must
// not reuse it before out has been called with it. It is not safe for
// concurrent use.
type Reorder struct {
	window int64 // ns; < 0: no time-based release
	out    func(*ecs.Event)
	// Events that arrive in order (the common case) go to run, a FIFO
	// already sorted: O(1) in and out. Only events that arrive before the
	// run's last one go to heap. The next event out is the smaller of the
	// two heads.
	run     []reorderItem
	runHead int
	heap    []reorderItem
	arrival uint64

	maxTS    int64
	seenAny  bool
	last     ordinal // the last released event's position
	released bool

	late     uint64
	total    uint64
	maxHeld  int
	releases uint64
}

type reorderItem struct {
	ord ordinal
	ev  *ecs.Event
}

// NewReorder returns a reorder buffer that passes events to out in order.
// A window < 0 disables the time-based release: events then leave only
// through Advance and Flush.
func NewReorder(window time.Duration, out func(*ecs.Event)) *Reorder {
	w := int64(window)
	if window < 0 {
		w = -1
	}
	return &Reorder{window: w, out: out}
}

// ReorderStats are a Reorder's counters.
type ReorderStats struct {
	Pushed   uint64 // events pushed
	Released uint64 // events passed to out in order
	Late     uint64 // events older than one already released, passed on at once
	Held     int    // events held now
	MaxHeld  int    // the most events held at once
}

// Stats returns the buffer's counters.
func (r *Reorder) Stats() ReorderStats {
	return ReorderStats{Pushed: r.total, Released: r.releases, Late: r.late, Held: r.held(), MaxHeld: r.maxHeld}
}

// Push adds an event. It may call out (for this event if it is late, and
// for every event the window now releases).
func (r *Reorder) Push(ev *ecs.Event) {
	r.total++
	r.arrival++
	o := ordinalOf(ev, r.arrival)
	if r.released && o.beforeIgnoringArrival(r.last) {
		r.late++
		r.out(ev)
		return
	}
	if n := len(r.run); n == r.runHead || !o.before(r.run[n-1].ord) {
		r.run = append(r.run, reorderItem{ord: o, ev: ev})
	} else {
		r.push(reorderItem{ord: o, ev: ev})
	}
	if h := r.held(); h > r.maxHeld {
		r.maxHeld = h
	}
	if !r.seenAny || ev.Timestamp > r.maxTS {
		r.maxTS = ev.Timestamp
		r.seenAny = true
	}
	if r.window >= 0 {
		r.releaseTo(r.maxTS - r.window)
	}
}

// Advance releases every held event stamped at or before watermark
// (Unix nanoseconds).
func (r *Reorder) Advance(watermark int64) { r.releaseTo(watermark) }

// Flush releases every held event.
func (r *Reorder) Flush() {
	for r.held() > 0 {
		r.release(r.next())
	}
}

func (r *Reorder) held() int { return len(r.run) - r.runHead + len(r.heap) }

// peek returns the smallest held ordinal; held() must be > 0.
func (r *Reorder) peek() ordinal {
	switch {
	case r.runHead == len(r.run):
		return r.heap[0].ord
	case len(r.heap) == 0 || r.run[r.runHead].ord.before(r.heap[0].ord):
		return r.run[r.runHead].ord
	}
	return r.heap[0].ord
}

// next removes and returns the smallest held item; held() must be > 0.
func (r *Reorder) next() reorderItem {
	if r.runHead < len(r.run) && (len(r.heap) == 0 || r.run[r.runHead].ord.before(r.heap[0].ord)) {
		it := r.run[r.runHead]
		r.run[r.runHead] = reorderItem{}
		r.runHead++
		switch {
		case r.runHead == len(r.run):
			r.run, r.runHead = r.run[:0], 0
		case r.runHead > 1024 && r.runHead > len(r.run)/2:
			// Slide the live part down so the backing array is reused.
			n := copy(r.run, r.run[r.runHead:])
			clear(r.run[n:])
			r.run, r.runHead = r.run[:n], 0
		}
		return it
	}
	return r.pop()
}

func (r *Reorder) releaseTo(w int64) {
	for r.held() > 0 && r.peek().ts <= w {
		r.release(r.next())
	}
}

func (r *Reorder) release(it reorderItem) {
	r.last = it.ord
	r.released = true
	r.releases++
	r.out(it.ev)
}

// push and pop keep r.heap a binary min-heap by ordinal. They are written
// out rather than using container/heap, whose interface boxes every item
// (an allocation per event).
func (r *Reorder) push(it reorderItem) {
	r.heap = append(r.heap, it)
	h := r.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].ord.before(h[p].ord) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (r *Reorder) pop() reorderItem {
	h := r.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = reorderItem{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if rr := l + 1; rr < n && h[rr].ord.before(h[l].ord) {
			m = rr
		}
		if !h[m].ord.before(h[i].ord) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	r.heap = h
	return top
}
