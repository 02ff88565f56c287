package capture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// fuzzLinks maps the fuzzer's link byte to a link type; the last is
// unsupported, for the error path.
var fuzzLinks = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkType(147),
}

func linkIndex(l layers.LinkType) byte {
	for i, x := range fuzzLinks {
		if x == l {
			return byte(i)
		}
	}
	panic(l)
}

// FuzzDecodeFrame: DecodeFrame never panics, and whatever it reports as a
// SYN or a DNS response the kernel filter lets through (the two agree on
// what matters). A decoded response builds a valid JSON event and caches
// without panicking.
func FuzzDecodeFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, link byte, frame []byte) {
		lt := fuzzLinks[int(link)%len(fuzzLinks)]
		var d Decoded
		if err := DecodeFrame(lt, frame, 1, &d); err != nil {
			return
		}
		lh, ok := linkHeaderOf(lt)
		if !ok {
			t.Fatalf("decoded kind %d on unsupported link %v", d.Kind, lt)
		}
		bsd, _ := filterProgram(lh, false)
		linux, _ := filterProgram(lh, true)
		verdict := func(prog []insn, pktType int) uint32 {
			v, err := runFilter(prog, frame, pktType)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		switch d.Kind {
		case KindSYN:
			if verdict(bsd, noPktType) == 0 || verdict(linux, pktOutgoing) == 0 {
				t.Fatalf("decoded SYN %+v that the filter drops", d.SYN)
			}
			if !d.SYN.Src.IsValid() || !d.SYN.Dst.IsValid() {
				t.Fatalf("SYN with invalid addresses %+v", d.SYN)
			}
		case KindDNS:
			if verdict(bsd, noPktType) == 0 || verdict(linux, pktHost) == 0 {
				t.Fatalf("decoded DNS %+v that the filter drops", d.DNS)
			}
			if d.DNS.Question == "" || d.DNS.Server.Port() != 53 {
				t.Fatalf("bad response %+v", d.DNS)
			}
			for _, ip := range d.DNS.ResolvedIPs {
				if !ip.IsValid() {
					t.Fatalf("invalid resolved IP in %+v", d.DNS)
				}
			}
			if js := d.DNS.Event().AppendJSON(nil); !json.Valid(js) {
				t.Fatalf("event is not valid JSON: %s", js)
			}
			NewCache(4, 0, time.Hour).Add(&d.DNS, time.Unix(0, 1))
		}
	})
}

// FuzzWalkBPF: the /dev/bpf record walker never panics and only hands out
// frames inside the buffer, in order, without overlap.
func FuzzWalkBPF(f *testing.F) {
	f.Fuzz(func(t *testing.T, buf []byte) {
		end := 0
		walkBPF(buf, func(frame []byte, ts int64) {
			start := cap(buf) - cap(frame) // frames are subslices of buf
			if start < end || start+len(frame) > len(buf) {
				t.Fatalf("frame [%d,%d) outside the buffer or overlapping (previous end %d)", start, start+len(frame), end)
			}
			end = start + len(frame)
		})
	})
}

// seedFrames are the committed FuzzDecodeFrame seeds: real-looking frames
// of every kind, and the malformed ones decoders trip on.
func seedFrames(t testing.TB) map[string]struct {
	link  layers.LinkType
	frame []byte
} {
	eth, null, raw := layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeRaw
	c4, s4 := ap("192.0.2.10:50000"), ap("198.51.100.7:443")
	d4, cl4 := ap("192.0.2.53:53"), ap("192.0.2.10:41234")
	d6, cl6 := ap("[2001:db8::53]:53"), ap("[2001:db8::10]:41234")
	chain := cnameChainMsg()
	loop := dnsMsg(2, flagsResponse, "example.com", 1, []rr{{name: "x", typ: 1, ttl: 1, rdata: ipData("192.0.2.1")}}, nil)
	loop[29], loop[30] = 0xc0, 29 // owner name points at itself
	loop = append(loop[:31], loop[32:]...)
	loop2 := dnsMsg(2, flagsResponse, "example.com", 1, []rr{{name: "", typ: 5, ttl: 1, rdata: []byte{0xc0, 0x0c}}}, nil)
	loop2[12] = 0xc0 // the question name becomes a pointer to the CNAME data, which points back
	loop2[13] = byte(len(loop2) - 2)
	aaaa := dnsMsg(0xaaaa, flagsResponse, "ipv6.example.net", 28, []rr{{name: "", typ: 28, ttl: 300, rdata: ipData("2001:db8::1234")}}, nil)
	nx := dnsMsg(1, flagsNXDomain, "nope.example", 1, nil, []rr{
		{name: "example", typ: 6, ttl: 900, rdata: append(append(wireName("ns.example"), wireName("admin.example")...), make([]byte, 20)...)},
	})
	tcpMsg := append(u16(uint16(len(chain))), chain...)
	m := map[string]struct {
		link  layers.LinkType
		frame []byte
	}{}
	add := func(name string, link layers.LinkType, p pkt) {
		p.link = link
		m[name] = struct {
			link  layers.LinkType
			frame []byte
		}{link, frame(t, p)}
	}
	add("syn-ethernet-v4", eth, pkt{src: c4, dst: s4, flags: "S"})
	add("syn-ethernet-v4-ipoptions", eth, pkt{src: c4, dst: s4, flags: "S", ipOpts: true})
	add("syn-null-v6-loopback", null, pkt{src: ap("[::1]:61000"), dst: ap("[::1]:8080"), flags: "S"})
	add("syn-raw-v4", raw, pkt{src: c4, dst: s4, flags: "S"})
	add("synack-ethernet-v4", eth, pkt{src: s4, dst: c4, flags: "SA"})
	add("dns-cname-chain-ethernet-v4", eth, pkt{src: d4, dst: cl4, udp: true, payload: chain})
	add("dns-cname-chain-null-v4", null, pkt{src: d4, dst: cl4, udp: true, payload: chain})
	add("dns-aaaa-raw-v6", raw, pkt{src: d6, dst: cl6, udp: true, payload: aaaa})
	add("dns-nxdomain-soa-ethernet-v6", eth, pkt{src: d6, dst: cl6, udp: true, payload: nx})
	add("dns-tcp-ethernet-v6", eth, pkt{src: d6, dst: cl6, flags: "PA", payload: tcpMsg})
	add("dns-tcp-split-ethernet-v4", eth, pkt{src: d4, dst: cl4, flags: "PA", payload: tcpMsg[:30]})
	add("dns-truncated-ethernet-v4", eth, pkt{src: d4, dst: cl4, udp: true, payload: chain[:len(chain)-5]})
	add("dns-compression-self-loop", eth, pkt{src: d4, dst: cl4, udp: true, payload: loop})
	add("dns-compression-two-pointer-loop", eth, pkt{src: d4, dst: cl4, udp: true, payload: loop2})
	add("dns-query-from-53", eth, pkt{src: d4, dst: ap("192.0.2.1:53"), udp: true, payload: dnsMsg(5, flagsQuery, "example.com", 1, nil, nil)})
	add("fragment-first-v4", eth, pkt{src: d4, dst: cl4, udp: true, payload: chain, moreFrag: true})
	add("v6-hop-by-hop-dns", eth, pkt{src: d6, dst: cl6, udp: true, payload: chain, hopByHop: true})
	arp := frame(t, pkt{link: eth, src: c4, dst: s4, flags: "S"})
	arp[12], arp[13] = 0x08, 0x06
	m["arp"] = struct {
		link  layers.LinkType
		frame []byte
	}{eth, arp}
	return m
}

// writeCorpusFile writes one seed in the go fuzz corpus format.
func corpusFile(values ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		}
	}
	return b.Bytes()
}

// TestFuzzSeedCorpus keeps the committed seed corpus equal to what the
// builders produce (-update rewrites it).
func TestFuzzSeedCorpus(t *testing.T) {
	want := map[string][]byte{}
	for name, s := range seedFrames(t) {
		want[filepath.Join("testdata", "fuzz", "FuzzDecodeFrame", name)] = corpusFile(linkIndex(s.link), s.frame)
	}
	bpf := readHex(t, "testdata/bpf/lo0-three-records.hex")
	want[filepath.Join("testdata", "fuzz", "FuzzWalkBPF", "lo0-three-records")] = corpusFile(bpf)
	want[filepath.Join("testdata", "fuzz", "FuzzWalkBPF", "lo0-cut")] = corpusFile(bpf[:200])
	names := make([]string, 0, len(want))
	for p := range want {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want[p], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v (run with -update)", err)
			continue
		}
		if !bytes.Equal(got, want[p]) {
			t.Errorf("%s differs from its builder (run with -update)", p)
		}
	}
}
