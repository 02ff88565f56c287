package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// DNS is one DNS response seen on the wire.
type DNS struct {
	Time      int64          // capture time, Unix nanoseconds
	Client    netip.AddrPort // who asked: the response's destination
	Server    netip.AddrPort // who answered: the response's source (port 53)
	Transport string         // "udp" or "tcp"
	ID        uint16         // the message ID
	// Question is the name asked, lower-cased (resolvers randomise case,
	// draft-vixie-dnsext-dns0x20), without the trailing dot ("." for the
	// root), bytes outside printable ASCII escaped as \DDD and \ and " as
	// \\ and \" (the ECS dns.question.name convention).
	Question string
	QType    string   // A, AAAA, CNAME, ..., or TYPE<n> (RFC 3597)
	Answers  []Answer // the answer section, in wire order
	// ResolvedIPs are the addresses of the answer section's A and AAAA
	// records of class IN, in wire order.
	ResolvedIPs []netip.Addr
	RCode       string // NOERROR, NXDOMAIN, ..., or RCODE<n>
	Truncated   bool   // the TC bit: the server cut the answer
}

// Answer is one record of a response's answer section.
type Answer struct {
	Name  string // owner name, in the form of DNS.Question
	Type  string // A, AAAA, CNAME, ...
	Class string // IN, CH, ..., or CLASS<n>
	// Data is the record's data in presentation form: an address (A,
	// AAAA), a name (CNAME, NS, PTR), "pref name" (MX), "prio weight port
	// target" (SRV), "mname rname serial refresh retry expire minimum"
	// (SOA), the strings joined by spaces (TXT); "" for other types.
	Data string
	TTL  uint32
}

const (
	dnsHeaderLen  = 12
	dnsFlagQR     = 0x80 // byte 2: a response
	dnsClassIN    = 1
	dnsOpcodeMask = 0x78 // byte 2: the opcode bits; 0 is QUERY
)

// decodeDNS decodes a DNS message sent from port 53. Only responses to a
// standard query with exactly one question are kept (RFC 9619: QDCOUNT is
// one in practice); anything else from port 53 is KindOther.
//
// Compression loops: gopacket's decodeName (layers/dns.go) follows at most
// 255 nested pointers and bounds a name to 255 bytes, so a looping name
// fails after 255 steps. But a message of names that each chain through
// 250 pointers decodes, at 20 times the cost per byte of a normal one
// (BenchmarkDecodeFrameDNSPointerChains: ~45 ms for 64 KiB), so
// pointerHops rejects such messages first.
func (out *Decoded) decodeDNS(src, dst netip.Addr, sport, dport uint16, msg []byte, transport string, ts int64) error {
	if len(msg) < dnsHeaderLen {
		return errors.New("capture: dns: short message")
	}
	if msg[2]&dnsFlagQR == 0 || msg[2]&dnsOpcodeMask != 0 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return nil
	}
	if !pointerHopsWithin(msg) {
		return errors.New("capture: dns: too many compression pointers")
	}
	d := &out.dns
	if err := d.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
		// A bad authority or additional record (after a complete answer
		// section) does not spoil the answers, which are all that is used.
		if len(d.Questions) != 1 || len(d.Answers) != int(d.ANCount) {
			return fmt.Errorf("capture: dns: %w", err)
		}
	}
	q := &d.Questions[0]
	r := DNS{
		Time:      ts,
		Client:    netip.AddrPortFrom(dst, dport),
		Server:    netip.AddrPortFrom(src, sport),
		Transport: transport,
		ID:        d.ID,
		Question:  nameString(q.Name),
		QType:     typeName(q.Type),
		RCode:     rcodeName(d.ResponseCode),
		Truncated: d.TC,
	}
	if len(d.Answers) > 0 {
		r.Answers = make([]Answer, len(d.Answers))
	}
	for i := range d.Answers {
		rr := &d.Answers[i]
		a := &r.Answers[i]
		a.Name = nameString(rr.Name)
		a.Type = typeName(rr.Type)
		a.Class = className(rr.Class)
		a.TTL = rr.TTL
		switch rr.Type {
		case layers.DNSTypeA, layers.DNSTypeAAAA:
			ip, ok := netip.AddrFromSlice(rr.IP)
			if !ok {
				continue
			}
			a.Data = ip.String()
			if rr.Class == dnsClassIN {
				r.ResolvedIPs = append(r.ResolvedIPs, ip)
			}
		case layers.DNSTypeCNAME:
			a.Data = nameString(rr.CNAME)
		case layers.DNSTypeNS:
			a.Data = nameString(rr.NS)
		case layers.DNSTypePTR:
			a.Data = nameString(rr.PTR)
		case layers.DNSTypeMX:
			b := strconv.AppendUint(nil, uint64(rr.MX.Preference), 10)
			a.Data = string(appendName(append(b, ' '), rr.MX.Name))
		case layers.DNSTypeSRV:
			b := strconv.AppendUint(nil, uint64(rr.SRV.Priority), 10)
			b = strconv.AppendUint(append(b, ' '), uint64(rr.SRV.Weight), 10)
			b = strconv.AppendUint(append(b, ' '), uint64(rr.SRV.Port), 10)
			a.Data = string(appendName(append(b, ' '), rr.SRV.Name))
		case layers.DNSTypeSOA:
			s := &rr.SOA
			b := appendName(nil, s.MName)
			b = appendName(append(b, ' '), s.RName)
			for _, v := range [...]uint32{s.Serial, s.Refresh, s.Retry, s.Expire, s.Minimum} {
				b = strconv.AppendUint(append(b, ' '), uint64(v), 10)
			}
			a.Data = string(b)
		case layers.DNSTypeTXT:
			var b []byte
			for j, t := range rr.TXTs {
				if j > 0 {
					b = append(b, ' ')
				}
				b = appendText(b, t)
			}
			a.Data = string(b)
		}
	}
	out.DNS = r
	out.Kind = KindDNS
	return nil
}

// Compression budget: a message may follow at most hopSlack + hopsPerName x
// (names in it) pointers in all. Real compressors point at an earlier
// occurrence of a suffix, one or two hops per name.
const (
	hopSlack    = 64
	hopsPerName = 8
)

// pointerHopsWithin walks the message's names the way gopacket will decode
// them (every section's owner names and the names inside the RDATA of the
// types it decodes as names) and reports whether the pointers they follow
// stay within the budget. A structural error ends the walk with true:
// gopacket reports it.
func pointerHopsWithin(msg []byte) bool {
	names, hops := 0, 0
	// name walks one name from off, returns where it ends in place, and
	// false when the walk cannot go on (malformed or over budget).
	name := func(off int) (int, bool) {
		names++
		end, pos, labels := -1, off, 0
		for {
			if pos >= len(msg) {
				return 0, false
			}
			c := msg[pos]
			switch {
			case c == 0:
				if end < 0 {
					end = pos + 1
				}
				return end, true
			case c&0xc0 == 0xc0:
				if pos+2 > len(msg) {
					return 0, false
				}
				if end < 0 {
					end = pos + 2
				}
				hops++
				if hops > hopSlack+hopsPerName*names {
					return 0, false
				}
				pos = int(binary.BigEndian.Uint16(msg[pos:]) & 0x3fff)
			case c&0xc0 != 0:
				return 0, false
			default:
				labels += int(c) + 1
				if labels > 255 {
					return 0, false
				}
				pos += int(c) + 1
			}
		}
	}
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(msg[4+2*i:]))
	}
	off := dnsHeaderLen
	var ok bool
	for range counts[0] {
		if off, ok = name(off); !ok {
			return hops <= hopSlack+hopsPerName*names
		}
		off += 4
	}
	for range counts[1] + counts[2] + counts[3] {
		if off, ok = name(off); !ok || off+10 > len(msg) {
			return hops <= hopSlack+hopsPerName*names
		}
		typ := layers.DNSType(binary.BigEndian.Uint16(msg[off:]))
		rd := off + 10
		off = rd + int(binary.BigEndian.Uint16(msg[off+8:]))
		if off > len(msg) {
			break
		}
		var at []int // where the RDATA's names start, as gopacket reads them
		switch typ {
		case layers.DNSTypeNS, layers.DNSTypeCNAME, layers.DNSTypePTR:
			at = []int{rd}
		case layers.DNSTypeMX:
			at = []int{rd + 2}
		case layers.DNSTypeSRV:
			at = []int{rd + 6}
		case layers.DNSTypeSOA:
			if e, ok := name(rd); ok {
				at = []int{e}
			}
		case layers.DNSTypeRRSIG:
			at = []int{rd + 18}
		case layers.DNSTypeSVCB, layers.DNSTypeHTTPS:
			at = []int{rd + 2}
		case layers.DNSTypeNAPTR:
			p := rd + 4
			for range 3 { // flags, services, regexp
				if p < off {
					p += 1 + int(msg[p])
				}
			}
			at = []int{p}
		}
		for _, p := range at {
			if p < off {
				if _, ok := name(p); !ok && hops > hopSlack+hopsPerName*names {
					return false
				}
			}
		}
		if hops > hopSlack+hopsPerName*names {
			return false
		}
	}
	return hops <= hopSlack+hopsPerName*names
}

// nameString formats a decoded name (labels joined by dots, gopacket's
// form) as DNS.Question describes.
func nameString(name []byte) string {
	if len(name) == 0 {
		return "."
	}
	var buf [256]byte // a decoded name is at most 255 bytes; escapes may grow it
	return string(appendName(buf[:0], name))
}

func appendName(dst, name []byte) []byte {
	if len(name) == 0 {
		return append(dst, '.')
	}
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = appendEscaped(dst, c)
	}
	return dst
}

// appendText appends a TXT character-string, escaped like a name but with
// its case kept.
func appendText(dst, s []byte) []byte {
	for _, c := range s {
		dst = appendEscaped(dst, c)
	}
	return dst
}

// appendEscaped writes one byte the ECS way: \t \r \n, \\ and \", \DDD for
// other bytes outside printable ASCII.
func appendEscaped(dst []byte, c byte) []byte {
	switch {
	case c == '\t':
		return append(dst, '\\', 't')
	case c == '\r':
		return append(dst, '\\', 'r')
	case c == '\n':
		return append(dst, '\\', 'n')
	case c == '\\' || c == '"':
		return append(dst, '\\', c)
	case c < 0x20 || c > 0x7e:
		return append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
	}
	return append(dst, c)
}

// typeName is the IANA mnemonic of a DNS record type, or TYPE<n>.
func typeName(t layers.DNSType) string {
	switch t {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 13:
		return "HINFO"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 35:
		return "NAPTR"
	case 41:
		return "OPT"
	case 43:
		return "DS"
	case 46:
		return "RRSIG"
	case 47:
		return "NSEC"
	case 48:
		return "DNSKEY"
	case 50:
		return "NSEC3"
	case 64:
		return "SVCB"
	case 65:
		return "HTTPS"
	case 255:
		return "ANY"
	case 256:
		return "URI"
	case 257:
		return "CAA"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// className is the mnemonic of a DNS class, or CLASS<n> (RFC 3597).
func className(c layers.DNSClass) string {
	switch c {
	case 1:
		return "IN"
	case 3:
		return "CH"
	case 4:
		return "HS"
	case 254:
		return "NONE"
	case 255:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

// rcodeName is the IANA mnemonic of a response code (the extended code of
// an OPT record included, as gopacket merges it), or RCODE<n>.
func rcodeName(c layers.DNSResponseCode) string {
	switch c {
	case 0:
		return "NOERROR"
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 3:
		return "NXDOMAIN"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	case 6:
		return "YXDOMAIN"
	case 7:
		return "YXRRSET"
	case 8:
		return "NXRRSET"
	case 9:
		return "NOTAUTH"
	case 10:
		return "NOTZONE"
	case 16:
		return "BADVERS"
	}
	return "RCODE" + strconv.Itoa(int(c))
}
