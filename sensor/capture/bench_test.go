package capture

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// go test -run '^$' -bench . -benchtime 1s ./sensor/capture/

func BenchmarkDecodeFrameSYN(b *testing.B) {
	f := frame(b, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})
	var d Decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindSYN {
			b.Fatal(err, d.Kind)
		}
	}
}

// A typical response: a two-CNAME chain and two A records.
func BenchmarkDecodeFrameDNS(b *testing.B) {
	f := frame(b, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})
	var d Decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindDNS {
			b.Fatal(err, d.Kind)
		}
	}
}

// pointerChainMsg is a 64 KiB message (UDP's maximum, loopback's MTU)
// whose every owner name is a chain of depth compression pointers; it
// returns the message and its record count.
func pointerChainMsg(depth int) ([]byte, int) {
	msg := dnsMsg(1, flagsResponse, "a", 1, nil, nil) // question name at 12
	// Record 1: type 99 whose RDATA is the pointer chain: pointer k points
	// at pointer k-1, pointer 0 at the question name.
	rdata := len(msg) + 2 + 10
	msg = append(msg, 0xc0, 12, 0, 99, 0, 1, 0, 0, 0, 60, byte(2*depth>>8), byte(2*depth&0xff))
	for k := range depth {
		to := 12
		if k > 0 {
			to = rdata + 2*(k-1)
		}
		msg = append(msg, 0xc0|byte(to>>8), byte(to))
	}
	top := rdata + 2*(depth-1)
	n := 1
	for len(msg)+12 <= 65000 {
		msg = append(msg, 0xc0|byte(top>>8), byte(top), 0, 99, 0, 1, 0, 0, 0, 60, 0, 0)
		n++
	}
	msg[6], msg[7] = byte(n>>8), byte(n)
	return msg, n
}

// The costliest response that still decodes: 64 KiB of records whose
// owner names each follow as many pointers as the budget allows
// (hopsPerName).
func BenchmarkDecodeFrameDNSPointerChains(b *testing.B) {
	msg, n := pointerChainMsg(hopsPerName - 1)
	f := frame(b, pkt{link: layers.LinkTypeRaw, src: ap("127.0.0.1:53"), dst: ap("127.0.0.1:41234"), udp: true, payload: msg})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d); err != nil || d.Kind != KindDNS || len(d.DNS.Answers) != n || d.DNS.Answers[n-1].Name != "a" {
		b.Fatalf("setup: %v kind %d, %d answers", err, d.Kind, len(d.DNS.Answers))
	}
	b.ReportMetric(float64(n), "records")
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// The same message with 250-pointer chains (gopacket would follow up to
// 255 per name, ~45 ms for the message): rejected by the budget.
func BenchmarkDecodeFrameDNSPointerChainsRejected(b *testing.B) {
	msg, _ := pointerChainMsg(250)
	f := frame(b, pkt{link: layers.LinkTypeRaw, src: ap("127.0.0.1:53"), dst: ap("127.0.0.1:41234"), udp: true, payload: msg})
	var d Decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d); err == nil {
			b.Fatal("decoded")
		}
	}
}

func BenchmarkCacheAdd(b *testing.B) {
	c := NewCache(DefaultCacheSize, DefaultMinTTL, DefaultMaxTTL)
	ds := make([]*DNS, 4096)
	for i := range ds {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}).String()
		ds[i] = resp("www.example.com", cname("www.example.com", "edge.cdn.net", 300), a("edge.cdn.net", addr, 60))
	}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Add(ds[i&4095], now)
		i++
	}
}

func BenchmarkCacheLookup(b *testing.B) {
	c := NewCache(DefaultCacheSize, DefaultMinTTL, DefaultMaxTTL)
	now := time.Unix(1_700_000_000, 0)
	ips := make([]netip.Addr, DefaultCacheSize)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.Add(resp(fmt.Sprintf("h%d.example", i), a(fmt.Sprintf("h%d.example", i), ips[i].String(), 600)), now)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.Lookup(ips[i%len(ips)], now); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkDNSEvent(b *testing.B) {
	f := frame(b, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d.DNS.Event()
	}
}
