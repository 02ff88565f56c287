//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Live tests: a real AF_PACKET capture on lo. They need root or
// CAP_NET_RAW and skip without.

const liveDeadline = 10 * time.Second

// liveSource opens capture on lo and runs it; events arrive on the
// returned channels (buffered; a full channel counts a loss, which fails
// the test, rather than blocking capture).
type liveSource struct {
	*Source
	syns   chan SYN
	dnss   chan *DNS
	lost   atomic.Int64
	cancel context.CancelFunc
	done   chan error
}

func startLive(t *testing.T, opt Options) *liveSource {
	t.Helper()
	s, err := Open(opt)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("packet capture needs root or CAP_NET_RAW: %v", err)
		}
		t.Fatalf("Open: %v", err)
	}
	ls := &liveSource{Source: s, syns: make(chan SYN, 1024), dnss: make(chan *DNS, 64), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	ls.cancel = cancel
	go func() {
		ls.done <- s.Run(ctx,
			func(x SYN) {
				select {
				case ls.syns <- x:
				default:
					ls.lost.Add(1)
				}
			},
			func(d *DNS) {
				select {
				case ls.dnss <- d:
				default:
					ls.lost.Add(1)
				}
			})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ls.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(liveDeadline):
			t.Error("Run did not return after cancel")
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := ls.lost.Load(); n != 0 {
			t.Errorf("%d events lost to full test channels", n)
		}
	})
	return ls
}

// waitSYN waits for the SYN from src to dst, counting how many SYNs with
// that 4-tuple arrived before it (there must be none).
func (ls *liveSource) waitSYN(t *testing.T, src, dst netip.AddrPort) SYN {
	t.Helper()
	deadline := time.After(liveDeadline)
	for {
		select {
		case s := <-ls.syns:
			if s.Src == src && s.Dst == dst {
				return s
			}
		case <-deadline:
			t.Fatalf("no SYN %v -> %v within %v; stats %+v", src, dst, liveDeadline, ls.Stats())
		}
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// dialAndAccept connects to ln and returns the client's local address.
func dialAndAccept(t *testing.T, ln net.Listener) netip.AddrPort {
	t.Helper()
	c, err := net.DialTimeout(ln.Addr().Network(), ln.Addr().String(), liveDeadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return addrPort(c.LocalAddr())
}

func TestLiveSYN(t *testing.T) {
	ls := startLive(t, Options{Interfaces: []string{"lo"}, Loopback: true})
	for _, network := range []string{"tcp4", "tcp6"} {
		host := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
		ln, err := net.Listen(network, host)
		if err != nil {
			if network == "tcp6" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer ln.Close()
		dst := addrPort(ln.Addr())
		// Two connections: the second SYN is sent after the first
		// connection is established, so any second copy of the first SYN
		// (lo shows each frame outgoing and incoming) would arrive before
		// it.
		src1 := dialAndAccept(t, ln)
		src2 := dialAndAccept(t, ln)
		seen := map[netip.AddrPort]int{}
		deadline := time.After(liveDeadline)
		for seen[src2] == 0 {
			select {
			case s := <-ls.syns:
				if s.Dst != dst {
					continue
				}
				if s.Time <= 0 {
					t.Errorf("%s: SYN without a time: %+v", network, s)
				}
				seen[s.Src]++
			case <-deadline:
				t.Fatalf("%s: SYNs seen %v, want one from %v and %v; stats %+v", network, seen, src1, src2, ls.Stats())
			}
		}
		if len(seen) != 2 || seen[src1] != 1 || seen[src2] != 1 {
			t.Errorf("%s: SYNs seen %v, want exactly one from %v then one from %v", network, seen, src1, src2)
		}
	}
	st := ls.Stats()
	if st.Malformed != 0 || st.KernelDrops != 0 || len(st.Interfaces) != 1 || st.Interfaces[0].Name != "lo" ||
		st.Interfaces[0].LinkType != "Ethernet" || !st.Interfaces[0].Open {
		t.Errorf("stats %+v", st)
	}
}

// listenDNS binds a loopback address on port 53 (root may), trying a few
// 127/8 addresses in case a local resolver holds one.
func listenDNS(t *testing.T, network string) (net.PacketConn, net.Listener, netip.Addr) {
	t.Helper()
	for _, host := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.77"} {
		a := host + ":53"
		if network == "udp" {
			pc, err := net.ListenPacket("udp4", a)
			if err == nil {
				return pc, nil, netip.MustParseAddr(host)
			}
			if errors.Is(err, os.ErrPermission) {
				t.Skipf("cannot bind port 53: %v", err)
			}
			continue
		}
		ln, err := net.Listen("tcp4", a)
		if err == nil {
			return nil, ln, netip.MustParseAddr(host)
		}
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("cannot bind port 53: %v", err)
		}
	}
	t.Skip("no loopback address with port 53 free")
	return nil, nil, netip.Addr{}
}

func (ls *liveSource) waitDNS(t *testing.T, client netip.AddrPort, id uint16) *DNS {
	t.Helper()
	deadline := time.After(liveDeadline)
	for {
		select {
		case d := <-ls.dnss:
			if d.Client == client && d.ID == id {
				return d
			}
		case <-deadline:
			t.Fatalf("no DNS response to %v id %d within %v; stats %+v", client, id, liveDeadline, ls.Stats())
		}
	}
}

func checkChainResponse(t *testing.T, ls *liveSource, d *DNS, server, client netip.AddrPort, transport string) {
	t.Helper()
	if d.Server != server || d.Transport != transport || d.Question != "www.example.com" || d.QType != "A" ||
		d.RCode != "NOERROR" || len(d.Answers) != 4 || len(d.ResolvedIPs) != 2 ||
		d.ResolvedIPs[0] != netip.MustParseAddr("93.184.216.34") || d.ResolvedIPs[1] != netip.MustParseAddr("93.184.216.35") {
		t.Errorf("decoded %+v", d)
	}
	// Run cached it before calling back, under the question name.
	for _, addr := range d.ResolvedIPs {
		name, ok := ls.Cache().Lookup(addr, time.Unix(0, d.Time).Add(30*time.Second))
		if !ok || name != "www.example.com" {
			t.Errorf("cache %v: %q %v", addr, name, ok)
		}
	}
	ev := d.Event()
	if ev.Event.Action != "lookup_result" || ev.Source.IP != client.Addr().String() || ev.Source.Port != int64(client.Port()) ||
		ev.Destination.IP != server.Addr().String() || ev.Destination.Port != 53 || ev.Network.Transport != transport ||
		ev.Fields.Get("dns.question.name").Str != "www.example.com" ||
		strings.Join(ev.Fields.Get("dns.resolved_ip").Strs, ",") != "93.184.216.34,93.184.216.35" {
		t.Errorf("event %+v fields %+v", ev, ev.Fields)
	}
}

func TestLiveDNSOverUDP(t *testing.T) {
	srv, _, host := listenDNS(t, "udp")
	defer srv.Close()
	ls := startLive(t, Options{Interfaces: []string{"lo"}, Loopback: true})
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	msg := cnameChainMsg()
	binary.BigEndian.PutUint16(msg, 0x5151)
	if _, err := srv.WriteTo(msg, cli.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	client := addrPort(cli.LocalAddr())
	d := ls.waitDNS(t, client, 0x5151)
	checkChainResponse(t, ls, d, netip.AddrPortFrom(host, 53), client, "udp")
	if st := ls.Stats(); st.DNSResponses < 1 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLiveDNSOverTCP(t *testing.T) {
	_, ln, host := listenDNS(t, "tcp")
	defer ln.Close()
	ls := startLive(t, Options{Interfaces: []string{"lo"}, Loopback: true})
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), liveDeadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := cnameChainMsg()
	binary.BigEndian.PutUint16(msg, 0x5252)
	if _, err := s.Write(append(u16(uint16(len(msg))), msg...)); err != nil {
		t.Fatal(err)
	}
	client := addrPort(c.LocalAddr())
	// The client's SYN to port 53 is a SYN like any other.
	ls.waitSYN(t, client, netip.AddrPortFrom(host, 53))
	d := ls.waitDNS(t, client, 0x5252)
	checkChainResponse(t, ls, d, netip.AddrPortFrom(host, 53), client, "tcp")
}

func TestLiveOpenErrors(t *testing.T) {
	s, err := Open(Options{Interfaces: []string{"lo", "nosuch0"}})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("packet capture needs root or CAP_NET_RAW: %v", err)
		}
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	if len(st.Interfaces) != 2 || !st.Interfaces[0].Open || st.Interfaces[1].Name != "nosuch0" || st.Interfaces[1].Open ||
		!strings.Contains(st.Interfaces[1].Err, "nosuch0") {
		t.Errorf("interfaces %+v", st.Interfaces)
	}
	if _, err := Open(Options{Interfaces: []string{"nosuch0"}}); err == nil {
		t.Error("Open with no usable interface succeeded")
	}
}
