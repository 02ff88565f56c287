package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// runFilter interprets a classic BPF program over pkt the way the Linux and
// xnu interpreters do (net/core/filter.c, bsd/net/bpf_filter.c) for the
// instructions filterProgram emits, and returns the accepted length (0 is
// drop). A load outside the packet drops it, as in both kernels. pktType is
// what the Linux ancillary load SKF_AD_PKTTYPE reads; with pktType < 0 an
// ancillary load is an error, as on xnu.
func runFilter(prog []insn, pkt []byte, pktType int) (uint32, error) {
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if uint64(off)+uint64(size) > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		var ok = true
		switch in.Op {
		case bpfLD | bpfW | bpfABS:
			if in.K >= skfAdOff {
				if in.K != skfAdOff+skfAdPktType || pktType < 0 {
					return 0, fmt.Errorf("pc %d: ancillary load %#x not available", pc, in.K)
				}
				a = uint32(pktType)
				continue
			}
			a, ok = load(in.K, 4)
		case bpfLD | bpfH | bpfABS:
			a, ok = load(in.K, 2)
		case bpfLD | bpfB | bpfABS:
			a, ok = load(in.K, 1)
		case bpfLD | bpfH | bpfIND:
			a, ok = load(x+in.K, 2)
		case bpfLD | bpfB | bpfIND:
			a, ok = load(x+in.K, 1)
		case bpfLDX | bpfB | bpfMSH:
			var v uint32
			v, ok = load(in.K, 1)
			x = 4 * (v & 0xf)
		case bpfALU | bpfAND | bpfK:
			a &= in.K
		case bpfJMP | bpfJEQ | bpfK:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfJMP | bpfJSET | bpfK:
			if a&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRET | bpfK:
			return in.K, nil
		default:
			return 0, fmt.Errorf("pc %d: opcode %#x not interpreted", pc, in.Op)
		}
		if !ok {
			return 0, nil
		}
	}
	return 0, fmt.Errorf("ran off the end of the program")
}

// disasm lists a program in tcpdump -d style, for the golden files.
func disasm(prog []insn) string {
	var b strings.Builder
	for pc, in := range prog {
		jt, jf := pc+1+int(in.Jt), pc+1+int(in.Jf)
		var s string
		switch in.Op {
		case bpfLD | bpfW | bpfABS:
			if in.K >= skfAdOff {
				s = "ld       #pktType"
			} else {
				s = fmt.Sprintf("ld       [%d]", in.K)
			}
		case bpfLD | bpfH | bpfABS:
			s = fmt.Sprintf("ldh      [%d]", in.K)
		case bpfLD | bpfB | bpfABS:
			s = fmt.Sprintf("ldb      [%d]", in.K)
		case bpfLD | bpfH | bpfIND:
			s = fmt.Sprintf("ldh      [x + %d]", in.K)
		case bpfLD | bpfB | bpfIND:
			s = fmt.Sprintf("ldb      [x + %d]", in.K)
		case bpfLDX | bpfB | bpfMSH:
			s = fmt.Sprintf("ldxb     4*([%d]&0xf)", in.K)
		case bpfALU | bpfAND | bpfK:
			s = fmt.Sprintf("and      #0x%x", in.K)
		case bpfJMP | bpfJEQ | bpfK:
			s = fmt.Sprintf("jeq      #0x%x jt %d jf %d", in.K, jt, jf)
		case bpfJMP | bpfJSET | bpfK:
			s = fmt.Sprintf("jset     #0x%x jt %d jf %d", in.K, jt, jf)
		case bpfRET | bpfK:
			s = fmt.Sprintf("ret      #%d", in.K)
		default:
			s = fmt.Sprintf("op %#04x k %#x jt %d jf %d", in.Op, in.K, jt, jf)
		}
		fmt.Fprintf(&b, "(%03d) %s\n", pc, s)
	}
	return b.String()
}
