package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/capture"
)

// The packet capture's place in the daemon: capture.Source reads frames on
// its own goroutines and calls back; the callbacks only hand over. A SYN
// fires the sensor's Trigger (an atomic store and a non-blocking send); a
// DNS response, already in the cache by then, becomes an event put in the
// sensor's Inbox. The poll goroutine does the rest (sensor.LoopWith): the
// triggered socket read, the sequence numbers of the dns events, and
// destination.domain from the cache, which is safe for concurrent use
// (capture.Cache holds a mutex).

// openCapture opens the capture; tests replace it.
var openCapture = capture.Open

// dnsInboxSize bounds the dns events waiting for the poll goroutine.
const dnsInboxSize = 4096

// packetCapture is a running capture and what the poll loop takes from it.
type packetCapture struct {
	src     *capture.Source
	trigger *sensor.Trigger
	inbox   *sensor.Inbox // nil when dns_events is off
	every   time.Duration // trigger_min_interval
	cancel  context.CancelFunc
	done    chan struct{}
}

// captureState is the daemon's capture: off, running, or configured but
// not opened (err says why, for the status file).
type captureState struct {
	cfg CaptureConfig
	pc  *packetCapture
	err string
}

// startCapture opens and runs the capture cfg asks for. When it cannot be
// opened, it says so once in the log and the daemon polls alone.
func startCapture(cfg CaptureConfig, log zerolog.Logger) captureState {
	st := captureState{cfg: cfg}
	if !cfg.Enabled {
		return st
	}
	src, err := openCapture(capture.Options{
		Loopback:     cfg.Loopback,
		Interfaces:   cfg.Interfaces,
		DNSCacheSize: cfg.DNSCacheSize,
	})
	if err != nil {
		st.err = err.Error()
		ev := log.Warn().Err(err)
		if errors.Is(err, os.ErrPermission) {
			ev = ev.Str("hint", "packet capture needs root (CAP_NET_RAW on Linux, read access to /dev/bpf* on macOS)")
		}
		ev.Msg("packet capture unavailable: running on polling alone")
		return st
	}
	pc := &packetCapture{src: src, trigger: sensor.NewTrigger(), every: time.Duration(cfg.TriggerMinInterval), done: make(chan struct{})}
	if cfg.DNSEvents {
		pc.inbox = sensor.NewInbox(dnsInboxSize)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pc.cancel = cancel
	go func() {
		defer close(pc.done)
		src.Run(ctx, pc.onSYN, pc.onDNS)
	}()
	var names []string
	for _, i := range src.Stats().Interfaces {
		if i.Open {
			names = append(names, i.Name)
		} else {
			log.Warn().Str("interface", i.Name).Str("error", i.Err).Msg("packet capture: interface not opened")
		}
	}
	log.Info().Strs("interfaces", names).Bool("dns_events", cfg.DNSEvents).
		Stringer("trigger_min_interval", pc.every).Msg("packet capture running")
	st.pc = pc
	return st
}

// onSYN runs on a capture goroutine: it must not block.
func (pc *packetCapture) onSYN(s capture.SYN) { pc.trigger.Fire(s.Time) }

// onDNS runs on a capture goroutine: it must not block. The response is in
// the cache already; the event is the poll goroutine's to number and send.
func (pc *packetCapture) onDNS(d *capture.DNS) {
	if pc.inbox != nil {
		pc.inbox.Put(d.Event())
	}
}

// loopOptions adds the capture's inputs to the poll loop's options.
func (c *captureState) loopOptions(o *sensor.LoopOptions) {
	if c.pc == nil {
		return
	}
	o.Trigger = c.pc.trigger
	o.TriggerInterval = c.pc.every
	o.Inbox = c.pc.inbox
	o.Domain = c.pc.src.Cache().Lookup
}

// stop ends the capture and releases its handles.
func (c *captureState) stop() {
	if c.pc == nil {
		return
	}
	c.pc.cancel()
	<-c.pc.done
	c.pc.src.Close()
	c.pc = nil
}

// StatusCapture is the capture part of the status file.
type StatusCapture struct {
	Open  bool   `json:"open"`
	Error string `json:"error,omitempty"`
	// The capture's counters (sensor/capture Stats).
	Interfaces   []string `json:"interfaces,omitempty"`
	Packets      uint64   `json:"packets"`
	SYNs         uint64   `json:"syns"`
	DNSResponses uint64   `json:"dns_responses"`
	Malformed    uint64   `json:"malformed"`
	Partial      uint64   `json:"partial"`
	Filtered     uint64   `json:"filtered"`
	KernelDrops  uint64   `json:"kernel_drops"`
	// The connection trigger: SYNs handed to the poll loop, the socket
	// reads they caused, how often the rate limit held one back, and the
	// delay from a SYN's capture to the start and to the end of the
	// socket read that served it (upper bounds of p50/p99, and the max).
	TriggeredPolls  uint64  `json:"triggered_polls"`
	TriggerDeferred uint64  `json:"trigger_deferred"`
	DelayP50MS      float64 `json:"trigger_delay_p50_ms"`
	DelayP99MS      float64 `json:"trigger_delay_p99_ms"`
	DelayMaxMS      float64 `json:"trigger_delay_max_ms"`
	DoneP99MS       float64 `json:"trigger_done_p99_ms"`
	DoneMaxMS       float64 `json:"trigger_done_max_ms"`
	// DNS: events sent, dropped (inbox full), stamped up to the watermark;
	// network events named from the cache; the cache's state.
	DNSEvents    uint64 `json:"dns_events"`
	DNSDropped   uint64 `json:"dns_dropped"`
	DNSRaised    uint64 `json:"dns_raised"`
	Named        uint64 `json:"named_destinations"`
	CacheEntries int    `json:"cache_entries"`
	CacheHits    uint64 `json:"cache_hits"`
	CacheMisses  uint64 `json:"cache_misses"`
}

// status reports the capture; nil when it is not configured.
func (c *captureState) status(ls sensor.LoopStats) *StatusCapture {
	if !c.cfg.Enabled {
		return nil
	}
	st := &StatusCapture{Error: c.err}
	if c.pc == nil {
		return st
	}
	cs := c.pc.src.Stats()
	st.Open = true
	for _, i := range cs.Interfaces {
		if i.Open {
			st.Interfaces = append(st.Interfaces, i.Name)
		}
	}
	st.Packets, st.SYNs, st.DNSResponses = cs.Packets, cs.SYNs, cs.DNSResponses
	st.Malformed, st.Partial, st.Filtered, st.KernelDrops = cs.Malformed, cs.Partial, cs.Filtered, cs.KernelDrops
	st.TriggeredPolls, st.TriggerDeferred = ls.TriggeredPolls, ls.TriggerDeferred
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	st.DelayP50MS, st.DelayP99MS, st.DelayMaxMS = ms(ls.TriggerDelay.Quantile(0.5)), ms(ls.TriggerDelay.Quantile(0.99)), ms(ls.TriggerDelay.Max)
	st.DoneP99MS, st.DoneMaxMS = ms(ls.TriggerDone.Quantile(0.99)), ms(ls.TriggerDone.Max)
	if c.pc.inbox != nil {
		is := c.pc.inbox.Stats()
		st.DNSEvents, st.DNSDropped, st.DNSRaised = is.Put, is.Dropped, is.Raised
	}
	st.Named = ls.Named
	st.CacheEntries, st.CacheHits, st.CacheMisses = cs.Cache.Entries, cs.Cache.Hits, cs.Cache.Misses
	return st
}
