package socket

import (
	"strings"
	"testing"
)

// withoutDualStack is what /proc/net can know: it has no IPV6_V6ONLY.
func withoutDualStack(cs []Conn) []Conn {
	out := append([]Conn(nil), cs...)
	for i := range out {
		out[i].DualStack = false
	}
	return out
}

// The procnet_*.txt fixtures were captured at the same moment as
// inetdiag_*.bin and list the same sockets in the same order.
func TestParseProcNetFixtures(t *testing.T) {
	if !littleEndianHost() {
		t.Skip("the /proc/net fixtures print little-endian words")
	}
	for _, tc := range []struct {
		file  string
		proto uint8
		v6    bool
		want  []Conn
	}{
		{"procnet_tcp.txt", TCP, false, wantDiagTCP4},
		{"procnet_tcp6.txt", TCP, true, wantDiagTCP6},
		{"procnet_udp.txt", UDP, false, wantDiagUDP4},
		{"procnet_udp6.txt", UDP, true, wantDiagUDP6},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseProcNet(readFixture(t, tc.file), tc.proto, tc.v6, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := withoutDualStack(tc.want)
			if len(got) != len(want) {
				t.Fatalf("got %d conns, want %d: %+v", len(got), len(want), got)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("conn %d:\n got  %+v\n want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestParseProcNetSynthetic(t *testing.T) {
	const hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	// An IPv4-mapped tcp6 line (00000000 00000000 FFFF0000 0100007F), no
	// trailing newline, a blank line and lower-case hex.
	text := hdr + "\n   0: 0000000000000000FFFF00000100007F:1f90 0000000000000000FFFF00000200007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0"
	if !littleEndianHost() {
		t.Skip("little-endian words")
	}
	got, err := parseProcNet([]byte(text), TCP, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Conn{Proto: TCP, Local: ap("127.0.0.1:8080"), Remote: ap("127.0.0.2:50000"), State: Established, UID: 1000, Inode: 4242}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// Only a header: no sockets.
	if got, err := parseProcNet([]byte(hdr), UDP, false, nil); err != nil || len(got) != 0 {
		t.Errorf("header only: %v %v", got, err)
	}

	line := "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 37030 1 0\n"
	for _, tc := range []struct{ name, line, want string }{
		{"few fields", "   0: 0100007F:1F90 00000000:0000 0A\n", "4 fields, need 10"},
		{"no port", strings.Replace(line, "0100007F:1F90", "0100007F1F90", 1), "no port"},
		{"short port", strings.Replace(line, ":1F90", ":1F9", 1), "bad port"},
		{"short address", strings.Replace(line, "0100007F:", "100007F:", 1), "7 hex digits, want 8"},
		{"bad hex", strings.Replace(line, "0100007F:", "0100007G:", 1), "bad hex"},
		{"bad state", strings.Replace(line, " 0A ", " ZZ ", 1), "state"},
		{"bad uid", strings.Replace(line, "     0        0 37030", "     x        0 37030", 1), "uid"},
		{"bad inode", strings.Replace(line, "37030", "-1", 1), "inode"},
		{"state overflow", strings.Replace(line, " 0A ", " 100 ", 1), "state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := []Conn{{LastPID: 3}}
			got, err := parseProcNet([]byte(hdr+line+tc.line), TCP, false, prev)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "socket: /proc/net line 3: ") {
				t.Errorf("err %v, want %q on line 3", err, tc.want)
			}
			if len(got) != 1 {
				t.Errorf("dst changed on error: %+v", got)
			}
		})
	}
}

func TestParseUint(t *testing.T) {
	for _, tc := range []struct {
		s          string
		base, bits int
		v          uint64
		ok         bool
	}{
		{"0", 10, 32, 0, true},
		{"4294967295", 10, 32, 4294967295, true},
		{"4294967296", 10, 32, 0, false},
		{"18446744073709551615", 10, 64, 1<<64 - 1, true},
		{"18446744073709551616", 10, 64, 0, false},
		{"ffFF", 16, 16, 0xffff, true},
		{"10000", 16, 16, 0, false},
		{"", 10, 8, 0, false},
		{"1a", 10, 8, 0, false},
		{"+1", 10, 8, 0, false},
	} {
		v, ok := parseUint([]byte(tc.s), tc.base, tc.bits)
		if v != tc.v || ok != tc.ok {
			t.Errorf("parseUint(%q, %d, %d) = %d, %v; want %d, %v", tc.s, tc.base, tc.bits, v, ok, tc.v, tc.ok)
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	f.Add(readFixture(f, "procnet_tcp.txt"), true, false)
	f.Add(readFixture(f, "procnet_udp6.txt"), false, true)
	f.Fuzz(func(t *testing.T, data []byte, tcp, v6 bool) {
		proto := UDP
		if tcp {
			proto = TCP
		}
		got, err := parseProcNet(data, proto, v6, []Conn{{LastPID: -1}})
		if len(got) < 1 || got[0].LastPID != -1 || (err != nil && len(got) != 1) {
			t.Fatalf("dst mishandled: %d conns, err %v", len(got), err)
		}
		for _, c := range got[1:] {
			if c.Proto != proto || (!v6 && !c.Local.Addr().Is4()) || c.Local.Addr().Is4In6() {
				t.Fatalf("bad conn %+v", c)
			}
		}
	})
}
