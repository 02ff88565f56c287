package capture

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// fakeHandle stands in for a kernel capture handle: frames and errors are
// handed to read one at a time through unbuffered channels, so once a send
// returns, the previous frame has been dispatched.
type fakeHandle struct {
	frames chan []byte
	errs   chan error
	stop   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	closed bool
	drops  uint64
}

func newFakeHandle() *fakeHandle {
	return &fakeHandle{frames: make(chan []byte), errs: make(chan error), stop: make(chan struct{})}
}

func (h *fakeHandle) read(fn func([]byte, int64)) error {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return os.ErrClosed
	}
	select {
	case f := <-h.frames:
		fn(f, ts0)
		return nil
	case err := <-h.errs:
		return err
	case <-h.stop:
		return os.ErrDeadlineExceeded
	}
}

func (h *fakeHandle) interrupt() error { h.once.Do(func() { close(h.stop) }); return nil }

func (h *fakeHandle) kernelDrops() (uint64, bool, error) { return h.drops, false, nil }

func (h *fakeHandle) close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return h.interrupt()
}

func fakeSource(h handle, local *localAddrs) *Source {
	return &Source{
		cache:  NewCache(100, time.Minute, time.Hour),
		ifaces: []*iface{{name: "fake0", link: layers.LinkTypeEthernet, h: h}},
		local:  local,
	}
}

func TestRunDispatchesAndCounts(t *testing.T) {
	h := newFakeHandle()
	h.drops = 3
	local := &localAddrs{list: func() ([]netip.Addr, error) {
		return []netip.Addr{ip("192.0.2.10"), ip("2001:db8::10")}, nil
	}}
	s := fakeSource(h, local)
	var (
		mu   sync.Mutex
		syns []SYN
		dnss []*DNS
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx,
			func(x SYN) { mu.Lock(); syns = append(syns, x); mu.Unlock() },
			func(d *DNS) { mu.Lock(); dnss = append(dnss, d); mu.Unlock() })
	}()
	eth := layers.LinkTypeEthernet
	send := func(p pkt) { p.link = eth; h.frames <- frame(t, p) }
	send(pkt{src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})                                       // SYN out
	send(pkt{src: ap("203.0.113.9:40000"), dst: ap("192.0.2.10:22"), flags: "S"})                                         // SYN in: filtered (macOS path)
	send(pkt{src: ap("198.51.100.7:443"), dst: ap("192.0.2.10:50000"), flags: "SA"})                                      // SYN-ACK: filtered
	send(pkt{src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})                 // DNS
	send(pkt{src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()[:20]})            // malformed
	send(pkt{src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg(), moreFrag: true}) // partial
	h.errs <- errors.New("network is down")
	send(pkt{src: ap("[2001:db8::10]:50001"), dst: ap("[2001:db8:1::7]:443"), flags: "S"}) // SYN out, v6, after the error
	h.frames <- []byte{1, 2, 3}                                                            // malformed: short Ethernet
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSyns := []SYN{
		{Time: ts0, Src: ap("192.0.2.10:50000"), Dst: ap("198.51.100.7:443")},
		{Time: ts0, Src: ap("[2001:db8::10]:50001"), Dst: ap("[2001:db8:1::7]:443")},
	}
	if !reflect.DeepEqual(syns, wantSyns) {
		t.Errorf("syns %+v", syns)
	}
	if len(dnss) != 1 || dnss[0].Question != "www.example.com" {
		t.Fatalf("dns %+v", dnss)
	}
	name, ok := s.Cache().Lookup(ip("93.184.216.35"), time.Unix(0, ts0).Add(59*time.Second))
	if !ok || name != "www.example.com" {
		t.Errorf("cache: %q %v", name, ok)
	}
	st := s.Stats()
	want := Stats{Packets: 8, SYNs: 2, DNSResponses: 1, Malformed: 2, Partial: 1, Filtered: 2, KernelDrops: 3,
		Interfaces: []InterfaceStats{{Name: "fake0", LinkType: "Ethernet", Open: true, Packets: 8, Errors: 1, Err: "network is down"}},
		Cache:      st.Cache}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	if st.Packets != st.SYNs+st.DNSResponses+st.Malformed+st.Partial+st.Filtered {
		t.Error("a frame was not counted exactly once")
	}
	if st.Cache.Entries != 2 || st.Cache.Hits != 1 {
		t.Errorf("cache stats %+v", st.Cache)
	}
	// Linux drops are per read: a second Stats adds them up.
	if got := s.Stats().KernelDrops; got != 6 {
		t.Errorf("kernel drops %d, want 6", got)
	}

	if err := s.Run(context.Background(), nil, nil); err == nil {
		t.Error("second Run accepted")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Close stops a running Run; nil callbacks are allowed.
func TestCloseStopsRun(t *testing.T) {
	h := newFakeHandle()
	s := fakeSource(h, nil)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), nil, nil) }()
	h.frames <- frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})
	h.frames <- frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if st := s.Stats(); st.SYNs != 1 || st.DNSResponses != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLocalAddrs(t *testing.T) {
	calls := 0
	addrs := []netip.Addr{ip("192.0.2.10")}
	l := &localAddrs{list: func() ([]netip.Addr, error) { calls++; return addrs, nil }}
	sec := int64(time.Second)
	syn := func(src string, at int64) SYN { return SYN{Time: at, Src: ap(src), Dst: ap("198.51.100.1:443")} }
	if !l.outbound(syn("192.0.2.10:1", 0)) || calls != 1 {
		t.Fatalf("first SYN from a local address: calls %d", calls)
	}
	if l.outbound(syn("203.0.113.1:1", sec/2)) || calls != 1 {
		t.Errorf("inbound SYN within a second re-read the addresses (calls %d)", calls)
	}
	addrs = append(addrs, ip("10.8.0.2")) // a VPN came up
	if !l.outbound(syn("10.8.0.2:1", 2*sec)) || calls != 2 {
		t.Errorf("new local address not learnt (calls %d)", calls)
	}
	if !l.outbound(syn("[::ffff:192.0.2.10]:1", 2*sec)) {
		t.Error("IPv4-mapped source not matched")
	}
	failing := &localAddrs{list: func() ([]netip.Addr, error) { return nil, errors.New("no") }}
	if failing.outbound(syn("192.0.2.10:1", 0)) {
		t.Error("outbound without an address list")
	}
}

func TestSelectInterfaces(t *testing.T) {
	all := []net.Interface{
		{Name: "lo", Flags: net.FlagUp | net.FlagLoopback},
		{Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast},
		{Name: "ifb0", Flags: net.FlagBroadcast},
		{Name: "utun3", Flags: net.FlagUp | net.FlagPointToPoint},
	}
	if got := selectInterfaces(all, false); !reflect.DeepEqual(got, []string{"eth0", "utun3"}) {
		t.Errorf("without loopback: %v", got)
	}
	if got := selectInterfaces(all, true); !reflect.DeepEqual(got, []string{"lo", "eth0", "utun3"}) {
		t.Errorf("with loopback: %v", got)
	}
}
