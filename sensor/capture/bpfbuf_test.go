package capture

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// readHex reads an annotated hex fixture: "#" starts a comment, whitespace
// separates bytes.
func readHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func TestWalkBPFLoopback(t *testing.T) {
	buf := readHex(t, "testdata/bpf/lo0-three-records.hex")
	if len(buf) != 240 {
		t.Fatalf("fixture is %d bytes, want 240", len(buf))
	}
	type rec struct {
		off int
		ts  int64
		n   int
	}
	var got []rec
	var decoded []Decoded
	err := walkBPF(buf, func(f []byte, ts int64) {
		got = append(got, rec{off: cap(buf) - cap(f), ts: ts, n: len(f)})
		var d Decoded
		if err := DecodeFrame(layers.LinkTypeNull, f, ts, &d); err != nil {
			t.Errorf("frame at %d: %v", len(buf)-cap(f), err)
		}
		if v, err := runFilter(mustFilter(t, layers.LinkTypeNull, false), f, noPktType); err != nil || v == 0 {
			t.Errorf("frame at %d: the xnu filter drops it (%v)", len(buf)-cap(f), err)
		}
		decoded = append(decoded, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Record 3 starts at 64+92 = 156: 4-byte alignment (8-byte, as
	// gopacket's bsdbpf pads, would look at 160).
	want := []rec{
		{off: 20, ts: 1_700_000_000_123_456_000, n: 44},
		{off: 64 + 20, ts: 1_700_000_000_223_456_000, n: 70},
		{off: 156 + 20, ts: 1_700_000_000_323_456_000, n: 64},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if d := decoded[0]; d.Kind != KindSYN || d.SYN != (SYN{Time: want[0].ts, Src: ap("127.0.0.1:61000"), Dst: ap("127.0.0.1:8080")}) {
		t.Errorf("record 1: %d %+v", d.Kind, d.SYN)
	}
	if d := decoded[1]; d.Kind != KindDNS || d.DNS.Question != "a.io" || d.DNS.ID != 0x4242 ||
		len(d.DNS.ResolvedIPs) != 1 || d.DNS.ResolvedIPs[0].String() != "192.0.2.1" || d.DNS.Client != ap("127.0.0.1:50001") {
		t.Errorf("record 2: %d %+v", d.Kind, d.DNS)
	}
	if d := decoded[2]; d.Kind != KindSYN || d.SYN.Src != ap("[::1]:61001") || d.SYN.Dst != ap("[::1]:8080") {
		t.Errorf("record 3: %d %+v", d.Kind, d.SYN)
	}
}

func TestWalkBPFCorrupt(t *testing.T) {
	buf := readHex(t, "testdata/bpf/lo0-three-records.hex")
	for _, c := range []struct {
		name      string
		buf       []byte
		delivered int
	}{
		{"cut inside record 3's frame", buf[:200], 2},
		{"cut inside record 2's header", buf[:70], 1},
		{"stray bytes after the last record", append(append([]byte(nil), buf...), 1, 2, 3), 3},
		{"hdrlen below the header size", func() []byte { b := append([]byte(nil), buf...); b[16] = 10; return b }(), 0},
		{"caplen past the end", func() []byte { b := append([]byte(nil), buf...); b[8] = 0xff; b[9] = 0xff; return b }(), 0},
	} {
		n := 0
		if err := walkBPF(c.buf, func([]byte, int64) { n++ }); err == nil {
			t.Errorf("%s: no error", c.name)
		}
		if n != c.delivered {
			t.Errorf("%s: %d records delivered, want %d", c.name, n, c.delivered)
		}
	}
	if err := walkBPF(nil, func([]byte, int64) { t.Error("called on an empty buffer") }); err != nil {
		t.Errorf("empty buffer: %v", err)
	}
}
