package main

import (
	"errors"
	"os"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// Process events in the daemon (issue 10): procevents.Source reads the
// kernel's fork/exec/exit notices on its own goroutine and puts them in a
// sensor.ProcessEvents queue; the poll goroutine reads each named pid at
// once (sensor.LoopWith, HandleProcessEvents). Where the source cannot be
// opened, the daemon says why once and polls alone.

// openProcessEvents opens the source; tests replace it.
var openProcessEvents = func() (processEventSource, error) { return procevents.Open() }

// processEventSource is what the daemon needs of a procevents.Source.
type processEventSource interface {
	sensor.EventReader
	Close() error
	Stats() procevents.Stats
}

// processEventsState is the daemon's process-event source: off, running,
// or configured but not opened (err says why).
type processEventsState struct {
	enabled bool
	src     processEventSource
	queue   *sensor.ProcessEvents
	done    chan struct{}
	err     string
}

// startProcessEvents opens and feeds the source when enabled.
func startProcessEvents(enabled bool, log zerolog.Logger) processEventsState {
	st := processEventsState{enabled: enabled}
	if !enabled {
		return st
	}
	src, err := openProcessEvents()
	if err != nil {
		st.err = err.Error()
		ev := log.Warn().Err(err)
		if errors.Is(err, os.ErrPermission) {
			hint := "process events need root (CAP_NET_ADMIN for the Linux process connector)"
			if runtime.GOOS == "darwin" {
				hint = "kqueue EVFILT_PROC could not be set up"
			}
			ev = ev.Str("hint", hint)
		}
		ev.Msg("process events unavailable: running on polling alone")
		return st
	}
	st.src, st.queue, st.done = src, sensor.NewProcessEvents(0), make(chan struct{})
	go func() {
		defer close(st.done)
		if err := st.queue.Feed(src); err != nil {
			log.Warn().Err(err).Msg("process events stopped: running on polling alone")
		}
	}()
	log.Info().Msg("process events running")
	return st
}

// loopOptions adds the queue to the poll loop's options.
func (p *processEventsState) loopOptions(o *sensor.LoopOptions) {
	if p.queue != nil {
		o.ProcessEvents = p.queue
	}
}

// stop closes the source and waits for its goroutine.
func (p *processEventsState) stop() {
	if p.src == nil {
		return
	}
	p.src.Close()
	<-p.done
	p.src, p.queue = nil, nil
}

// StatusProcessEvents is the process-event part of the status file.
type StatusProcessEvents struct {
	// State is "on", "off" (process_events = false) or "unavailable"
	// (Error says why; the daemon polls alone).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// The queue and the reads (sensor.ProcessEventStats).
	Events     uint64 `json:"events"`
	Handled    uint64 `json:"handled"`
	Reads      uint64 `json:"reads"`
	Deferred   uint64 `json:"read_deferred"`
	Reconciles uint64 `json:"reconcile_polls"`
	// Drops: events refused by the full queue, kernel losses (netlink
	// ENOBUFS), pids gone before their read.
	Drops struct {
		Queue  uint64 `json:"queue"`
		Kernel uint64 `json:"kernel"`
		Gone   uint64 `json:"gone"`
	} `json:"drops"`
	// From the kernel event to the read (upper bounds of p50/p99; max).
	DelayP50MS float64 `json:"read_delay_p50_ms"`
	DelayP99MS float64 `json:"read_delay_p99_ms"`
	DelayMaxMS float64 `json:"read_delay_max_ms"`
	// The source's counters (procevents.Stats).
	Messages  uint64 `json:"messages"`
	Ignored   uint64 `json:"ignored"`
	Malformed uint64 `json:"malformed"`
	Spoofed   uint64 `json:"spoofed,omitempty"`
	Watched   uint64 `json:"watched,omitempty"`
	Unwatched uint64 `json:"unwatched,omitempty"`
}

// status reports the process events.
func (p *processEventsState) status(ls sensor.LoopStats) *StatusProcessEvents {
	st := &StatusProcessEvents{State: "off"}
	switch {
	case !p.enabled:
		return st
	case p.src == nil:
		st.State, st.Error = "unavailable", p.err
		return st
	}
	st.State = "on"
	pe := ls.Process
	qs := p.queue.Stats()
	st.Events, st.Handled, st.Reads, st.Deferred, st.Reconciles = qs.Put, pe.Handled, pe.Reads, pe.Deferred, pe.Reconciles
	st.Drops.Queue, st.Drops.Kernel, st.Drops.Gone = qs.Dropped, qs.Lost, pe.Gone
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	st.DelayP50MS, st.DelayP99MS, st.DelayMaxMS = ms(pe.ReadDelay.Quantile(0.5)), ms(pe.ReadDelay.Quantile(0.99)), ms(pe.ReadDelay.Max)
	ss := p.src.Stats()
	st.Messages, st.Ignored, st.Malformed, st.Spoofed, st.Watched, st.Unwatched = ss.Messages, ss.Ignored, ss.Malformed, ss.Spoofed, ss.Watched, ss.Unwatched
	return st
}
