package sensor

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// Batch is what one poll delivered: its events, in the order observed, and
// the watermark after it (Unix ns; see Sensor.Watermark). A batch with no
// events still carries the watermark forward.
type Batch struct {
	Events    []*ecs.Event
	Watermark int64
}

// LoopStats are the counters of LoopWith, beyond the Sensor's own.
type LoopStats struct {
	Batches       uint64 // batches sent
	DroppedBatch  uint64 // batches dropped because out was full
	DroppedEvents uint64 // events in those batches
	Errors        uint64 // polls that failed

	// TriggeredPolls counts the polls run because of a Trigger;
	// TriggerDeferred the times the rate limit made a trigger wait.
	TriggeredPolls  uint64
	TriggerDeferred uint64
	// TriggerDelay is, for every poll (triggered or scheduled) that served
	// a trigger, the time from the earliest fire it served to the start of
	// the poll; TriggerDone to its end, when the connection has been
	// attributed and its events built.
	TriggerDelay DelayHistogram
	TriggerDone  DelayHistogram
	// InboxEvents counts the events taken from LoopOptions.Inbox.
	InboxEvents uint64
	// Process counts the process events (LoopOptions.ProcessEvents).
	Process ProcessEventStats
	// Named counts the network events given a destination.domain by
	// LoopOptions.Domain.
	Named uint64
}

// LoopOptions configures LoopWith.
type LoopOptions struct {
	// ProcessEvery and SocketEvery are the poll intervals of the process
	// and socket tables.
	ProcessEvery, SocketEvery time.Duration
	// OnError, if not nil, gets each poll error; polling goes on.
	OnError func(error)

	// Trigger, if not nil, asks for polls between the scheduled ones
	// (Trigger.Fire). A triggered poll is a full Poll: the socket table,
	// then, when it holds new connections, the process table before they
	// are attributed, so the owner of a new connection is read before it
	// exits and a same-pid exec since the last poll (a process first seen
	// between its fork and its exec) is seen before the connection is
	// attributed to the process's old name. Triggered polls are
	// spaced by a rate limit: on
	// average at most one per TriggerInterval, with up to TriggerBurst
	// (DefaultTriggerBurst when 0) back to back after a quiet period, so a
	// lone SYN is served at once and a flood of them costs a bounded CPU.
	// A trigger the limit holds back waits and is served by the next
	// allowed poll, or by a scheduled socket poll that comes first.
	// TriggerInterval 0 means no limit (polls still never overlap).
	Trigger         *Trigger
	TriggerInterval time.Duration
	TriggerBurst    int

	// Inbox, if not nil, brings the events of another source into the
	// batches (see Inbox); they are sent as soon as they arrive.
	Inbox *Inbox

	// Domain, if not nil, names the destination of each network event the
	// sensor emits (destination.domain), given the destination address
	// and the time the connection was seen; ok false leaves it unnamed.
	// capture.Cache.Lookup fits. It is called on the poll goroutine.
	Domain func(ip netip.Addr, at time.Time) (name string, ok bool)

	// ProcessEvents, if not nil, brings process events (forks, execs,
	// exits) into the Loop, which reads each named pid at once through
	// HandleProcessEvents. The reads are rate-limited: on average at most
	// one per ProcessReadEvery (DefaultProcessReadEvery when 0; negative:
	// no limit), up to ProcessReadBurst (DefaultProcessReadBurst when 0)
	// back to back; events beyond wait in the queue, which is bounded (see
	// ProcessEvents). When events were dropped (queue full, or lost by the
	// kernel) the Loop polls the process table at once, at most once per
	// ReconcileEvery (DefaultReconcileEvery when 0).
	ProcessEvents    *ProcessEvents
	ProcessReadEvery time.Duration
	ProcessReadBurst int
	ReconcileEvery   time.Duration
}

// Defaults of the process-event read limits (LoopOptions). A process costs
// one pid read on Linux (its fork reads only the parent, already known in
// a shell loop), so 2,000 reads a second cover 1,000 execs a second twice
// over; a read is some 10 system calls (proc's BenchmarkReadOne), and the
// daemon spent ~23 % of a core at 900–1,650 execs a second
// (docs/PERFORMANCE.md): the limit keeps a fork bomb near that.
const (
	DefaultProcessReadEvery = 500 * time.Microsecond
	DefaultProcessReadBurst = 256
	DefaultReconcileEvery   = 250 * time.Millisecond
)

// publishedStats is the copy of the counters another goroutine may read
// while LoopWith runs.
type publishedStats struct {
	mu     sync.Mutex
	sensor Stats
	loop   LoopStats
}

// LoopWith polls the process table every opt.ProcessEvery and the socket
// table every opt.SocketEvery until ctx is done, and sends one Batch per
// poll to out. It never blocks on out: when out is full the batch is
// dropped and counted (the next batch's watermark supersedes its own).
// opt.OnError, if not nil, gets each poll error; polling goes on. It also
// takes the inputs of the packet capture: a Trigger for immediate socket
// polls, an Inbox for the events of another source and a Domain lookup for
// destination.domain (see LoopOptions). Everything runs on the calling
// goroutine, which owns the Sensor; the Sensor is never touched from the
// capture's goroutines.
//
// LoopWith owns the Sensor while it runs; read its counters with
// PublishedStats. A stopped loop may be started again (with other
// intervals) on the same Sensor: its tables and state carry over.
func (s *Sensor) LoopWith(ctx context.Context, opt LoopOptions, out chan<- Batch) {
	procT := time.NewTicker(opt.ProcessEvery)
	defer procT.Stop()
	var sockC <-chan time.Time
	together := s.socks == nil || opt.SocketEvery == opt.ProcessEvery
	if !together {
		sockT := time.NewTicker(opt.SocketEvery)
		defer sockT.Stop()
		sockC = sockT.C
	}
	var trigC, inC, peC <-chan struct{}
	s.peQueue = opt.ProcessEvents
	if opt.ProcessEvents != nil {
		peC = opt.ProcessEvents.wake
	}
	peEvery := opt.ProcessReadEvery
	if peEvery == 0 {
		peEvery = DefaultProcessReadEvery
	}
	peBurst := opt.ProcessReadBurst
	if peBurst <= 0 {
		peBurst = DefaultProcessReadBurst
	}
	peLim := limiter{every: int64(peEvery), burst: int64(peBurst)}
	reconcileEvery := opt.ReconcileEvery
	if reconcileEvery <= 0 {
		reconcileEvery = DefaultReconcileEvery
	}
	var (
		peEvs         []procevents.Event
		peT           *time.Timer
		peWaitC       <-chan time.Time // set while events wait for the read limit
		lastReconcile int64
	)
	defer func() {
		if peT != nil {
			peT.Stop()
		}
	}()
	if opt.Trigger != nil && s.socks != nil {
		trigC = opt.Trigger.c
	}
	if opt.Inbox != nil {
		inC = opt.Inbox.wake
	}
	burst := opt.TriggerBurst
	if burst <= 0 {
		burst = DefaultTriggerBurst
	}
	lim := limiter{every: int64(opt.TriggerInterval), burst: int64(burst)}
	base := time.Now()
	mono := func() int64 { return int64(time.Since(base)) }
	var (
		waitT *time.Timer
		waitC <-chan time.Time // set while a trigger waits for the limit
	)
	defer func() {
		if waitT != nil {
			waitT.Stop()
		}
	}()

	// Code signatures: the polls do not wait for verifications (that would
	// delay the reads of other processes, which may exit meanwhile); a
	// batch with events still waiting is held, with every batch after it
	// (order and watermarks kept), until its results come or the budget
	// passes (signature.go, holdSignatures).
	var hold sigHold
	if s.opt.Signatures != nil {
		s.deferSigs = true
		defer func() { s.deferSigs = false }()
		hold.budget = s.signatureBudget()
	}
	defer hold.stop()
	var buf []*ecs.Event
	deliver := func(b Batch) {
		select {
		case out <- b:
			s.loop.Batches++
		default:
			s.loop.DroppedBatch++
			s.loop.DroppedEvents += uint64(len(b.Events))
		}
	}
	send := func() {
		b := Batch{Watermark: s.Watermark()}
		if opt.Inbox != nil {
			n := len(buf)
			buf = opt.Inbox.drain(buf, b.Watermark)
			if len(buf) > n {
				created := s.opt.Now().UnixNano()
				for _, ev := range buf[n:] {
					s.stamp(ev, created)
				}
				s.loop.InboxEvents += uint64(len(buf) - n)
			}
		}
		if len(buf) > 0 {
			// The receiver keeps the events: hand it its own slice.
			b.Events = append([]*ecs.Event(nil), buf...)
			clear(buf)
		}
		if s.deferSigs && (len(s.sigWaits) > 0 || len(hold.held) > 0) {
			s.holdBatch(&hold, b)
			s.releaseHeld(&hold, false, deliver)
		} else {
			deliver(b)
		}
		s.publish()
	}
	poll := func(f func([]*ecs.Event) ([]*ecs.Event, error), sockets, triggered bool) {
		var since int64
		if sockets && trigC != nil {
			since = opt.Trigger.take()
		}
		var err error
		t0 := time.Now()
		buf, err = f(buf[:0])
		if err != nil {
			s.loop.Errors++
			if opt.OnError != nil {
				opt.OnError(err)
			}
		}
		if since != 0 {
			s.loop.TriggerDelay.add(time.Duration(t0.UnixNano() - since))
			s.loop.TriggerDone.add(time.Duration(time.Now().UnixNano() - since))
		}
		if triggered {
			s.loop.TriggeredPolls++
		}
		if sockets && waitC != nil && opt.Trigger.pending.Load() == 0 {
			// A scheduled poll served the trigger that was waiting.
			waitT.Stop()
			waitC = nil
		}
		if opt.Domain != nil {
			s.nameDestinations(buf, opt.Domain)
		}
		send()
	}
	// serveProcessEvents takes what the read limit allows and handles it.
	serveProcessEvents := func() {
		now := mono()
		n := peLim.avail(now)
		if n == 0 {
			s.pe.stats.Deferred++
			d := time.Duration(peLim.tat - (peLim.burst-1)*peLim.every - now)
			if peT == nil {
				peT = time.NewTimer(max(d, time.Microsecond))
			} else {
				peT.Reset(max(d, time.Microsecond))
			}
			peWaitC = peT.C
			s.publish()
			return
		}
		var overrun, more bool
		s.pe.execReported = opt.ProcessEvents.execReported.Load()
		peEvs, overrun, more = opt.ProcessEvents.take(peEvs[:0], n)
		reads0 := s.pe.stats.Reads
		buf = s.handleProcessEvents(buf[:0], peEvs)
		// Book the reads made, not the events taken: forks whose child
		// is read at its exec, and parents already known, cost none.
		peLim.takeN(now, int(s.pe.stats.Reads-reads0))
		clear(peEvs)
		if overrun && (lastReconcile == 0 || now-lastReconcile >= int64(reconcileEvery)) {
			lastReconcile = now
			s.pe.stats.Reconciles++
			var err error
			if buf, err = s.PollProcesses(buf); err != nil {
				s.loop.Errors++
				if opt.OnError != nil {
					opt.OnError(err)
				}
			}
		}
		// One budget for the batch: the reconcile's poll settled
		// the events handled above with its own.
		s.settleSignatures()
		send()
		if more {
			// Come back after whatever else is ready.
			select {
			case opt.ProcessEvents.wake <- struct{}{}:
			default:
			}
		}
	}
	triggered := func() {
		lim.take(mono())
		poll(s.Poll, true, true)
	}
	poll(s.Poll, s.socks != nil, false)
	for {
		select {
		case <-ctx.Done():
			if opt.Inbox != nil {
				// Hand over what arrived since the last batch.
				buf = buf[:0]
				send()
			}
			s.releaseHeld(&hold, true, deliver)
			s.publish()
			return
		case <-hold.c:
			hold.c = nil
			s.releaseHeld(&hold, false, deliver)
			s.publish()
		case <-procT.C:
			if together {
				poll(s.Poll, s.socks != nil, false)
			} else {
				poll(s.PollProcesses, false, false)
			}
		case <-sockC:
			poll(s.PollSockets, true, false)
		case <-trigC:
			switch {
			case opt.Trigger.pending.Load() == 0:
				// Served already, by the poll that ran when it fired.
			case waitC != nil:
				// Coalesced into the poll that waits for the limit.
			default:
				if d := lim.wait(mono()); d > 0 {
					s.loop.TriggerDeferred++
					if waitT == nil {
						waitT = time.NewTimer(time.Duration(d))
					} else {
						waitT.Reset(time.Duration(d))
					}
					waitC = waitT.C
					s.publish()
					continue
				}
				triggered()
			}
		case <-waitC:
			waitC = nil
			if opt.Trigger.pending.Load() != 0 {
				triggered()
			}
		case <-inC:
			buf = buf[:0]
			send()
		case <-peC:
			if peWaitC == nil {
				serveProcessEvents()
			}
		case <-peWaitC:
			peWaitC = nil
			serveProcessEvents()
		}
	}
}

// nameDestinations sets destination.domain on the network events of evs
// whose destination address domain names.
func (s *Sensor) nameDestinations(evs []*ecs.Event, domain func(netip.Addr, time.Time) (string, bool)) {
	for _, ev := range evs {
		if len(ev.Event.Category) == 0 || ev.Event.Category[0] != "network" || ev.Destination.Domain != "" {
			continue
		}
		ip, err := netip.ParseAddr(ev.Destination.IP)
		if err != nil {
			continue
		}
		if name, ok := domain(ip, time.Unix(0, ev.Event.Created)); ok {
			ev.Destination.Domain = name
			s.loop.Named++
		}
	}
}

func (s *Sensor) publish() {
	st := s.Stats()
	s.loop.Process = s.pe.stats
	if q := s.peQueue; q != nil {
		qs := q.Stats()
		s.loop.Process.Put, s.loop.Process.Dropped, s.loop.Process.Lost = qs.Put, qs.Dropped, qs.Lost
	}
	s.pub.mu.Lock()
	s.pub.sensor, s.pub.loop = st, s.loop
	s.pub.mu.Unlock()
}

// PublishedStats returns the counters as of the last poll of LoopWith. It is
// safe to call from any goroutine.
func (s *Sensor) PublishedStats() (Stats, LoopStats) {
	s.pub.mu.Lock()
	defer s.pub.mu.Unlock()
	return s.pub.sensor, s.pub.loop
}
