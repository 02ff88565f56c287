package doctor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestPcapRoundTrip(t *testing.T) {
	b := appendPcapHeader(nil, layers.LinkTypeEthernet)
	b = appendPcapRecord(b, 1796305678123456789, []byte{1, 2, 3})
	b = appendPcapRecord(b, 5, nil)
	link, frames, err := parsePcap(b)
	if err != nil {
		t.Fatal(err)
	}
	if link != layers.LinkTypeEthernet || len(frames) != 2 {
		t.Fatalf("link %v, %d frames", link, len(frames))
	}
	if frames[0].Time != 1796305678123456789 || !bytes.Equal(frames[0].Data, []byte{1, 2, 3}) || frames[0].Orig != 3 {
		t.Errorf("frame 0: %+v", frames[0])
	}
	if frames[1].Time != 5 || len(frames[1].Data) != 0 {
		t.Errorf("frame 1: %+v", frames[1])
	}
}

// TestPcapBigEndianMicro reads the other byte order and the microsecond
// variant, as tcpdump on a big-endian host writes it.
func TestPcapBigEndianMicro(t *testing.T) {
	be := binary.BigEndian
	b := be.AppendUint32(nil, pcapMagicMicro)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, uint32(layers.LinkTypeNull))
	b = be.AppendUint32(b, 10)
	b = be.AppendUint32(b, 7) // µs
	b = be.AppendUint32(b, 2)
	b = be.AppendUint32(b, 60)
	b = append(b, 0xaa, 0xbb)
	link, frames, err := parsePcap(b)
	if err != nil {
		t.Fatal(err)
	}
	if link != layers.LinkTypeNull || len(frames) != 1 || frames[0].Time != 10e9+7000 || frames[0].Orig != 60 {
		t.Errorf("link %v frames %+v", link, frames)
	}
}

func TestPcapHostile(t *testing.T) {
	good := appendPcapRecord(appendPcapHeader(nil, layers.LinkTypeRaw), 1, []byte{9, 9})
	huge := append([]byte(nil), good[:pcapHeaderLen]...)
	huge = binary.LittleEndian.AppendUint32(huge, 0)
	huge = binary.LittleEndian.AppendUint32(huge, 0)
	huge = binary.LittleEndian.AppendUint32(huge, 1<<30)
	huge = binary.LittleEndian.AppendUint32(huge, 1<<30)
	badVersion := append([]byte(nil), good...)
	badVersion[4] = 3
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short header":   good[:10],
		"bad magic":      append([]byte{0, 0, 0, 0}, good[4:]...),
		"bad version":    badVersion,
		"cut record hdr": good[:pcapHeaderLen+5],
		"cut record":     good[:len(good)-1],
		"huge record":    huge,
	} {
		if _, _, err := parsePcap(b); !errors.Is(err, errPcap) {
			t.Errorf("%s: err %v, want errPcap", name, err)
		}
	}
}

func FuzzParsePcap(f *testing.F) {
	f.Add(appendPcapRecord(appendPcapHeader(nil, layers.LinkTypeEthernet), 1, []byte{1, 2, 3}))
	f.Add(appendPcapHeader(nil, layers.LinkTypeNull))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, frames, err := parsePcap(b)
		total := pcapHeaderLen
		for _, fr := range frames {
			total += pcapRecordLen + len(fr.Data)
		}
		if err == nil && total != len(b) {
			t.Fatalf("parsed %d of %d bytes without error", total, len(b))
		}
	})
}
