package sensor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Trigger asks a running Loop for a socket poll now, outside its schedule.
// The packet capture fires it for every outbound TCP SYN: the socket, and
// the process that opened it, exist at that moment, so reading the socket
// table at once attributes a connection that would be gone by the next
// scheduled poll.
//
// Fire never blocks and is safe from any goroutine (a capture callback):
// it records the earliest fire time not yet served and, when no fire was
// pending, does a non-blocking send on a 1-buffered channel. Fires that
// arrive before the Loop gets to them coalesce into one poll and wake the
// Loop once (a flood of SYNs while the rate limit holds a poll back costs
// the Loop no wake-up per SYN); a fire during a poll asks for one more
// poll, since that poll may have read the table before the connection was
// in it.
type Trigger struct {
	c       chan struct{}
	pending atomic.Int64 // earliest unserved fire, Unix ns; 0: none
	fires   atomic.Uint64
}

// NewTrigger returns a Trigger to pass in LoopOptions.
func NewTrigger() *Trigger { return &Trigger{c: make(chan struct{}, 1)} }

// Fire asks for a socket poll that starts after at (Unix ns: the capture
// time of the SYN; a value <= 0 means now).
func (t *Trigger) Fire(at int64) {
	if at <= 0 {
		at = time.Now().UnixNano()
	}
	t.fires.Add(1)
	for {
		p := t.pending.Load()
		if p != 0 && p <= at {
			return
		}
		if t.pending.CompareAndSwap(p, at) {
			if p != 0 {
				// Only moved an unserved fire earlier: the signal sent
				// when it became pending has not been acted on yet.
				return
			}
			break
		}
	}
	// pending went from none to at: wake the Loop. Invariant: whenever
	// pending is set, a signal is in the channel or the Loop has taken
	// one and will poll (or is waiting on the rate limit to).
	select {
	case t.c <- struct{}{}:
	default:
	}
}

// Fires is how many times Fire was called.
func (t *Trigger) Fires() uint64 { return t.fires.Load() }

// take clears and returns the earliest unserved fire time (0: none). The
// poll that calls it serves every fire before it.
func (t *Trigger) take() int64 { return t.pending.Swap(0) }

// DefaultTriggerBurst is the number of triggered polls a quiet Loop runs
// back to back before the rate limit spaces them (LoopOptions.TriggerBurst).
const DefaultTriggerBurst = 4

// limiter spaces triggered polls: on average at most one per every, with
// up to burst back to back after a quiet period. It is the generic cell
// rate algorithm (ITU-T I.371's virtual scheduling): tat is the theoretical
// arrival time of the next poll. Times are monotonic nanoseconds.
type limiter struct {
	every int64
	burst int64
	tat   int64
}

// wait returns how long a triggered poll must wait at now; 0: it may run.
func (l *limiter) wait(now int64) int64 {
	if l.every <= 0 {
		return 0
	}
	allow := l.tat - (l.burst-1)*l.every
	if now >= allow {
		return 0
	}
	return allow - now
}

// take books a triggered poll at now.
func (l *limiter) take(now int64) {
	if l.every > 0 {
		l.tat = max(l.tat, now) + l.every
	}
}

// avail is how many units the limit allows at now, at most burst (and
// burst when there is no limit).
func (l *limiter) avail(now int64) int {
	if l.every <= 0 {
		return int(l.burst)
	}
	d := now - l.tat
	if d >= 0 {
		return int(l.burst)
	}
	// A unit may start once tat − (burst−k)·every <= now: k = burst −
	// ceil(−d / every).
	k := l.burst - (-d+l.every-1)/l.every
	return int(max(k, 0))
}

// takeN books n units at now.
func (l *limiter) takeN(now int64, n int) {
	if l.every > 0 && n > 0 {
		l.tat = max(l.tat, now) + int64(n)*l.every
	}
}

// DelayBounds are the upper bounds of the buckets of a DelayHistogram; a
// last bucket holds everything longer.
var DelayBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond,
	500 * time.Microsecond, 700 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond,
	2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond,
	7 * time.Millisecond, 10 * time.Millisecond, 15 * time.Millisecond, 20 * time.Millisecond,
	30 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

// DelayHistogram counts delays in the buckets of DelayBounds.
type DelayHistogram struct {
	Counts [len(DelayBounds) + 1]uint64
	Max    time.Duration
	Sum    time.Duration
}

func (h *DelayHistogram) add(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(DelayBounds) && d > DelayBounds[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += d
	h.Max = max(h.Max, d)
}

// Count is the number of delays counted.
func (h *DelayHistogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns an upper bound of the q-quantile (0 < q <= 1): the upper
// bound of the bucket that holds it, or Max when that is smaller or the
// bucket is the last. 0 when nothing was counted.
func (h *DelayHistogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i == len(DelayBounds) {
				return h.Max
			}
			return min(DelayBounds[i], h.Max)
		}
	}
	return h.Max
}

// Inbox carries the events of another source (the DNS responses of
// sensor/capture) into a running Loop, which stamps them with the sensor's
// host, agent, event.created and next event.sequence and sends them in its
// next batch, so that their sequence numbers interleave with the sensor's
// own. Put never blocks and is safe from any goroutine.
//
// The watermark: each batch promises that no later event is stamped before
// its watermark. An event whose @timestamp was taken before a batch's
// watermark but that is Put after that batch was assembled (the capture
// goroutine stamped the frame, then the poll goroutine sent the batch,
// then the event arrived) would break the promise; Put raises its
// @timestamp to the watermark already sent and counts it (InboxStats.Raised).
// The assembly of a batch and Put exclude each other, so no event escapes
// both ways.
type Inbox struct {
	wake chan struct{}

	mu      sync.Mutex
	evs     []*ecs.Event
	max     int
	floor   int64 // the watermark of the last batch assembled
	put     uint64
	dropped uint64
	raised  uint64
}

// InboxStats counts what an Inbox did.
type InboxStats struct {
	Put     uint64 // events accepted
	Dropped uint64 // events refused because the inbox was full
	Raised  uint64 // events whose @timestamp was raised to the watermark already sent
}

// NewInbox returns an inbox that holds at most max events (1024 when max
// <= 0) between two batches; more are dropped and counted.
func NewInbox(max int) *Inbox {
	if max <= 0 {
		max = 1024
	}
	return &Inbox{wake: make(chan struct{}, 1), max: max}
}

// Put queues ev for the Loop; false when the inbox is full (counted). The
// Loop owns ev from then on.
func (in *Inbox) Put(ev *ecs.Event) bool {
	in.mu.Lock()
	if len(in.evs) >= in.max {
		in.dropped++
		in.mu.Unlock()
		return false
	}
	if ev.Timestamp < in.floor {
		ev.Timestamp = in.floor
		in.raised++
	}
	in.evs = append(in.evs, ev)
	in.put++
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return true
}

// Stats returns the counters.
func (in *Inbox) Stats() InboxStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return InboxStats{Put: in.put, Dropped: in.dropped, Raised: in.raised}
}

// drain appends the queued events to dst and records watermark as the
// floor of later ones.
func (in *Inbox) drain(dst []*ecs.Event, watermark int64) []*ecs.Event {
	in.mu.Lock()
	dst = append(dst, in.evs...)
	clear(in.evs)
	in.evs = in.evs[:0]
	in.floor = max(in.floor, watermark)
	in.mu.Unlock()
	return dst
}

// stamp gives an event of another source what every event of this sensor
// carries: host, agent, event.created and the next event.sequence.
func (s *Sensor) stamp(ev *ecs.Event, created int64) {
	ev.Host = ecs.Host{ID: s.opt.Host.ID, Name: s.opt.Host.Name, Hostname: s.opt.Host.Hostname, Architecture: s.opt.Host.Architecture, OS: ecs.OS(s.opt.Host.OS)}
	ev.Agent = s.opt.Agent
	ev.Event.Created = created
	ev.Event.Sequence = s.nextSeq()
	if ev.Event.ID == "" {
		ev.Event.ID = s.eventID(ev.Event.Sequence)
	}
	ev.Has |= ecs.HasCreated | ecs.HasSequence
}
