package capture

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus")

// Linux pkt_type values (include/uapi/linux/if_packet.h).
const (
	pktHost     = 0 // PACKET_HOST: addressed to this host
	pktOutgoing = 4 // PACKET_OUTGOING: sent by this host
	noPktType   = -1
)

// links lists every link type the filter is built for, as DecodeFrame sees it.
var links = []struct {
	name string
	link layers.LinkType
}{
	{"ethernet", layers.LinkTypeEthernet},
	{"null", layers.LinkTypeNull},
	{"loop", layers.LinkTypeLoop},
	{"raw", layers.LinkTypeRaw},
}

func mustFilter(t testing.TB, link layers.LinkType, pktType bool) []insn {
	t.Helper()
	lh, ok := linkHeaderOf(link)
	if !ok {
		t.Fatalf("no link header for %v", link)
	}
	prog, err := filterProgram(lh, pktType)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestFilterAcceptsExactly(t *testing.T) {
	v4c, v4s := ap("192.0.2.10:50000"), ap("198.51.100.7:443")
	v6c, v6s := ap("[2001:db8::10]:50000"), ap("[2001:db8:1::7]:443")
	dns4, dns6 := ap("192.0.2.53:53"), ap("[2001:db8::53]:53")
	dnsPayload := dnsMsg(7, flagsResponse, "example.com", 1, nil, nil)
	tcpDNS := append(u16(uint16(len(dnsPayload))), dnsPayload...)
	cases := []struct {
		name string
		p    pkt
		// want is the verdict for a frame this host sent (Linux
		// PACKET_OUTGOING), one it received (PACKET_HOST), and on xnu.
		out, in, bsd bool
	}{
		{"v4 SYN", pkt{src: v4c, dst: v4s, flags: "S"}, true, false, true},
		{"v4 SYN+FIN (SYN set, ACK clear)", pkt{src: v4c, dst: v4s, flags: "SF"}, true, false, true},
		{"v4 SYN-ACK", pkt{src: v4s, dst: v4c, flags: "SA"}, false, false, false},
		{"v4 ACK", pkt{src: v4c, dst: v4s, flags: "A"}, false, false, false},
		{"v4 data", pkt{src: v4c, dst: v4s, flags: "PA", payload: []byte("GET /")}, false, false, false},
		{"v4 RST", pkt{src: v4c, dst: v4s, flags: "R"}, false, false, false},
		{"v4 FIN-ACK", pkt{src: v4c, dst: v4s, flags: "FA"}, false, false, false},
		{"v4 SYN from port 53 (a SYN first)", pkt{src: ap("192.0.2.10:53"), dst: v4s, flags: "S"}, true, false, true},
		{"v6 SYN from port 53", pkt{src: ap("[2001:db8::10]:53"), dst: v6s, flags: "S"}, true, false, true},
		{"v4 SYN with IP options", pkt{src: v4c, dst: v4s, flags: "S", ipOpts: true}, true, false, true},
		{"v4 UDP from 53", pkt{src: dns4, dst: v4c, udp: true, payload: dnsPayload}, false, true, true},
		{"v4 UDP from 53 with IP options", pkt{src: dns4, dst: v4c, udp: true, payload: dnsPayload, ipOpts: true}, false, true, true},
		{"v4 UDP to 53 (query)", pkt{src: v4c, dst: dns4, udp: true, payload: dnsPayload}, false, false, false},
		{"v4 UDP other", pkt{src: ap("192.0.2.1:123"), dst: v4c, udp: true}, false, false, false},
		{"v4 TCP from 53 with data", pkt{src: dns4, dst: v4c, flags: "PA", payload: tcpDNS}, false, true, true},
		{"v4 TCP from 53 SYN-ACK", pkt{src: dns4, dst: v4c, flags: "SA"}, false, true, true},
		{"v4 first fragment from 53", pkt{src: dns4, dst: v4c, udp: true, payload: dnsPayload, moreFrag: true}, false, true, true},
		{"v4 later fragment from 53", pkt{src: dns4, dst: v4c, udp: true, payload: dnsPayload, frag: 185}, false, false, false},
		{"v6 SYN", pkt{src: v6c, dst: v6s, flags: "S"}, true, false, true},
		{"v6 SYN-ACK", pkt{src: v6s, dst: v6c, flags: "SA"}, false, false, false},
		{"v6 UDP from 53", pkt{src: dns6, dst: v6c, udp: true, payload: dnsPayload}, false, true, true},
		{"v6 UDP to 53", pkt{src: v6c, dst: dns6, udp: true, payload: dnsPayload}, false, false, false},
		{"v6 TCP from 53", pkt{src: dns6, dst: v6c, flags: "PA", payload: tcpDNS}, false, true, true},
		{"v6 hop-by-hop then UDP from 53 (extension headers not walked)", pkt{src: dns6, dst: v6c, udp: true, payload: dnsPayload, hopByHop: true}, false, false, false},
		{"v6 hop-by-hop then SYN", pkt{src: v6c, dst: v6s, flags: "S", hopByHop: true}, false, false, false},
	}
	for _, l := range links {
		linux := mustFilter(t, l.link, true)
		bsd := mustFilter(t, l.link, false)
		for _, c := range cases {
			c.p.link = l.link
			f := frame(t, c.p)
			for _, v := range []struct {
				name    string
				prog    []insn
				pktType int
				want    bool
			}{
				{"linux outgoing", linux, pktOutgoing, c.out},
				{"linux host", linux, pktHost, c.in},
				{"bsd", bsd, noPktType, c.bsd},
			} {
				got, err := runFilter(v.prog, f, v.pktType)
				if err != nil {
					t.Fatalf("%s/%s/%s: %v", l.name, c.name, v.name, err)
				}
				if want := map[bool]uint32{true: filterSnapLen, false: 0}[v.want]; got != want {
					t.Errorf("%s/%s/%s: filter returned %d, want %d", l.name, c.name, v.name, got, want)
				}
			}
		}
	}
}

// Frames that are not IP, or cut short, are dropped (a load past the end
// returns 0 in both kernels).
func TestFilterDropsOthers(t *testing.T) {
	syn := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})
	arp := append([]byte(nil), syn...)
	arp[12], arp[13] = 0x08, 0x06 // EtherType ARP
	ipv6In4Type := append([]byte(nil), syn...)
	ipv6In4Type[12], ipv6In4Type[13] = 0x86, 0xdd // claims IPv6, holds IPv4: ports read at the v6 offsets
	cases := []struct {
		name  string
		link  layers.LinkType
		frame []byte
	}{
		{"arp", layers.LinkTypeEthernet, arp},
		{"empty", layers.LinkTypeEthernet, nil},
		{"ethernet header only", layers.LinkTypeEthernet, syn[:14]},
		{"SYN cut before the TCP flags", layers.LinkTypeEthernet, syn[:14+20+13]},
		{"null, version 5", layers.LinkTypeNull, []byte{2, 0, 0, 0, 0x50, 0, 0, 0}},
		{"raw, empty", layers.LinkTypeRaw, nil},
		{"mislabelled ethertype", layers.LinkTypeEthernet, ipv6In4Type},
	}
	for _, c := range cases {
		for _, pt := range []int{pktOutgoing, pktHost} {
			if got, err := runFilter(mustFilter(t, c.link, true), c.frame, pt); err != nil || got != 0 {
				t.Errorf("%s (linux, pkt_type %d): got %d, %v; want drop", c.name, pt, got, err)
			}
		}
		if got, err := runFilter(mustFilter(t, c.link, false), c.frame, noPktType); err != nil || got != 0 {
			t.Errorf("%s (bsd): got %d, %v; want drop", c.name, got, err)
		}
	}
}

// The programs are pinned as listings: a change shows up in review.
func TestFilterGolden(t *testing.T) {
	for _, l := range links { // loop has null's program
		if l.link == layers.LinkTypeLoop {
			continue
		}
		for _, v := range []struct {
			name    string
			pktType bool
		}{{"linux", true}, {"bsd", false}} {
			got := disasm(mustFilter(t, l.link, v.pktType))
			path := filepath.Join("testdata", "filter", fmt.Sprintf("%s-%s.golden", l.name, v.name))
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("%s: program changed:\n%s\nwant:\n%s", path, got, want)
			}
		}
	}
	raw := disasm(mustFilter(t, layers.LinkTypeRaw, false))
	if raw == disasm(mustFilter(t, layers.LinkTypeNull, false)) {
		t.Error("raw and null programs are identical; the IP offset is not applied")
	}
}

// The xnu program uses no Linux ancillary load, and every program fits
// xnu's BPF_MAXINSNS and ends in returns.
func TestFilterPortable(t *testing.T) {
	for _, l := range links {
		for _, pktType := range []bool{true, false} {
			prog := mustFilter(t, l.link, pktType)
			if len(prog) > maxFilterInsns {
				t.Errorf("%s: %d instructions", l.name, len(prog))
			}
			anc := 0
			for _, in := range prog {
				if in.Op&0x07 == bpfLD && in.K >= skfAdOff {
					anc++
				}
			}
			if want := map[bool]int{true: 2, false: 0}[pktType]; anc != want {
				t.Errorf("%s pktType=%v: %d ancillary loads, want %d", l.name, pktType, anc, want)
			}
		}
	}
}

func TestAssemblerRejects(t *testing.T) {
	var a assembler
	a.jump(bpfJEQ|bpfK, 1, "nowhere", "")
	a.stmt(bpfRET|bpfK, 0)
	if _, err := a.finish(); err == nil {
		t.Error("undefined label accepted")
	}
	var b assembler
	b.label("back")
	b.stmt(bpfLD|bpfB|bpfABS, 0)
	b.jump(bpfJEQ|bpfK, 1, "back", "")
	b.stmt(bpfRET|bpfK, 0)
	if _, err := b.finish(); err == nil {
		t.Error("backward jump accepted")
	}
	var c assembler
	c.stmt(bpfLD|bpfB|bpfABS, 0)
	if _, err := c.finish(); err == nil {
		t.Error("program not ending in a return accepted")
	}
}
