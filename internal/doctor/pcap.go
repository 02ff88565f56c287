package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// The classic pcap file format (the tcpdump/libpcap savefile: a 24-byte
// file header, then a 16-byte header per record), nanosecond variant on
// write. Written here rather than with gopacket/pcapgo, which pulls in
// golang.org/x/net for its live capture half; the format is 40 lines.
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapHeaderLen  = 24
	pcapRecordLen  = 16
	pcapSnapLen    = 1 << 18
)

// pcapFrame is one record.
type pcapFrame struct {
	Time int64 // Unix ns
	Data []byte
	Orig int // the frame's length on the wire
}

// appendPcapHeader appends a nanosecond pcap file header.
func appendPcapHeader(b []byte, link layers.LinkType) []byte {
	b = binary.LittleEndian.AppendUint32(b, pcapMagicNano)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, pcapSnapLen)
	return binary.LittleEndian.AppendUint32(b, uint32(link))
}

// appendPcapRecord appends one record.
func appendPcapRecord(b []byte, ts int64, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(ts/1e9))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts%1e9))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

var errPcap = errors.New("doctor: pcap")

// parsePcap decodes a pcap file (either byte order, micro- or nanosecond
// times). The frames' Data point into buf.
func parsePcap(buf []byte) (layers.LinkType, []pcapFrame, error) {
	if len(buf) < pcapHeaderLen {
		return 0, nil, fmt.Errorf("%w: %d bytes, need %d for the file header", errPcap, len(buf), pcapHeaderLen)
	}
	var bo binary.ByteOrder
	var nano bool
	switch m := binary.LittleEndian.Uint32(buf); m {
	case pcapMagicMicro, pcapMagicNano:
		bo, nano = binary.LittleEndian, m == pcapMagicNano
	default:
		switch binary.BigEndian.Uint32(buf) {
		case pcapMagicMicro:
			bo = binary.BigEndian
		case pcapMagicNano:
			bo, nano = binary.BigEndian, true
		default:
			return 0, nil, fmt.Errorf("%w: magic %#08x is not a pcap file's", errPcap, m)
		}
	}
	if major := bo.Uint16(buf[4:]); major != 2 {
		return 0, nil, fmt.Errorf("%w: version %d, want 2", errPcap, major)
	}
	snap := bo.Uint32(buf[16:])
	link := layers.LinkType(bo.Uint32(buf[20:]) & 0xffff) // the upper bits carry FCS flags
	var frames []pcapFrame
	for off := pcapHeaderLen; off < len(buf); {
		if len(buf)-off < pcapRecordLen {
			return link, frames, fmt.Errorf("%w: record %d at offset %d: truncated header", errPcap, len(frames)+1, off)
		}
		r := buf[off:]
		sec, frac := int64(bo.Uint32(r)), int64(bo.Uint32(r[4:]))
		incl, orig := bo.Uint32(r[8:]), bo.Uint32(r[12:])
		if incl > snap && incl > pcapSnapLen {
			return link, frames, fmt.Errorf("%w: record %d at offset %d: %d bytes, more than the snap length %d", errPcap, len(frames)+1, off, incl, snap)
		}
		if uint64(incl) > uint64(len(buf)-off-pcapRecordLen) {
			return link, frames, fmt.Errorf("%w: record %d at offset %d: %d bytes, %d left", errPcap, len(frames)+1, off, incl, len(buf)-off-pcapRecordLen)
		}
		if !nano {
			frac *= 1e3
		}
		start := off + pcapRecordLen
		frames = append(frames, pcapFrame{Time: sec*1e9 + frac, Data: buf[start : start+int(incl)], Orig: int(orig)})
		off = start + int(incl)
	}
	return link, frames, nil
}
