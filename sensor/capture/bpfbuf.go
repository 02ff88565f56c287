package capture

import (
	"encoding/binary"
	"fmt"
)

// A read from /dev/bpf returns whole records, each a struct bpf_hdr, the
// captured bytes, and padding to a 4-byte boundary (xnu bsd/net/bpf.h;
// bpf(4)). For 64-bit processes bh_tstamp is a struct timeval32, so the
// header is the same on arm64 and amd64. Fields are in host byte order,
// little-endian on every Mac this builds for.
//
// The padding is BPF_WORDALIGN, whose BPF_ALIGNMENT is sizeof(int32_t) on
// xnu, not sizeof(long) as on FreeBSD: gopacket's bsdbpf aligns on the word
// size and would misread a buffer holding several records on macOS.
const (
	bpfHdrSec     = 0  // bh_tstamp.tv_sec, int32
	bpfHdrUsec    = 4  // bh_tstamp.tv_usec, int32
	bpfHdrCaplen  = 8  // bh_caplen, u_int32: bytes captured
	bpfHdrDatalen = 12 // bh_datalen, u_int32: the packet's length on the wire
	bpfHdrHdrlen  = 16 // bh_hdrlen, u_short: header plus alignment padding
	bpfHdrMinLen  = 18 // SIZEOF_BPF_HDR: the header without its padding
	bpfAlignment  = 4  // BPF_ALIGNMENT
)

// walkBPF calls fn for every record of a buffer read from /dev/bpf, with
// its capture time in Unix nanoseconds. A record that does not fit the
// buffer ends the walk with an error; the records before it were
// delivered.
//
// tv_sec is read as unsigned: the kernel truncates a 64-bit time to 32
// bits, and unsigned it stays right until 2106.
func walkBPF(buf []byte, fn func(frame []byte, ts int64)) error {
	for off := 0; off < len(buf); {
		h := buf[off:]
		if len(h) < bpfHdrMinLen {
			return fmt.Errorf("capture: bpf: %d stray bytes at offset %d", len(h), off)
		}
		caplen := int(binary.LittleEndian.Uint32(h[bpfHdrCaplen:]))
		hdrlen := int(binary.LittleEndian.Uint16(h[bpfHdrHdrlen:]))
		if hdrlen < bpfHdrMinLen || caplen > len(h)-hdrlen {
			return fmt.Errorf("capture: bpf: bad record at offset %d (hdrlen %d, caplen %d, %d bytes left)", off, hdrlen, caplen, len(h))
		}
		sec := int64(binary.LittleEndian.Uint32(h[bpfHdrSec:]))
		usec := int64(int32(binary.LittleEndian.Uint32(h[bpfHdrUsec:])))
		fn(h[hdrlen:hdrlen+caplen], sec*1e9+usec*1e3)
		off += (hdrlen + caplen + bpfAlignment - 1) &^ (bpfAlignment - 1)
	}
	return nil
}
