package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Kind is what DecodeFrame found in a frame.
type Kind uint8

// The kinds of decoded frame.
const (
	// KindOther is a well-formed frame that is neither an outbound-looking
	// SYN nor a DNS response: a SYN-ACK, a DNS query sent from port 53, a
	// TCP segment from port 53 without payload, an IPv6 packet with
	// extension headers, a non-IP frame.
	KindOther Kind = iota
	// KindSYN is a TCP segment with SYN set and ACK clear; Decoded.SYN
	// holds it. DecodeFrame cannot tell its direction: the kernel filter
	// (Linux) or the reader (macOS) does.
	KindSYN
	// KindDNS is a DNS response; Decoded.DNS holds it.
	KindDNS
	// KindPartial is an IP fragment or a DNS-over-TCP message that does
	// not fit in one segment: neither is reassembled.
	KindPartial
)

// Decoded is DecodeFrame's output and its reusable decoding state. Reusing
// one Decoded across calls makes decoding a SYN allocation-free. The zero
// value is ready to use; a Decoded is not safe for concurrent use.
type Decoded struct {
	Kind Kind
	SYN  SYN
	// DNS is valid when Kind is KindDNS. Its slices and strings are freshly
	// allocated for every response: they may be kept, and are not reused
	// by the next call.
	DNS DNS

	eth layers.Ethernet
	ip4 layers.IPv4
	ip6 layers.IPv6
	tcp layers.TCP
	udp layers.UDP
	dns layers.DNS
}

// ErrLinkType is returned by DecodeFrame for a link type it does not decode.
var ErrLinkType = errors.New("capture: unsupported link type")

// DecodeFrame decodes one captured frame of the given link type (Ethernet,
// BSD loopback DLT_NULL and DLT_LOOP, raw IP) into out. ts is the capture
// time in Unix nanoseconds. A non-nil error means the frame is malformed
// (the caller counts and drops it); a well-formed frame of no interest
// returns nil with out.Kind == KindOther. DecodeFrame never panics on any
// input (FuzzDecodeFrame).
func DecodeFrame(linkType layers.LinkType, frame []byte, ts int64, out *Decoded) error {
	out.Kind = KindOther
	ip, version, err := out.network(linkType, frame)
	if err != nil || ip == nil {
		return err
	}
	var (
		src, dst netip.Addr
		proto    layers.IPProtocol
		payload  []byte
	)
	switch version {
	case 4:
		if err := out.ip4.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("capture: ipv4: %w", err)
		}
		if out.ip4.Version != 4 {
			return fmt.Errorf("capture: ipv4: version %d", out.ip4.Version)
		}
		if out.ip4.FragOffset != 0 || out.ip4.Flags&layers.IPv4MoreFragments != 0 {
			out.Kind = KindPartial
			return nil
		}
		src = netip.AddrFrom4([4]byte(out.ip4.SrcIP))
		dst = netip.AddrFrom4([4]byte(out.ip4.DstIP))
		proto, payload = out.ip4.Protocol, out.ip4.Payload
	case 6:
		if err := out.ip6.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("capture: ipv6: %w", err)
		}
		if out.ip6.Version != 6 {
			return fmt.Errorf("capture: ipv6: version %d", out.ip6.Version)
		}
		// Extension headers are not walked (the kernel filter does not
		// either): the transport header must follow the fixed header.
		src = netip.AddrFrom16([16]byte(out.ip6.SrcIP))
		dst = netip.AddrFrom16([16]byte(out.ip6.DstIP))
		proto, payload = out.ip6.NextHeader, out.ip6.Payload
	}
	switch proto {
	case layers.IPProtocolTCP:
		t := &out.tcp
		if err := t.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("capture: tcp: %w", err)
		}
		// The order is the kernel filter's: a SYN is a SYN whatever its
		// ports; other segments from port 53 carry DNS.
		if t.SYN && !t.ACK {
			out.Kind = KindSYN
			out.SYN = SYN{
				Time: ts,
				Src:  netip.AddrPortFrom(src, uint16(t.SrcPort)),
				Dst:  netip.AddrPortFrom(dst, uint16(t.DstPort)),
			}
			return nil
		}
		if t.SrcPort == portDNS && len(t.Payload) > 0 {
			return out.dnsOverTCP(src, dst, uint16(t.SrcPort), uint16(t.DstPort), t.Payload, ts)
		}
		return nil
	case layers.IPProtocolUDP:
		u := &out.udp
		if err := u.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("capture: udp: %w", err)
		}
		if u.SrcPort != portDNS {
			return nil
		}
		return out.decodeDNS(src, dst, uint16(u.SrcPort), uint16(u.DstPort), u.Payload, "udp", ts)
	}
	return nil
}

// network strips the link header and returns the IP packet and its
// version; a nil packet is a frame of no interest (ARP, another EtherType).
func (out *Decoded) network(linkType layers.LinkType, frame []byte) ([]byte, int, error) {
	var ip []byte
	switch linkType {
	case layers.LinkTypeEthernet:
		if err := out.eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
			return nil, 0, fmt.Errorf("capture: ethernet: %w", err)
		}
		switch out.eth.EthernetType {
		case layers.EthernetTypeIPv4:
			return out.eth.Payload, 4, nil
		case layers.EthernetTypeIPv6:
			return out.eth.Payload, 6, nil
		}
		return nil, 0, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// A 4-byte address family (host order for DLT_NULL, network order
		// for DLT_LOOP; xnu's AF_INET6 is 30, not Linux's 10): the IP
		// version nibble is read instead, as the kernel filter does.
		if len(frame) < 4 {
			return nil, 0, errors.New("capture: loopback header: short frame")
		}
		ip = frame[4:]
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12: // 12: DLT_RAW on BSD
		ip = frame
	default:
		return nil, 0, fmt.Errorf("%w %d", ErrLinkType, linkType)
	}
	if len(ip) == 0 {
		return nil, 0, errors.New("capture: ip: empty packet")
	}
	switch ip[0] >> 4 {
	case 4:
		return ip, 4, nil
	case 6:
		return ip, 6, nil
	}
	return nil, 0, nil
}

// dnsOverTCP decodes a DNS message carried in one TCP segment: a 2-byte
// length, then the message (RFC 1035 4.2.2). A message split across
// segments, or a segment continuing an earlier one, is KindPartial; a
// segment holding several messages yields the first.
func (out *Decoded) dnsOverTCP(src, dst netip.Addr, sport, dport uint16, p []byte, ts int64) error {
	if len(p) < 2 {
		out.Kind = KindPartial
		return nil
	}
	n := int(binary.BigEndian.Uint16(p))
	if n < dnsHeaderLen || len(p)-2 < n {
		out.Kind = KindPartial
		return nil
	}
	return out.decodeDNS(src, dst, sport, dport, p[2:2+n], "tcp", ts)
}
