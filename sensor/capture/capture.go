package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Options configures a Source. The zero value captures on every up,
// non-loopback interface with the default cache.
type Options struct {
	// Loopback also captures on the loopback interface (lo, lo0). Off by
	// default: loopback traffic is the host talking to itself.
	Loopback bool
	// Interfaces names the interfaces to capture on; empty means every up
	// interface, loopback ones only with Loopback. Named interfaces are
	// opened whatever their flags. Interfaces that appear after Open are
	// not captured.
	Interfaces []string
	// DNSCacheSize bounds the passive DNS cache in addresses
	// (DefaultCacheSize when 0).
	DNSCacheSize int
	// MinTTL and MaxTTL clamp how long a cached answer lives
	// (DefaultMinTTL, DefaultMaxTTL when 0).
	MinTTL, MaxTTL time.Duration
}

// SYN is a TCP SYN (SYN set, ACK clear) this host sent: a connection being
// opened. Its socket exists now, so the socket table can be read at once.
type SYN struct {
	Time int64 // capture time, Unix nanoseconds
	Src  netip.AddrPort
	Dst  netip.AddrPort
}

// Stats counts what a Source saw. Every frame read is counted exactly once
// in SYNs, DNSResponses, Malformed, Partial or Filtered.
type Stats struct {
	Packets      uint64 // frames read from the kernel
	SYNs         uint64 // outbound SYNs delivered
	DNSResponses uint64 // DNS responses decoded, cached and delivered
	Malformed    uint64 // frames that failed to decode: counted and dropped
	Partial      uint64 // IP fragments and split DNS-over-TCP messages: not reassembled
	// Filtered counts frames the kernel filter passed that are of no
	// interest: SYNs this host received (macOS, whose filter cannot see
	// direction), SYN-ACKs, queries sent from port 53, empty segments.
	Filtered uint64
	// KernelDrops counts frames the kernel dropped because the reader fell
	// behind (PACKET_STATISTICS on Linux, BIOCGSTATS on macOS).
	KernelDrops uint64
	Interfaces  []InterfaceStats
	Cache       CacheStats
}

// InterfaceStats describes one interface the Source tried to open.
type InterfaceStats struct {
	Name     string
	LinkType string // Ethernet, Null, Raw
	Open     bool   // captured on; false when it could not be opened (Err says why)
	Packets  uint64 // frames read on it
	Errors   uint64 // read errors
	Err      string // the last read error, or why it was not opened
}

// Source captures outbound TCP SYNs and DNS responses with a kernel filter
// (AF_PACKET on Linux, /dev/bpf on macOS) and caches the DNS answers.
type Source struct {
	opt     Options
	ifaces  []*iface
	skipped []InterfaceStats
	cache   *Cache
	local   *localAddrs // nil where the kernel filter checks direction (Linux)

	running atomic.Bool
	closed  atomic.Bool
	cbMu    sync.Mutex // callbacks are called one at a time

	packets, syns, dns, malformed, partial, filtered atomic.Uint64
}

// iface is one opened interface.
type iface struct {
	name    string
	link    layers.LinkType
	h       handle
	packets atomic.Uint64
	errs    atomic.Uint64
	mu      sync.Mutex
	lastErr string
	drops   uint64 // kernel drops accumulated (Linux resets its counter on read)
}

// handle is one interface's kernel capture endpoint (capture_linux.go,
// capture_darwin.go).
type handle interface {
	// read blocks until at least one frame is available and calls fn for
	// each frame read, with its capture time. frame is only valid during
	// fn. After interrupt or close it returns an error.
	read(fn func(frame []byte, ts int64)) error
	// interrupt makes a blocked or later read return.
	interrupt() error
	// kernelDrops returns the frames the kernel dropped since the last
	// call (Linux) or in total (macOS); cumulative reports which.
	kernelDrops() (n uint64, cumulative bool, err error)
	close() error
}

// Open opens capture on the interfaces opt selects. It fails with an error
// that errors.Is os.ErrPermission when not root (or without CAP_NET_RAW on
// Linux, or without read access to /dev/bpf* on macOS), with
// errors.ErrUnsupported on other systems, and when no interface could be
// opened; an interface that fails while others open is listed in Stats
// with Open false.
func Open(opt Options) (*Source, error) {
	if opt.DNSCacheSize <= 0 {
		opt.DNSCacheSize = DefaultCacheSize
	}
	if opt.MinTTL <= 0 {
		opt.MinTTL = DefaultMinTTL
	}
	if opt.MaxTTL <= 0 {
		opt.MaxTTL = DefaultMaxTTL
	}
	opt.Interfaces = slices.Clone(opt.Interfaces)
	s := &Source{opt: opt, cache: NewCache(opt.DNSCacheSize, opt.MinTTL, opt.MaxTTL)}
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open opens every selected interface. A permission error (or no capture
// on this OS) is fatal at once: it applies to every interface alike.
func (s *Source) open() error {
	names := s.opt.Interfaces
	if len(names) == 0 {
		all, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("capture: list interfaces: %w", err)
		}
		names = selectInterfaces(all, s.opt.Loopback)
	}
	if len(names) == 0 {
		return errors.New("capture: no interface to capture on")
	}
	var errs []error
	for _, name := range names {
		h, link, err := openHandle(name)
		if err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported) {
				return err
			}
			errs = append(errs, err)
			s.skipped = append(s.skipped, InterfaceStats{Name: name, Err: err.Error()})
			continue
		}
		s.ifaces = append(s.ifaces, &iface{name: name, link: link, h: h})
	}
	if len(s.ifaces) == 0 {
		return fmt.Errorf("capture: no interface could be opened: %w", errors.Join(errs...))
	}
	s.local = newLocalAddrs()
	return nil
}

// selectInterfaces returns the names of the up interfaces, loopback ones
// only when loopback is set.
func selectInterfaces(all []net.Interface, loopback bool) []string {
	var names []string
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp == 0 || (ifi.Flags&net.FlagLoopback != 0 && !loopback) {
			continue
		}
		names = append(names, ifi.Name)
	}
	return names
}

// Cache returns the Source's passive DNS cache, which Run fills.
func (s *Source) Cache() *Cache { return s.cache }

// Run reads until ctx is done or the Source is closed, then returns nil.
// For each outbound SYN it calls syn, for each DNS response it adds the
// answers to Cache and then calls dns; either callback may be nil. The
// callbacks run on Run's reader goroutines, one call at a time, and must
// not block: a slow callback stalls capture and the kernel drops frames
// (Stats.KernelDrops), and they must not call Close (on macOS Close waits
// for the read that is calling them). dns owns the *DNS it is given. Run
// may be called once. Cancelling ctx stops the reads (on macOS within
// 250 ms, the read timeout) but does not close the Source: call Close.
func (s *Source) Run(ctx context.Context, syn func(SYN), dns func(*DNS)) error {
	return s.RunTap(ctx, syn, dns, nil)
}

// RunTap is Run with a tap: tap (when not nil) sees every frame read, on the
// reader goroutine, before it is decoded and dispatched. Like the callbacks
// it must not block. It exists for the doctor, which records the frames of
// its checks; the daemon calls Run.
func (s *Source) RunTap(ctx context.Context, syn func(SYN), dns func(*DNS), tap func(Frame)) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("capture: Run called twice")
	}
	if s.closed.Load() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		for _, f := range s.ifaces {
			f.h.interrupt()
		}
	})
	defer stop()
	var wg sync.WaitGroup
	for _, f := range s.ifaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readLoop(ctx, f, syn, dns, tap)
		}()
	}
	wg.Wait()
	return nil
}

// readLoop reads one interface until ctx is done or the Source closes. A
// read error is counted and retried with a growing delay (an interface
// that went down comes back).
func (s *Source) readLoop(ctx context.Context, f *iface, syn func(SYN), dns func(*DNS), tap func(Frame)) {
	var dec Decoded
	fn := func(frame []byte, ts int64) {
		if tap != nil {
			tap(Frame{Interface: f.name, LinkType: f.link, Time: ts, Data: frame})
		}
		s.dispatch(f, &dec, frame, ts, syn, dns)
	}
	backoff := 10 * time.Millisecond
	for {
		err := f.h.read(fn)
		if ctx.Err() != nil || s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			backoff = 10 * time.Millisecond
			continue
		}
		f.errs.Add(1)
		f.mu.Lock()
		f.lastErr = err.Error()
		f.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// dispatch decodes one frame, counts it once and delivers it.
func (s *Source) dispatch(f *iface, dec *Decoded, frame []byte, ts int64, syn func(SYN), dns func(*DNS)) {
	s.packets.Add(1)
	f.packets.Add(1)
	if err := DecodeFrame(f.link, frame, ts, dec); err != nil {
		s.malformed.Add(1)
		return
	}
	switch dec.Kind {
	case KindSYN:
		if s.local != nil && !s.local.outbound(dec.SYN) {
			s.filtered.Add(1)
			return
		}
		s.syns.Add(1)
		if syn != nil {
			s.cbMu.Lock()
			syn(dec.SYN)
			s.cbMu.Unlock()
		}
	case KindDNS:
		// decodeDNS allocates a response's slices afresh, so the copy
		// shares nothing the next frame overwrites.
		d := new(DNS)
		*d = dec.DNS
		s.dns.Add(1)
		s.cache.Add(d, time.Unix(0, ts))
		if dns != nil {
			s.cbMu.Lock()
			dns(d)
			s.cbMu.Unlock()
		}
	case KindPartial:
		s.partial.Add(1)
	default:
		s.filtered.Add(1)
	}
}

// Close releases the capture handles; a running Run returns. It may be
// called more than once.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, f := range s.ifaces {
		if err := f.h.close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns the counters. It asks the kernel for its drop counts, so
// call it at a human rate (once per status report), not per frame.
func (s *Source) Stats() Stats {
	st := Stats{
		Packets:      s.packets.Load(),
		SYNs:         s.syns.Load(),
		DNSResponses: s.dns.Load(),
		Malformed:    s.malformed.Load(),
		Partial:      s.partial.Load(),
		Filtered:     s.filtered.Load(),
		Cache:        s.cache.Stats(),
	}
	for _, f := range s.ifaces {
		f.mu.Lock()
		if !s.closed.Load() {
			if n, cumulative, err := f.h.kernelDrops(); err == nil {
				if cumulative {
					f.drops = n
				} else {
					f.drops += n
				}
			}
		}
		st.KernelDrops += f.drops
		st.Interfaces = append(st.Interfaces, InterfaceStats{
			Name:     f.name,
			LinkType: linkTypeName(f.link),
			Open:     true,
			Packets:  f.packets.Load(),
			Errors:   f.errs.Load(),
			Err:      f.lastErr,
		})
		f.mu.Unlock()
	}
	st.Interfaces = append(st.Interfaces, s.skipped...)
	return st
}

func linkTypeName(l layers.LinkType) string {
	switch l {
	case layers.LinkTypeEthernet:
		return "Ethernet"
	case layers.LinkTypeNull:
		return "Null"
	case layers.LinkTypeLoop:
		return "Loop"
	case layers.LinkTypeRaw:
		return "Raw"
	}
	return l.String()
}

// linkHeaderOf is the filter's view of a link type.
func linkHeaderOf(l layers.LinkType) (linkHeader, bool) {
	switch l {
	case layers.LinkTypeEthernet:
		return linkEthernet, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return linkNull, true
	case layers.LinkTypeRaw:
		return linkRaw, true
	}
	return linkHeader{}, false
}

// localAddrs tells the SYNs this host sent from those it received where
// the kernel filter cannot (xnu has no packet-direction load): a SYN is
// outbound when its source address is one of this host's. The address set
// is re-read when a source is not in it, at most once a second of capture
// time, so a new address (DHCP, VPN) is learnt at its first SYN.
type localAddrs struct {
	list func() ([]netip.Addr, error)

	mu        sync.Mutex
	set       map[netip.Addr]struct{}
	refreshed int64 // capture time of the last re-read
}

func (l *localAddrs) outbound(s SYN) bool {
	src := s.Src.Addr().Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.set[src]; ok {
		return true
	}
	if l.set != nil && s.Time-l.refreshed < int64(time.Second) && s.Time >= l.refreshed {
		return false
	}
	l.refreshed = s.Time
	addrs, err := l.list()
	if err != nil {
		return false
	}
	l.set = make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		l.set[a.Unmap()] = struct{}{}
	}
	_, ok := l.set[src]
	return ok
}
