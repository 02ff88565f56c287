package capture

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

const ts0 = int64(1_700_000_000_123_456_789)

func TestDecodeSYN(t *testing.T) {
	for _, c := range []struct {
		link     layers.LinkType
		src, dst string
	}{
		{layers.LinkTypeEthernet, "192.0.2.10:50000", "198.51.100.7:443"},
		{layers.LinkTypeNull, "127.0.0.1:61000", "127.0.0.1:8080"},
		{layers.LinkTypeNull, "[::1]:61000", "[::1]:8080"},
		{layers.LinkTypeLoop, "10.0.0.1:1", "10.0.0.2:2"},
		{layers.LinkTypeRaw, "[2001:db8::1]:40000", "[2001:db8::2]:22"},
		{layers.LinkTypeEthernet, "[fe80::1]:40000", "[fe80::2]:22"},
	} {
		f := frame(t, pkt{link: c.link, src: ap(c.src), dst: ap(c.dst), flags: "S", ipOpts: c.link == layers.LinkTypeLoop})
		var d Decoded
		if err := DecodeFrame(c.link, f, ts0, &d); err != nil {
			t.Fatalf("%v %s: %v", c.link, c.src, err)
		}
		want := SYN{Time: ts0, Src: ap(c.src), Dst: ap(c.dst)}
		if d.Kind != KindSYN || d.SYN != want {
			t.Errorf("%v: got kind %d %+v, want %+v", c.link, d.Kind, d.SYN, want)
		}
	}
}

func TestDecodeOther(t *testing.T) {
	c, s := ap("192.0.2.10:50000"), ap("198.51.100.7:443")
	query := dnsMsg(9, flagsQuery, "example.com", 1, nil, nil)
	notify := dnsMsg(9, 0x8000|4<<11, "example.com", 6, nil, nil) // opcode NOTIFY response
	for _, tc := range []struct {
		name string
		p    pkt
		want Kind
	}{
		{"syn-ack", pkt{src: s, dst: c, flags: "SA"}, KindOther},
		{"ack", pkt{src: c, dst: s, flags: "A"}, KindOther},
		{"tcp from 53, no payload", pkt{src: ap("192.0.2.53:53"), dst: c, flags: "A"}, KindOther},
		{"query sent from port 53", pkt{src: ap("192.0.2.53:53"), dst: ap("192.0.2.1:53"), udp: true, payload: query}, KindOther},
		{"notify from port 53", pkt{src: ap("192.0.2.53:53"), dst: c, udp: true, payload: notify}, KindOther},
		{"udp not from 53", pkt{src: ap("192.0.2.53:5353"), dst: c, udp: true, payload: cnameChainMsg()}, KindOther},
		{"ipv6 hop-by-hop", pkt{src: ap("[2001:db8::53]:53"), dst: ap("[2001:db8::1]:5000"), udp: true, payload: cnameChainMsg(), hopByHop: true}, KindOther},
		{"v4 first fragment", pkt{src: ap("192.0.2.53:53"), dst: c, udp: true, payload: cnameChainMsg(), moreFrag: true}, KindPartial},
		{"v4 later fragment", pkt{src: ap("192.0.2.53:53"), dst: c, udp: true, payload: cnameChainMsg(), frag: 10}, KindPartial},
	} {
		tc.p.link = layers.LinkTypeEthernet
		var d Decoded
		if err := DecodeFrame(layers.LinkTypeEthernet, frame(t, tc.p), ts0, &d); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Kind != tc.want {
			t.Errorf("%s: kind %d, want %d", tc.name, d.Kind, tc.want)
		}
	}
	// Not IP at all.
	var d Decoded
	arp := frame(t, pkt{link: layers.LinkTypeEthernet, src: c, dst: s, flags: "S"})
	arp[12], arp[13] = 0x08, 0x06
	if err := DecodeFrame(layers.LinkTypeEthernet, arp, ts0, &d); err != nil || d.Kind != KindOther {
		t.Errorf("arp: kind %d, err %v", d.Kind, err)
	}
	if err := DecodeFrame(layers.LinkType(147), arp, ts0, &d); !errors.Is(err, ErrLinkType) {
		t.Errorf("unknown link type: err %v, want ErrLinkType", err)
	}
}

func TestDecodeDNSCNAMEChain(t *testing.T) {
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindDNS {
		t.Fatalf("kind %d", d.Kind)
	}
	want := DNS{
		Time:      ts0,
		Client:    ap("192.0.2.10:41234"),
		Server:    ap("192.0.2.53:53"),
		Transport: "udp",
		ID:        0x1234,
		Question:  "www.example.com",
		QType:     "A",
		Answers: []Answer{
			{Name: "www.example.com", Type: "CNAME", Class: "IN", Data: "www.example.com.cdn.net", TTL: 3600},
			{Name: "www.example.com.cdn.net", Type: "CNAME", Class: "IN", Data: "edge7.cdn.net", TTL: 300},
			{Name: "edge7.cdn.net", Type: "A", Class: "IN", Data: "93.184.216.34", TTL: 20},
			{Name: "edge7.cdn.net", Type: "A", Class: "IN", Data: "93.184.216.35", TTL: 40},
		},
		ResolvedIPs: []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("93.184.216.35")},
		RCode:       "NOERROR",
	}
	if !reflect.DeepEqual(d.DNS, want) {
		t.Errorf("got  %+v\nwant %+v", d.DNS, want)
	}
}

func TestDecodeDNSRecordTypes(t *testing.T) {
	msg := dnsMsg(0xbeef, flagsResponse, "Svc.Example.org", 255, []rr{
		{name: "", typ: 28, ttl: 60, rdata: ipData("2001:db8::42")},
		{name: "", typ: 15, ttl: 60, rdata: append(u16(10), wireName("mx1.example.org")...)},
		{name: "", typ: 33, ttl: 60, rdata: append(append(append(u16(1), u16(5)...), u16(5060)...), wireName("sip.example.org")...)},
		{name: "", typ: 16, ttl: 60, rdata: []byte("\x0bv=spf1 -all\x05a\"b\\c")},
		{name: "", typ: 2, ttl: 60, rdata: wireName("ns1.example.org")},
		{name: "", typ: 12, ttl: 60, rdata: wireName("host.example.org")},
		{name: "", typ: 6, ttl: 60, rdata: append(append(wireName("ns1.example.org"), wireName("hostmaster.example.org")...),
			0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5)},
		{name: "", typ: 1, class: 3, ttl: 0, rdata: ipData("10.1.2.3")}, // class CH: not a resolved IP
		{name: "", typ: 99, ttl: 7, rdata: []byte{1, 2, 3}},
	}, nil)
	f := frame(t, pkt{link: layers.LinkTypeRaw, src: ap("[2001:db8::53]:53"), dst: ap("[2001:db8::1]:5000"), udp: true, payload: msg})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d); err != nil {
		t.Fatal(err)
	}
	wantData := []struct{ typ, class, data string }{
		{"AAAA", "IN", "2001:db8::42"},
		{"MX", "IN", "10 mx1.example.org"},
		{"SRV", "IN", "1 5 5060 sip.example.org"},
		{"TXT", "IN", `v=spf1 -all a\"b\\c`},
		{"NS", "IN", "ns1.example.org"},
		{"PTR", "IN", "host.example.org"},
		{"SOA", "IN", "ns1.example.org hostmaster.example.org 1 2 3 4 5"},
		{"A", "CH", "10.1.2.3"},
		{"TYPE99", "IN", ""},
	}
	if d.DNS.Question != "svc.example.org" || d.DNS.QType != "ANY" || len(d.DNS.Answers) != len(wantData) {
		t.Fatalf("got %+v", d.DNS)
	}
	for i, w := range wantData {
		a := d.DNS.Answers[i]
		if a.Name != "svc.example.org" || a.Type != w.typ || a.Class != w.class || a.Data != w.data {
			t.Errorf("answer %d: got %+v, want %+v", i, a, w)
		}
	}
	if want := []netip.Addr{netip.MustParseAddr("2001:db8::42")}; !reflect.DeepEqual(d.DNS.ResolvedIPs, want) {
		t.Errorf("resolved %v, want %v", d.DNS.ResolvedIPs, want)
	}
}

func TestDecodeDNSNXDomainAndEscapes(t *testing.T) {
	// A question with bytes outside printable ASCII, a tab and a quote.
	q := []byte{3, 'a', 0x01, 'B', 4, 'x', '\t', '"', 0xff, 3, 'c', 'o', 'm', 0}
	msg := dnsMsg(1, flagsNXDomain, "", 1, nil, []rr{
		{name: "com", typ: 6, ttl: 900, rdata: append(append(wireName("a.gtld-servers.net"), wireName("nstld.verisign-grs.com")...), make([]byte, 20)...)},
	})
	// Replace the root question name dnsMsg wrote (a single 0) with q.
	msg = append(append(append([]byte(nil), msg[:12]...), q...), msg[13:]...)
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: msg})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindDNS || d.DNS.RCode != "NXDOMAIN" || d.DNS.Answers != nil || d.DNS.ResolvedIPs != nil {
		t.Fatalf("got %+v", d.DNS)
	}
	if want := `a\001b.x\t\"\255.com`; d.DNS.Question != want {
		t.Errorf("question %q, want %q", d.DNS.Question, want)
	}
}

func TestDecodeDNSOverTCP(t *testing.T) {
	msg := cnameChainMsg()
	whole := append(u16(uint16(len(msg))), msg...)
	var d Decoded
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("[2001:db8::53]:53"), dst: ap("[2001:db8::1]:5000"), flags: "PA", payload: whole})
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindDNS {
		t.Fatalf("whole message: kind %d, err %v", d.Kind, err)
	}
	if d.DNS.Transport != "tcp" || d.DNS.Question != "www.example.com" || len(d.DNS.ResolvedIPs) != 2 {
		t.Errorf("got %+v", d.DNS)
	}
	f = frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("[2001:db8::53]:53"), dst: ap("[2001:db8::1]:5000"), flags: "PA", payload: whole[:40]})
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindPartial {
		t.Errorf("first segment of a split message: kind %d, err %v", d.Kind, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := cnameChainMsg()
	loop := dnsMsg(2, flagsResponse, "example.com", 1, []rr{{name: "x", typ: 1, ttl: 1, rdata: ipData("192.0.2.1")}}, nil)
	// Make the answer's owner name ("\x01x\x00" at offset 29) a pointer to
	// itself.
	loop[29], loop[30] = 0xc0, 29
	loop = append(loop[:31], loop[32:]...)
	cases := map[string][]byte{
		"truncated mid-answer":        good[:len(good)-3],
		"header only":                 good[:12],
		"short header":                good[:8],
		"compression loop":            loop,
		"answer count beyond the end": append(append([]byte(nil), good[:6]...), append([]byte{0, 9}, good[8:]...)...),
	}
	chains, _ := pointerChainMsg(250)
	cases["pointer chains beyond the budget"] = chains
	for name, msg := range cases {
		f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: msg})
		var d Decoded
		err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d)
		if err == nil {
			t.Errorf("%s: decoded as kind %d %+v, want an error", name, d.Kind, d.DNS)
		}
		t.Logf("%s: %v", name, err)
	}
	syn := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})
	for _, n := range []int{0, 5, 14 + 10, 14 + 20 + 10} {
		var d Decoded
		if err := DecodeFrame(layers.LinkTypeEthernet, syn[:n], ts0, &d); err == nil {
			t.Errorf("SYN cut to %d bytes: no error (kind %d)", n, d.Kind)
		}
	}
	bad := append([]byte(nil), syn...)
	bad[14] = 0x65 // IPv4 EtherType, version nibble 6
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, bad, ts0, &d); err == nil {
		t.Errorf("version 6 under the IPv4 EtherType: no error (kind %d)", d.Kind)
	}
}

// A broken additional section after a complete answer section keeps the
// answers.
func TestDecodeDNSBadAdditional(t *testing.T) {
	msg := dnsMsg(3, flagsResponse, "example.com", 1, []rr{{name: "", typ: 1, ttl: 60, rdata: ipData("192.0.2.80")}}, nil)
	msg[11] = 1                               // ARCOUNT 1
	msg = append(msg, 0xc0, 0xff, 0, 1, 0, 1) // a record whose name points past the end
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: msg})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindDNS {
		t.Fatalf("kind %d, err %v", d.Kind, err)
	}
	if len(d.DNS.ResolvedIPs) != 1 || d.DNS.ResolvedIPs[0] != netip.MustParseAddr("192.0.2.80") {
		t.Errorf("resolved %v", d.DNS.ResolvedIPs)
	}
}

// Names that chain through a few pointers each, as real compressors write
// them, stay within the budget; deep chains do not.
func TestDecodeDNSPointerBudget(t *testing.T) {
	for _, c := range []struct {
		depth int
		ok    bool
	}{{1, true}, {hopsPerName - 1, true}, {hopsPerName + 2, false}, {250, false}} {
		msg, n := pointerChainMsg(c.depth)
		f := frame(t, pkt{link: layers.LinkTypeRaw, src: ap("127.0.0.1:53"), dst: ap("127.0.0.1:41234"), udp: true, payload: msg})
		var d Decoded
		err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d)
		if c.ok && (err != nil || len(d.DNS.Answers) != n) {
			t.Errorf("depth %d: %v, %d answers, want %d", c.depth, err, len(d.DNS.Answers), n)
		}
		if !c.ok && err == nil {
			t.Errorf("depth %d: decoded %d answers, want the budget error", c.depth, len(d.DNS.Answers))
		}
	}
	// A realistic deep case: 20 names, each one label plus a pointer to
	// the previous (depth 1..20, 210 hops for 22 names).
	msg := dnsMsg(1, flagsResponse, "example.com", 1, nil, nil)
	prev := 12
	n := 20
	for i := range n {
		at := len(msg)
		msg = append(msg, 1, byte('a'+i), 0xc0|byte(prev>>8), byte(prev), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, byte(i))
		prev = at
	}
	msg[7] = byte(n)
	f := frame(t, pkt{link: layers.LinkTypeRaw, src: ap("127.0.0.1:53"), dst: ap("127.0.0.1:41234"), udp: true, payload: msg})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeRaw, f, ts0, &d); err != nil || len(d.DNS.ResolvedIPs) != n {
		t.Errorf("progressively compressed names: %v, %d addresses", err, len(d.DNS.ResolvedIPs))
	} else if got := d.DNS.Answers[n-1].Name; got != "t.s.r.q.p.o.n.m.l.k.j.i.h.g.f.e.d.c.b.a.example.com" {
		t.Errorf("last name %q", got)
	}
}

// Decoding a SYN into a reused Decoded allocates nothing.
func TestDecodeSYNAllocs(t *testing.T) {
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S", ipOpts: true})
	f6 := frame(t, pkt{link: layers.LinkTypeNull, src: ap("[::1]:50000"), dst: ap("[::1]:443"), flags: "S"})
	var d Decoded
	if n := testing.AllocsPerRun(100, func() {
		if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindSYN {
			t.Fatal(err, d.Kind)
		}
		if err := DecodeFrame(layers.LinkTypeNull, f6, ts0, &d); err != nil || d.Kind != KindSYN {
			t.Fatal(err, d.Kind)
		}
	}); n != 0 {
		t.Errorf("%v allocations per SYN pair, want 0", n)
	}
}
