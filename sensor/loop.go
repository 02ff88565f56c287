package sensor

import (
	"context"
	"sync"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Batch is what one poll delivered: its events, in the order observed, and
// the watermark after it (Unix ns; see Sensor.Watermark). A batch with no
// events still carries the watermark forward.
type Batch struct {
	Events    []*ecs.Event
	Watermark int64
}

// LoopStats are the counters of Loop, beyond the Sensor's own.
type LoopStats struct {
	Batches       uint64 // batches sent
	DroppedBatch  uint64 // batches dropped because out was full
	DroppedEvents uint64 // events in those batches
	Errors        uint64 // polls that failed
}

// publishedStats is the copy of the counters another goroutine may read
// while Loop runs.
type publishedStats struct {
	mu     sync.Mutex
	sensor Stats
	loop   LoopStats
}

// Loop polls the process table every procEvery and the socket table every
// sockEvery until ctx is done, and sends one Batch per poll to out. It
// never blocks on out: when out is full the batch is dropped and counted
// (the next batch's watermark supersedes its own). onErr, if not nil, gets
// each poll error; polling goes on.
//
// Loop owns the Sensor while it runs; read its counters with
// PublishedStats. A stopped Loop may be started again (with other
// intervals) on the same Sensor: its tables and state carry over.
func (s *Sensor) Loop(ctx context.Context, procEvery, sockEvery time.Duration, out chan<- Batch, onErr func(error)) {
	procT := time.NewTicker(procEvery)
	defer procT.Stop()
	var sockC <-chan time.Time
	together := s.socks == nil || sockEvery == procEvery
	if !together {
		sockT := time.NewTicker(sockEvery)
		defer sockT.Stop()
		sockC = sockT.C
	}
	var buf []*ecs.Event
	poll := func(f func([]*ecs.Event) ([]*ecs.Event, error)) {
		var err error
		buf, err = f(buf[:0])
		if err != nil {
			s.loop.Errors++
			if onErr != nil {
				onErr(err)
			}
		}
		b := Batch{Watermark: s.Watermark()}
		if len(buf) > 0 {
			// The receiver keeps the events: hand it its own slice.
			b.Events = append([]*ecs.Event(nil), buf...)
			clear(buf)
		}
		select {
		case out <- b:
			s.loop.Batches++
		default:
			s.loop.DroppedBatch++
			s.loop.DroppedEvents += uint64(len(b.Events))
		}
		s.publish()
	}
	poll(s.Poll)
	for {
		select {
		case <-ctx.Done():
			return
		case <-procT.C:
			if together {
				poll(s.Poll)
			} else {
				poll(s.PollProcesses)
			}
		case <-sockC:
			poll(s.PollSockets)
		}
	}
}

func (s *Sensor) publish() {
	st := s.Stats()
	s.pub.mu.Lock()
	s.pub.sensor, s.pub.loop = st, s.loop
	s.pub.mu.Unlock()
}

// PublishedStats returns the counters as of the last poll of Loop. It is
// safe to call from any goroutine.
func (s *Sensor) PublishedStats() (Stats, LoopStats) {
	s.pub.mu.Lock()
	defer s.pub.mu.Unlock()
	return s.pub.sensor, s.pub.loop
}
