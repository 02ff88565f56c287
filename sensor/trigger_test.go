package sensor

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/capture"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

func TestTriggerKeepsEarliestFire(t *testing.T) {
	tr := NewTrigger()
	tr.Fire(200)
	tr.Fire(100)
	tr.Fire(300)
	if got := tr.take(); got != 100 {
		t.Fatalf("take = %d, want the earliest fire 100", got)
	}
	if got := tr.take(); got != 0 {
		t.Fatalf("second take = %d, want 0", got)
	}
	if tr.Fires() != 3 {
		t.Fatalf("Fires = %d", tr.Fires())
	}
	// Three fires, one wake-up: the channel holds one signal and Fire
	// never blocked.
	if len(tr.c) != 1 || cap(tr.c) != 1 {
		t.Fatalf("channel len %d cap %d", len(tr.c), cap(tr.c))
	}
	<-tr.c
	// Fires while one is pending do not signal again; the first fire
	// after a take does.
	tr.Fire(500)
	<-tr.c
	tr.Fire(400)
	tr.Fire(600)
	if len(tr.c) != 0 {
		t.Fatal("a fire signalled while another was pending")
	}
	if tr.take() != 400 {
		t.Fatal("the earliest pending fire was lost")
	}
	tr.Fire(700)
	if len(tr.c) != 1 {
		t.Fatal("the first fire after a take did not signal")
	}
}

func TestLimiter(t *testing.T) {
	ms := int64(time.Millisecond)
	l := limiter{every: 20 * ms, burst: 4}
	now := int64(1000 * ms)
	for i := range 4 {
		if w := l.wait(now); w != 0 {
			t.Fatalf("burst poll %d waits %d", i, w)
		}
		l.take(now)
	}
	if w := l.wait(now); w != 20*ms {
		t.Fatalf("fifth poll waits %dms, want 20ms", w/ms)
	}
	now += 20 * ms
	if w := l.wait(now); w != 0 {
		t.Fatalf("after 20ms: waits %d", w)
	}
	l.take(now)
	if w := l.wait(now + 5*ms); w != 15*ms {
		t.Fatalf("5ms later: waits %dms, want 15ms", w/ms)
	}
	// A quiet period gives the whole burst back, no more.
	now += 10 * 20 * ms
	for i := range 4 {
		if w := l.wait(now); w != 0 {
			t.Fatalf("after quiet: poll %d waits %d", i, w)
		}
		l.take(now)
	}
	if l.wait(now) == 0 {
		t.Fatal("a quiet period gave more than the burst")
	}

	strict := limiter{every: 20 * ms, burst: 1}
	strict.take(0)
	if w := strict.wait(5 * ms); w != 15*ms {
		t.Fatalf("burst 1: waits %dms, want 15ms", w/ms)
	}
	none := limiter{}
	none.take(0)
	if none.wait(0) != 0 {
		t.Fatal("no interval: must never wait")
	}
}

func TestDelayHistogram(t *testing.T) {
	var h DelayHistogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
	for range 98 {
		h.add(400 * time.Microsecond) // bucket (300µs, 500µs]
	}
	h.add(2500 * time.Microsecond) // (2ms, 3ms]
	h.add(7 * time.Second)         // the last bucket
	h.add(-time.Millisecond)       // a clock step: counted as 0
	if h.Count() != 101 || h.Max != 7*time.Second {
		t.Fatalf("count %d max %v", h.Count(), h.Max)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.98, 500 * time.Microsecond}, {0.99, 3 * time.Millisecond}, {1, 7 * time.Second}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	var one DelayHistogram
	one.add(130 * time.Microsecond)
	if got := one.Quantile(0.5); got != 130*time.Microsecond {
		t.Errorf("a bucket bound above the maximum: Quantile = %v, want the maximum", got)
	}
}

func TestInboxRaisesEventsBehindTheWatermark(t *testing.T) {
	in := NewInbox(2)
	a := &ecs.Event{Timestamp: 100}
	if !in.Put(a) {
		t.Fatal("Put refused")
	}
	evs := in.drain(nil, 500)
	if len(evs) != 1 || evs[0] != a || a.Timestamp != 100 {
		t.Fatalf("drain: %v (ts %d)", evs, a.Timestamp)
	}
	// Stamped before the batch of watermark 500 but arriving after it.
	b := &ecs.Event{Timestamp: 300}
	c := &ecs.Event{Timestamp: 700}
	in.Put(b)
	in.Put(c)
	if b.Timestamp != 500 || c.Timestamp != 700 {
		t.Fatalf("timestamps %d %d, want 500 700", b.Timestamp, c.Timestamp)
	}
	if in.Put(&ecs.Event{}) {
		t.Fatal("a full inbox accepted an event")
	}
	// A lower watermark never lowers the floor.
	if evs := in.drain(nil, 400); len(evs) != 2 {
		t.Fatalf("drain: %d events", len(evs))
	}
	d := &ecs.Event{Timestamp: 450}
	in.Put(d)
	if d.Timestamp != 500 {
		t.Fatalf("floor lowered: ts %d", d.Timestamp)
	}
	if st := in.Stats(); st != (InboxStats{Put: 4, Dropped: 1, Raised: 2}) {
		t.Fatalf("stats %+v", st)
	}
}

// loopWorld is a process and socket table the test edits while a Loop
// reads them on its own goroutine.
type loopWorld struct {
	mu        sync.Mutex
	fp        *fakeProcs
	fs        *fakeSocks
	sockLists int
	// gate, when not nil, holds every socket List: it signals entered,
	// then waits for a value on gate.
	gate    chan struct{}
	entered chan struct{}
}

type worldProcs struct{ w *loopWorld }

func (p worldProcs) List(dst []proc.Entry) ([]proc.Entry, error) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	return p.w.fp.List(dst)
}

func (p worldProcs) Read(pid int32, e *proc.Entry) error {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	return p.w.fp.Read(pid, e)
}

func (p worldProcs) Details(pid int32, d *proc.Details) error {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	return p.w.fp.Details(pid, d)
}

type worldSocks struct{ w *loopWorld }

func (s worldSocks) List(dst []socket.Conn) ([]socket.Conn, error) {
	s.w.mu.Lock()
	s.w.sockLists++
	gate, entered := s.w.gate, s.w.entered
	s.w.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.w.fs.List(dst)
}

func (w *loopWorld) edit(f func(fp *fakeProcs, fs *fakeSocks)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w.fp, w.fs)
}

func (w *loopWorld) lists() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sockLists
}

// runningLoop is a Loop on its own goroutine.
type runningLoop struct {
	s      *Sensor
	w      *loopWorld
	out    chan Batch
	cancel context.CancelFunc
	done   chan struct{}
}

const loopDeadline = 10 * time.Second

// startLoop runs LoopWith over a fresh world on the real clock. Unless opt
// says otherwise the scheduled polls are an hour apart: after the first
// poll, only triggers and the inbox make the Loop do anything.
func startLoop(t *testing.T, opt LoopOptions, prepare func(w *loopWorld)) *runningLoop {
	t.Helper()
	return startLoopWith(t, Options{}, opt, prepare)
}

// startLoopWith is startLoop with sensor options (Host, Agent and Now are
// the fixture's).
func startLoopWith(t *testing.T, sopt Options, opt LoopOptions, prepare func(w *loopWorld)) *runningLoop {
	t.Helper()
	w := &loopWorld{fp: &fakeProcs{details: map[int32]proc.Details{}, gone: map[int32]bool{}}, fs: &fakeSocks{}}
	old := time.Now().Add(-time.Hour).UnixNano()
	w.fp.add(1, 0, old, "launchd", "/sbin/launchd", "/sbin/launchd")
	w.fp.add(400, 1, old, "zsh", "/bin/zsh", "-zsh")
	if prepare != nil {
		prepare(w)
	}
	info := host.Info{ID: "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", Hostname: "mac-01", Name: "mac-01", Architecture: "arm64"}
	info.OS.Type = "macos"
	sopt.Host, sopt.Agent, sopt.Now = info, ecs.Agent{Type: "macsensor", Version: "test"}, nil
	s := New(worldProcs{w}, worldSocks{w}, sopt)
	if opt.ProcessEvery == 0 {
		opt.ProcessEvery, opt.SocketEvery = time.Hour, time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &runningLoop{s: s, w: w, out: make(chan Batch, 64), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		s.LoopWith(ctx, opt, l.out)
	}()
	t.Cleanup(l.stop)
	l.waitStats(t, "the first poll", func(_ Stats, ls LoopStats) bool { return ls.Batches == 1 })
	<-l.out
	return l
}

// TestTriggerSeesAnExecBeforeTheConnection: a pid seen by a poll between
// its fork and its exec, then connecting, is attributed under the name it
// exec'd, with the exec event first.
func TestTriggerSeesAnExecBeforeTheConnection(t *testing.T) {
	tr := NewTrigger()
	start := time.Now().Add(-time.Second).UnixNano()
	l := startLoop(t, LoopOptions{Trigger: tr}, func(w *loopWorld) {
		w.fp.add(812, 400, start, "zsh", "/bin/zsh", "-zsh") // forked, not yet exec'd
	})
	l.w.edit(func(fp *fakeProcs, fs *fakeSocks) {
		fp.remove(812)
		fp.add(812, 400, start, "com.apple.automa", "/x/com.apple.automator.runner", "runner")
		fs.conns = append(fs.conns, conn(protoTCP, "127.0.0.1:50000", "127.0.0.1:8080", socket.Established, 812))
	})
	tr.Fire(0)
	evs, _ := l.events(t, 2)
	if evs[0].Event.Action != "exec" || evs[0].Process.Name != "com.apple.automator.runner" ||
		evs[1].Event.Action != "connection_attempted" || evs[1].Process.Name != "com.apple.automator.runner" {
		t.Fatalf("events %v", evs)
	}
}

func (l *runningLoop) stop() {
	l.cancel()
	<-l.done
}

// waitStats waits until the published counters satisfy cond.
func (l *runningLoop) waitStats(t *testing.T, what string, cond func(Stats, LoopStats) bool) (Stats, LoopStats) {
	t.Helper()
	deadline := time.Now().Add(loopDeadline)
	for {
		st, ls := l.s.PublishedStats()
		if cond(st, ls) {
			return st, ls
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: stats %+v loop %+v", what, st, ls)
		}
		time.Sleep(time.Millisecond)
	}
}

// events reads batches until it holds n events.
func (l *runningLoop) events(t *testing.T, n int) ([]*ecs.Event, []Batch) {
	t.Helper()
	var evs []*ecs.Event
	var bs []Batch
	timer := time.NewTimer(loopDeadline)
	defer timer.Stop()
	for len(evs) < n {
		select {
		case b := <-l.out:
			bs = append(bs, b)
			evs = append(evs, b.Events...)
		case <-timer.C:
			for _, ev := range evs {
				t.Logf("event %s pid %d name %q seq %d", ev.Event.Action, ev.Process.PID, ev.Process.Name, ev.Event.Sequence)
			}
			st, ls := l.s.PublishedStats()
			t.Fatalf("timed out with %d of %d events; stats %+v, loop stats %+v", len(evs), n, st, ls)
		}
	}
	return evs, bs
}

// TestTriggerAttributesAConnectionBetweenPolls: with scheduled polls an
// hour apart, a fire makes the Loop read the tables at once; the new
// process's start event comes first.
func TestTriggerAttributesAConnectionBetweenPolls(t *testing.T) {
	tr := NewTrigger()
	l := startLoop(t, LoopOptions{Trigger: tr, TriggerInterval: 20 * time.Millisecond}, nil)
	start := time.Now().UnixNano()
	l.w.edit(func(fp *fakeProcs, fs *fakeSocks) {
		fp.add(812, 400, start, "com.apple.automa", "/x/com.apple.automator.runner", "runner")
		fs.conns = append(fs.conns, conn(protoTCP, "127.0.0.1:50000", "127.0.0.1:8080", socket.SynSent, 812))
	})
	tr.Fire(time.Now().UnixNano())
	evs, bs := l.events(t, 2)
	if len(evs) != 2 || len(bs) != 1 || evs[0].Event.Action != "exec" || evs[1].Event.Action != "connection_attempted" ||
		evs[1].Process.Name != "com.apple.automator.runner" || evs[0].Process.EntityID != evs[1].Process.EntityID ||
		evs[0].Event.Sequence >= evs[1].Event.Sequence {
		t.Fatalf("events %v in %d batches", evs, len(bs))
	}
	// The watermark is the process snapshot's (DESIGN.md): the start event
	// goes at once, the network event with the next poll's watermark.
	if bs[0].Watermark < evs[0].Timestamp || bs[0].Watermark > evs[1].Timestamp {
		t.Fatalf("watermark %d, events at %d and %d", bs[0].Watermark, evs[0].Timestamp, evs[1].Timestamp)
	}
	st, ls := l.waitStats(t, "the triggered poll", func(_ Stats, ls LoopStats) bool { return ls.TriggeredPolls == 1 })
	if st.SocketPolls != 2 || st.ProcessPolls != 2 || ls.TriggerDelay.Count() != 1 || ls.TriggerDone.Count() != 1 {
		t.Fatalf("stats %+v loop %+v", st, ls)
	}
}

// TestTriggerCoalescesFiresDuringAPoll: fires while a triggered poll reads
// the table ask for exactly one more poll.
func TestTriggerCoalescesFiresDuringAPoll(t *testing.T) {
	tr := NewTrigger()
	l := startLoop(t, LoopOptions{Trigger: tr}, nil)
	gate, entered := make(chan struct{}), make(chan struct{})
	l.w.mu.Lock()
	l.w.gate, l.w.entered = gate, entered
	l.w.mu.Unlock()

	tr.Fire(0)
	<-entered // the first triggered poll is reading the table
	for range 5 {
		tr.Fire(0)
	}
	gate <- struct{}{}
	<-entered // one more poll, for the fires it may have missed
	gate <- struct{}{}
	l.waitStats(t, "two triggered polls", func(_ Stats, ls LoopStats) bool { return ls.TriggeredPolls == 2 })
	l.stop()
	_, ls := l.s.PublishedStats()
	if n := l.w.lists(); n != 3 || ls.TriggeredPolls != 2 || tr.Fires() != 6 {
		t.Fatalf("socket lists %d (want 1 + 2), triggered polls %d, fires %d", n, ls.TriggeredPolls, tr.Fires())
	}
}

// TestTriggerRateLimit: with a burst of 1, a fire within the interval of
// the previous triggered poll waits instead of polling.
func TestTriggerRateLimit(t *testing.T) {
	tr := NewTrigger()
	l := startLoop(t, LoopOptions{Trigger: tr, TriggerInterval: time.Hour, TriggerBurst: 1}, nil)
	tr.Fire(0)
	l.waitStats(t, "the first triggered poll", func(_ Stats, ls LoopStats) bool { return ls.TriggeredPolls == 1 })
	tr.Fire(0)
	l.waitStats(t, "the deferred trigger", func(_ Stats, ls LoopStats) bool { return ls.TriggerDeferred == 1 })
	l.stop()
	st, ls := l.s.PublishedStats()
	if ls.TriggeredPolls != 1 || st.SocketPolls != 2 || l.w.lists() != 2 {
		t.Fatalf("triggered polls %d, socket polls %d, lists %d", ls.TriggeredPolls, st.SocketPolls, l.w.lists())
	}
}

// TestScheduledPollServesAWaitingTrigger: a scheduled socket poll that
// comes while a trigger waits for the limit serves it.
func TestScheduledPollServesAWaitingTrigger(t *testing.T) {
	tr := NewTrigger()
	l := startLoop(t, LoopOptions{ProcessEvery: time.Hour, SocketEvery: 50 * time.Millisecond,
		Trigger: tr, TriggerInterval: time.Hour, TriggerBurst: 1}, nil)
	tr.Fire(0)
	_, ls0 := l.waitStats(t, "the first triggered poll", func(_ Stats, ls LoopStats) bool { return ls.TriggeredPolls == 1 })
	tr.Fire(0)
	l.waitStats(t, "a scheduled poll serving the waiting trigger", func(_ Stats, ls LoopStats) bool {
		return ls.TriggerDeferred == 1 && ls.TriggerDelay.Count() == ls0.TriggerDelay.Count()+1
	})
	l.stop()
	if _, ls := l.s.PublishedStats(); ls.TriggeredPolls != 1 {
		t.Fatalf("triggered polls %d, want 1", ls.TriggeredPolls)
	}
	if tr.take() != 0 {
		t.Fatal("the trigger is still pending")
	}
}

// TestInboxEventsJoinTheSensorSequence: an event of another source gets
// the sensor's host, agent and next sequence number and leaves at once.
func TestInboxEventsJoinTheSensorSequence(t *testing.T) {
	tr := NewTrigger()
	in := NewInbox(0)
	l := startLoop(t, LoopOptions{Trigger: tr, Inbox: in}, nil)
	l.w.edit(func(fp *fakeProcs, fs *fakeSocks) {
		fs.conns = append(fs.conns, conn(protoTCP, "127.0.0.1:50000", "127.0.0.1:8080", socket.Established, 400))
	})
	tr.Fire(0)
	evs, bs := l.events(t, 1)
	wm := bs[len(bs)-1].Watermark
	dns := &ecs.Event{Timestamp: time.Now().UnixNano(), Has: ecs.HasTimestamp,
		Event: ecs.EventMeta{Kind: "event", Category: []string{"network"}, Action: "lookup_result"}}
	late := &ecs.Event{Timestamp: wm - 1, Has: ecs.HasTimestamp}
	in.Put(dns)
	in.Put(late)
	got, _ := l.events(t, 2)
	if got[0] != dns || got[1] != late {
		t.Fatalf("inbox events %v", got)
	}
	if dns.Host.ID != "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10" || dns.Host.OS.Type != "macos" || dns.Agent.Type != "macsensor" ||
		dns.Event.Sequence != evs[0].Event.Sequence+1 || late.Event.Sequence != evs[0].Event.Sequence+2 ||
		dns.Has&(ecs.HasCreated|ecs.HasSequence) != ecs.HasCreated|ecs.HasSequence || dns.Event.Created == 0 {
		t.Fatalf("stamped event %+v", dns)
	}
	// The event stamped before the watermark already sent was raised to it.
	if late.Timestamp != wm || in.Stats().Raised != 1 {
		t.Fatalf("late event ts %d, watermark %d, stats %+v", late.Timestamp, wm, in.Stats())
	}
	_, ls := l.waitStats(t, "inbox events", func(_ Stats, ls LoopStats) bool { return ls.InboxEvents == 2 })
	if ls.Batches < 3 {
		t.Fatalf("batches %d", ls.Batches)
	}
}

// TestInboxDrainedAtStop: events put just before the Loop stops still go
// out, in a last batch.
func TestInboxDrainedAtStop(t *testing.T) {
	in := NewInbox(0)
	l := startLoop(t, LoopOptions{Inbox: in}, nil)
	// Hold the inbox so its wake-up cannot be served before the stop.
	in.mu.Lock()
	in.evs = append(in.evs, &ecs.Event{Timestamp: 1})
	in.mu.Unlock()
	l.stop()
	select {
	case b := <-l.out:
		if len(b.Events) != 1 || b.Events[0].Event.Sequence == 0 {
			t.Fatalf("last batch %+v", b)
		}
	default:
		t.Fatal("no last batch")
	}
}

// TestDomainNamesDestinations: network events get destination.domain when
// the lookup knows their destination, at the time they were seen.
func TestDomainNamesDestinations(t *testing.T) {
	tr := NewTrigger()
	var mu sync.Mutex
	var asked []netip.Addr
	domain := func(ip netip.Addr, at time.Time) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, ip)
		if at.IsZero() || at.Before(time.Now().Add(-time.Minute)) {
			return "", false
		}
		if ip == netip.MustParseAddr("93.184.216.34") {
			return "example.org", true
		}
		return "", false
	}
	l := startLoop(t, LoopOptions{Trigger: tr, Domain: domain}, nil)
	l.w.edit(func(fp *fakeProcs, fs *fakeSocks) {
		fs.conns = append(fs.conns,
			conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 400),
			conn(protoTCP, "192.168.1.10:52001", "198.51.100.9:443", socket.SynSent, 400))
	})
	tr.Fire(0)
	evs, _ := l.events(t, 2)
	if evs[0].Destination.Domain != "example.org" || evs[1].Destination.Domain != "" {
		t.Fatalf("domains %q %q", evs[0].Destination.Domain, evs[1].Destination.Domain)
	}
	_, ls := l.waitStats(t, "named", func(_ Stats, ls LoopStats) bool { return ls.Named == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || ls.Named != 1 {
		t.Fatalf("asked %v, named %d", asked, ls.Named)
	}
}

// TestLoopWithoutOptionsIsUnchanged: Loop still polls on its schedule
// only.
func TestLoopWithoutOptionsIsUnchanged(t *testing.T) {
	w := &loopWorld{fp: &fakeProcs{details: map[int32]proc.Details{}, gone: map[int32]bool{}}, fs: &fakeSocks{}}
	s := New(worldProcs{w}, worldSocks{w}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.LoopWith(ctx, LoopOptions{ProcessEvery: 5 * time.Millisecond, SocketEvery: 5 * time.Millisecond}, out)
	}()
	timer := time.NewTimer(loopDeadline)
	defer timer.Stop()
	for range 3 {
		select {
		case <-out:
		case <-timer.C:
			t.Fatal("no batch")
		}
	}
	cancel()
	<-done
	if _, ls := s.PublishedStats(); ls.TriggeredPolls != 0 || ls.InboxEvents != 0 || ls.Batches < 3 {
		t.Fatalf("loop stats %+v", ls)
	}
}

// TestFireAllocatesNothing: the capture callback's work per SYN.
func TestFireAllocatesNothing(t *testing.T) {
	tr := NewTrigger()
	if n := testing.AllocsPerRun(1000, func() { tr.Fire(12345) }); n != 0 {
		t.Fatalf("Fire: %v allocations", n)
	}
}

// TestNameDestinationsAllocatesNothing: naming a poll's network events
// from the real DNS cache allocates nothing.
func TestNameDestinationsAllocatesNothing(t *testing.T) {
	s, evs, domain := namingFixture(100)
	if n := testing.AllocsPerRun(100, func() {
		for _, ev := range evs {
			ev.Destination.Domain = ""
		}
		s.nameDestinations(evs, domain)
	}); n != 0 {
		t.Fatalf("nameDestinations: %v allocations", n)
	}
	if evs[0].Destination.Domain != "host0.example.org" || evs[1].Destination.Domain != "" {
		t.Fatalf("domains %q %q", evs[0].Destination.Domain, evs[1].Destination.Domain)
	}
}

// namingFixture returns n network events, every other one to an address
// the cache knows.
func namingFixture(n int) (*Sensor, []*ecs.Event, func(netip.Addr, time.Time) (string, bool)) {
	cache := capture.NewCache(10000, time.Minute, 24*time.Hour)
	now := time.Now()
	var evs []*ecs.Event
	for i := range n {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i / 256), byte(i % 256)})
		if i%2 == 0 {
			name := fmt.Sprintf("host%d.example.org", i)
			cache.Add(&capture.DNS{Question: name, Answers: []capture.Answer{{Name: name, Type: "A", Class: "IN", Data: ip.String(), TTL: 300}},
				ResolvedIPs: []netip.Addr{ip}}, now)
		}
		evs = append(evs, &ecs.Event{Event: ecs.EventMeta{Category: catNetwork, Created: now.UnixNano()},
			Destination: ecs.Endpoint{IP: ip.String(), Port: 443}})
	}
	return New(nil, nil, Options{}), evs, cache.Lookup
}

func BenchmarkTriggerFire(b *testing.B) {
	tr := NewTrigger()
	b.ReportAllocs()
	for b.Loop() {
		tr.Fire(12345)
	}
}

// BenchmarkNameDestinations: one network event named (or not) from the
// DNS cache, as the poll loop does after each poll.
func BenchmarkNameDestinations(b *testing.B) {
	s, evs, domain := namingFixture(100)
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			ev.Destination.Domain = ""
		}
		s.nameDestinations(evs, domain)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func BenchmarkInboxPutDrain(b *testing.B) {
	in := NewInbox(4096)
	ev := &ecs.Event{}
	var dst []*ecs.Event
	b.ReportAllocs()
	for b.Loop() {
		in.Put(ev)
		dst = in.drain(dst[:0], 0)
	}
}
