package capture

import "fmt"

// insn is one classic BPF instruction. Linux's struct sock_filter
// (include/uapi/linux/filter.h) and xnu's struct bpf_insn (bsd/net/bpf.h)
// have this same layout: u16 code, u8 jt, u8 jf, u32 k.
type insn struct {
	Op     uint16
	Jt, Jf uint8
	K      uint32
}

// Classic BPF opcode fields (bsd/net/bpf.h, include/uapi/linux/bpf_common.h).
const (
	bpfLD   = 0x00 // class: load into A
	bpfLDX  = 0x01 // class: load into X
	bpfALU  = 0x04 // class: arithmetic on A
	bpfJMP  = 0x05 // class: conditional jump
	bpfRET  = 0x06 // class: return
	bpfW    = 0x00 // size: 32-bit word
	bpfH    = 0x08 // size: 16-bit half word
	bpfB    = 0x10 // size: byte
	bpfABS  = 0x20 // mode: packet[k]
	bpfIND  = 0x40 // mode: packet[X+k]
	bpfMSH  = 0xa0 // mode (LDX only): X = 4*(packet[k]&0xf), the IPv4 header length
	bpfAND  = 0x50 // ALU op: A &= k
	bpfJEQ  = 0x10 // jump op: A == k
	bpfJSET = 0x40 // jump op: A & k != 0
	bpfK    = 0x00 // source: the constant k
)

// Linux ancillary data (include/uapi/linux/filter.h, if_packet.h): a load
// from offset skfAdOff+skfAdPktType reads skb->pkt_type instead of packet
// bytes. xnu has no ancillary loads.
const (
	skfAdOff        = 0xfffff000 // SKF_AD_OFF (-0x1000)
	skfAdPktType    = 4          // SKF_AD_PKTTYPE
	packetOutgoing  = 4          // PACKET_OUTGOING: a frame this host sent
	filterSnapLen   = 0x40000    // bytes kept of an accepted frame (libpcap's MAXIMUM_SNAPLEN)
	maxFilterInsns  = 512        // BPF_MAXINSNS in xnu bsd/net/bpf.h; Linux allows 4096
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	ipProtoTCP      = 6
	ipProtoUDP      = 17
	portDNS         = 53
	tcpFlagSYN      = 0x02
	tcpFlagACK      = 0x10
	ipv4FragOffMask = 0x1fff // fragment offset bits of the IPv4 flags/offset field
)

// linkHeader says where the IP header starts in a captured frame and how to
// tell IPv4 from IPv6 there.
type linkHeader struct {
	// ipOff is the IP header's offset: 14 (Ethernet), 4 (DLT_NULL,
	// DLT_LOOP), 0 (raw IP).
	ipOff uint32
	// etherType: the link header has an EtherType at offset 12 (Ethernet);
	// otherwise the IP version nibble decides.
	etherType bool
}

var (
	linkEthernet = linkHeader{ipOff: 14, etherType: true}
	linkNull     = linkHeader{ipOff: 4}
	linkRaw      = linkHeader{ipOff: 0}
)

// filterProgram builds the kernel filter: it keeps TCP segments with SYN set
// and ACK clear (connection openings, whatever their ports) and other UDP or
// TCP packets whose source port is 53 (DNS responses), over IPv4 and over IPv6 without extension
// headers, and drops everything else. Non-first IPv4 fragments are dropped
// (they carry no transport header).
//
// With pktType (Linux) the direction is checked in the kernel too: a SYN is
// kept only when this host sent it (PACKET_OUTGOING), a DNS response only
// when this host received it. On loopback Linux shows every frame twice,
// once outgoing and once incoming, so this also keeps exactly one copy of
// each. Without pktType (xnu, which has no ancillary loads) SYNs of both
// directions pass and the reader tells them apart in user space.
func filterProgram(link linkHeader, pktType bool) ([]insn, error) {
	var a assembler
	l := link.ipOff
	if link.etherType {
		a.stmt(bpfLD|bpfH|bpfABS, 12)                     // A = EtherType
		a.jump(bpfJEQ|bpfK, etherTypeIPv4, "ip4", "")     // IPv4?
		a.jump(bpfJEQ|bpfK, etherTypeIPv6, "ip6", "drop") // IPv6? else drop
	} else {
		a.stmt(bpfLD|bpfB|bpfABS, l)             // A = first IP byte
		a.stmt(bpfALU|bpfAND|bpfK, 0xf0)         // A = version << 4
		a.jump(bpfJEQ|bpfK, 0x40, "ip4", "")     // version 4?
		a.jump(bpfJEQ|bpfK, 0x60, "ip6", "drop") // version 6? else drop
	}

	a.label("ip4")
	a.stmt(bpfLD|bpfH|bpfABS, l+6)                    // A = IPv4 flags and fragment offset
	a.jump(bpfJSET|bpfK, ipv4FragOffMask, "drop", "") // a later fragment has no ports: drop
	a.stmt(bpfLDX|bpfB|bpfMSH, l)                     // X = IPv4 header length (IHL*4)
	a.stmt(bpfLD|bpfB|bpfABS, l+9)                    // A = IPv4 protocol
	a.jump(bpfJEQ|bpfK, ipProtoTCP, "ip4tcp", "")     // TCP?
	a.jump(bpfJEQ|bpfK, ipProtoUDP, "ip4udp", "drop") // UDP? else drop
	a.label("ip4tcp")
	a.stmt(bpfLD|bpfB|bpfIND, l+13)                   // A = TCP flags (at X+l+13)
	a.stmt(bpfALU|bpfAND|bpfK, tcpFlagSYN|tcpFlagACK) // A = SYN and ACK bits
	a.jump(bpfJEQ|bpfK, tcpFlagSYN, "syn", "")        // SYN without ACK: a connection opening
	a.stmt(bpfLD|bpfH|bpfIND, l)                      // A = TCP source port (at X+l)
	a.jump(bpfJEQ|bpfK, portDNS, "dns", "drop")       // from port 53: DNS over TCP, else drop
	a.label("ip4udp")
	a.stmt(bpfLD|bpfH|bpfIND, l)                // A = UDP source port (at X+l)
	a.jump(bpfJEQ|bpfK, portDNS, "dns", "drop") // from port 53, else drop

	a.label("ip6")
	a.stmt(bpfLD|bpfB|bpfABS, l+6)                    // A = IPv6 next header (no extension headers)
	a.jump(bpfJEQ|bpfK, ipProtoTCP, "ip6tcp", "")     // TCP?
	a.jump(bpfJEQ|bpfK, ipProtoUDP, "ip6udp", "drop") // UDP? else drop
	a.label("ip6tcp")
	a.stmt(bpfLD|bpfB|bpfABS, l+40+13)                // A = TCP flags
	a.stmt(bpfALU|bpfAND|bpfK, tcpFlagSYN|tcpFlagACK) // A = SYN and ACK bits
	a.jump(bpfJEQ|bpfK, tcpFlagSYN, "syn", "")        // SYN without ACK: a connection opening
	a.stmt(bpfLD|bpfH|bpfABS, l+40)                   // A = TCP source port
	a.jump(bpfJEQ|bpfK, portDNS, "dns", "drop")       // from port 53: DNS over TCP, else drop
	a.label("ip6udp")
	a.stmt(bpfLD|bpfH|bpfABS, l+40)             // A = UDP source port
	a.jump(bpfJEQ|bpfK, portDNS, "dns", "drop") // from port 53, else drop

	a.label("syn")
	if pktType {
		a.stmt(bpfLD|bpfW|bpfABS, skfAdOff+skfAdPktType)      // A = skb->pkt_type
		a.jump(bpfJEQ|bpfK, packetOutgoing, "accept", "drop") // sent by this host, else drop
	}
	a.label("dns")
	if pktType {
		a.stmt(bpfLD|bpfW|bpfABS, skfAdOff+skfAdPktType)      // A = skb->pkt_type
		a.jump(bpfJEQ|bpfK, packetOutgoing, "drop", "accept") // received by this host, else drop
	}
	a.label("accept")
	a.stmt(bpfRET|bpfK, filterSnapLen) // keep the frame
	a.label("drop")
	a.stmt(bpfRET|bpfK, 0) // drop the frame
	return a.finish()
}

// assembler resolves the symbolic jump targets of a classic BPF program.
// Jumps only go forward and reach at most 255 instructions (jt and jf are
// bytes), which finish checks.
type assembler struct {
	prog   []insn
	labels map[string]int
	refs   []jumpRef
}

type jumpRef struct {
	at     int
	jt, jf string // "" is the next instruction
}

func (a *assembler) stmt(op uint16, k uint32) {
	a.prog = append(a.prog, insn{Op: op, K: k})
}

func (a *assembler) jump(op uint16, k uint32, jt, jf string) {
	a.refs = append(a.refs, jumpRef{at: len(a.prog), jt: jt, jf: jf})
	a.prog = append(a.prog, insn{Op: bpfJMP | op, K: k})
}

func (a *assembler) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	a.labels[name] = len(a.prog)
}

func (a *assembler) finish() ([]insn, error) {
	rel := func(from int, target string) (uint8, error) {
		if target == "" {
			return 0, nil
		}
		to, ok := a.labels[target]
		if !ok {
			return 0, fmt.Errorf("capture: filter: undefined label %q", target)
		}
		d := to - (from + 1)
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("capture: filter: jump to %q out of range (%d)", target, d)
		}
		return uint8(d), nil
	}
	for _, r := range a.refs {
		var err error
		if a.prog[r.at].Jt, err = rel(r.at, r.jt); err != nil {
			return nil, err
		}
		if a.prog[r.at].Jf, err = rel(r.at, r.jf); err != nil {
			return nil, err
		}
	}
	if n := len(a.prog); n == 0 || n > maxFilterInsns || a.prog[n-1].Op&0x07 != bpfRET {
		return nil, fmt.Errorf("capture: filter: %d instructions, last not a return", n)
	}
	return a.prog, nil
}
