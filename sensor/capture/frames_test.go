package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Test frame builders. Well-formed frames go through gopacket's serializers
// (lengths and checksums filled in); DNS messages are assembled by hand so
// that compression pointers and malformed records can be placed exactly.

// pkt describes one IP packet to build.
type pkt struct {
	link     layers.LinkType
	src, dst netip.AddrPort
	udp      bool
	flags    string // TCP flags, any of "SAFRP"
	payload  []byte
	ipOpts   bool   // IPv4: add a 4-byte option (IHL 6)
	frag     uint16 // IPv4 fragment offset (8-byte units)
	moreFrag bool   // IPv4 MF flag
	hopByHop bool   // IPv6: insert a hop-by-hop extension header
}

// frame serializes p behind its link header.
func frame(t testing.TB, p pkt) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	v6 := p.src.Addr().Is6()
	switch p.link {
	case layers.LinkTypeEthernet:
		et := layers.EthernetTypeIPv4
		if v6 {
			et = layers.EthernetTypeIPv6
		}
		ls = append(ls, &layers.Ethernet{
			SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
			DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: et,
		})
	}
	var proto layers.IPProtocol = layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		netLayer = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto,
			SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice(), FragOffset: p.frag}
		if p.moreFrag {
			ip.Flags = layers.IPv4MoreFragments
		}
		if p.ipOpts {
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
		}
		netLayer = ip
		ls = append(ls, ip)
	}
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		u.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, u)
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()),
			Seq: 1000, Window: 65535,
			SYN: strings.Contains(p.flags, "S"), ACK: strings.Contains(p.flags, "A"),
			FIN: strings.Contains(p.flags, "F"), RST: strings.Contains(p.flags, "R"),
			PSH: strings.Contains(p.flags, "P")}
		tc.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, tc)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	b := buf.Bytes()
	if v6 && p.hopByHop {
		// Insert an 8-byte hop-by-hop header (one PadN option) after the
		// fixed header. Checksums are left as they are.
		off := 0
		if p.link == layers.LinkTypeEthernet {
			off = 14
		}
		hbh := []byte{byte(proto), 0, 1, 4, 0, 0, 0, 0}
		nb := append(append(append([]byte(nil), b[:off+40]...), hbh...), b[off+40:]...)
		nb[off+6] = 0 // next header: hop-by-hop
		binary.BigEndian.PutUint16(nb[off+4:], binary.BigEndian.Uint16(nb[off+4:])+8)
		b = nb
	}
	switch p.link {
	case layers.LinkTypeNull: // host order; xnu's AF_INET6 is 30
		af := uint32(2)
		if v6 {
			af = 30
		}
		b = append(binary.LittleEndian.AppendUint32(nil, af), b...)
	case layers.LinkTypeLoop: // network order
		af := uint32(2)
		if v6 {
			af = 30
		}
		b = append(binary.BigEndian.AppendUint32(nil, af), b...)
	}
	return append([]byte(nil), b...)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// rr is one resource record for dnsMsg. An empty name is a compression
// pointer to the question name (offset 12, what real servers send).
type rr struct {
	name  string
	typ   uint16
	class uint16 // 0 means IN
	ttl   uint32
	rdata []byte
}

// dnsMsg assembles a DNS message: header, one question (unless q is ""
// and qd is 0), answers, then authority records.
func dnsMsg(id uint16, flags uint16, q string, qtype uint16, answers, authority []rr) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(answers)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(authority)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = appendWireName(b, q)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1)
	for _, r := range append(append([]rr(nil), answers...), authority...) {
		if r.name == "" {
			b = append(b, 0xc0, 12)
		} else {
			b = appendWireName(b, r.name)
		}
		class := r.class
		if class == 0 {
			class = 1
		}
		b = binary.BigEndian.AppendUint16(b, r.typ)
		b = binary.BigEndian.AppendUint16(b, class)
		b = binary.BigEndian.AppendUint32(b, r.ttl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.rdata)))
		b = append(b, r.rdata...)
	}
	return b
}

const (
	flagsResponse = 0x8180 // QR, RD, RA, NOERROR
	flagsNXDomain = 0x8183
	flagsQuery    = 0x0100
)

func appendWireName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	return append(b, 0)
}

func wireName(name string) []byte { return appendWireName(nil, name) }

func ipData(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// cnameChainMsg is the response used across tests: www.Example.COM (mixed
// case, as a 0x20-randomising resolver sends it) -> www.example.com.cdn.net
// -> edge7.cdn.net, which has two A records.
func cnameChainMsg() []byte {
	return dnsMsg(0x1234, flagsResponse, "www.Example.COM", 1, []rr{
		{name: "", typ: 5, ttl: 3600, rdata: wireName("www.example.com.cdn.net")},
		{name: "www.example.com.cdn.net", typ: 5, ttl: 300, rdata: wireName("edge7.cdn.net")},
		{name: "edge7.cdn.net", typ: 1, ttl: 20, rdata: ipData("93.184.216.34")},
		{name: "edge7.cdn.net", typ: 1, ttl: 40, rdata: ipData("93.184.216.35")},
	}, nil)
}
