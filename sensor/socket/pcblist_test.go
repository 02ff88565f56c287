package socket

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixtures are copies of ../shared/fixtures/darwin (see its README for
// how they were produced); the expected values are that README's table.
var (
	wantTCP = []Conn{
		{Proto: TCP, Local: netip.MustParseAddrPort("192.168.1.10:52000"), Remote: netip.MustParseAddrPort("93.184.216.34:443"),
			State: Established, LastPID: 1234, EPID: 1234, UID: 501},
		{Proto: TCP, Local: netip.MustParseAddrPort("[::]:22"), Remote: netip.MustParseAddrPort("[::]:0"),
			State: Listen, LastPID: 1, EPID: 1, UID: 0},
		{Proto: TCP, Local: netip.MustParseAddrPort("[fe80::1]:49152"), Remote: netip.MustParseAddrPort("[2001:db8::2]:8443"),
			State: TimeWait, LastPID: 4321, EPID: 999, UID: 502},
	}
	wantUDP = []Conn{
		{Proto: UDP, Local: netip.MustParseAddrPort("0.0.0.0:5353"), Remote: netip.MustParseAddrPort("0.0.0.0:0"),
			State: Closed, LastPID: 200, EPID: 200, UID: 65},
	}
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodePcblistFixtures(t *testing.T) {
	for _, tc := range []struct {
		file  string
		proto uint8
		want  []Conn
	}{
		{"pcblist_tcp_macos13plus.bin", TCP, wantTCP},
		{"pcblist_tcp_macos11_12.bin", TCP, wantTCP},
		{"pcblist_udp_macos13plus.bin", UDP, wantUDP},
		{"pcblist_udp_macos11_12.bin", UDP, wantUDP},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := DecodePcblist(readFixture(t, tc.file), tc.proto, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d conns, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("conn %d:\n got  %+v\n want %+v", i, got[i], tc.want[i])
				}
				if got[i].Local.Addr().Is4() != tc.want[i].Local.Addr().Is4() {
					t.Errorf("conn %d: local %v has the wrong family", i, got[i].Local)
				}
			}
		})
	}
}

// The README's per-socket family column (vflag and xso_family) and the
// delegated owner of tcp 2.
func TestDecodePcblistFixtureFamiliesAndOwner(t *testing.T) {
	got, err := DecodePcblist(readFixture(t, "pcblist_tcp_macos13plus.bin"), TCP, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Local.Addr().Is4() || !got[0].Remote.Addr().Is4() {
		t.Errorf("tcp 0 should be IPv4: %v -> %v", got[0].Local, got[0].Remote)
	}
	for _, i := range []int{1, 2} {
		if !got[i].Local.Addr().Is6() || !got[i].Remote.Addr().Is6() {
			t.Errorf("tcp %d should be IPv6: %v -> %v", i, got[i].Local, got[i].Remote)
		}
	}
	if o := got[2].Owner(); o != 999 {
		t.Errorf("tcp 2 Owner() = %d, want 999 (so_e_pid of a delegated socket)", o)
	}
	if o := got[0].Owner(); o != 1234 {
		t.Errorf("tcp 0 Owner() = %d, want 1234", o)
	}
}

// The fixtures' record lengths: xsocket_n is 104 bytes from macOS 13 and 76
// (padded to 80) before; the decoder must accept both without knowing which.
func TestFixtureRecordSizes(t *testing.T) {
	for file, want := range map[string]uint32{
		"pcblist_tcp_macos13plus.bin": 104,
		"pcblist_tcp_macos11_12.bin":  76,
	} {
		b := readFixture(t, file)
		off := align8(int(binary.LittleEndian.Uint32(b)))
		off += align8(int(binary.LittleEndian.Uint32(b[off:]))) // xinpcb_n
		if got := binary.LittleEndian.Uint32(b[off:]); got != want {
			t.Errorf("%s: xsocket_n len %d, want %d", file, got, want)
		}
		if kind := binary.LittleEndian.Uint32(b[off+4:]); kind != xsoSocket {
			t.Errorf("%s: kind %#x at %d, want XSO_SOCKET", file, kind, off)
		}
	}
}

// pcbSock describes one synthetic socket for pcbBuilder.
type pcbSock struct {
	proto        uint8
	vflag        uint8
	family       uint32 // xso_family
	protocol     int32  // xso_protocol; 0 means proto
	local        netip.AddrPort
	remote       netip.AddrPort
	gencnt       uint64
	uid          uint32
	lastPID      int32
	ePID         int32
	state        int32
	noSocket     bool // omit xsocket_n
	noTcpcb      bool // omit xtcpcb_n
	inpcbOnlyLen int  // if set, the xinpcb_n record's length
}

// pcbBuilder lays out a pcblist_n buffer at the documented offsets, the way
// get_pcblist_n does, with a configurable xsocket_n size.
type pcbBuilder struct {
	b     []byte
	soLen int
}

func newPcbBuilder(gen uint64, count uint32, soLen int) *pcbBuilder {
	p := &pcbBuilder{soLen: soLen}
	h := p.record(uint32(count), xinpgenLen) // xig_count sits where kind is
	binary.LittleEndian.PutUint64(h[offGenGen:], gen)
	binary.LittleEndian.PutUint64(h[16:], gen+2) // xig_sogen
	return p
}

// record appends a zeroed record of size bytes with the given kind (padded
// to 8) and returns it for filling.
func (p *pcbBuilder) record(kind uint32, size int) []byte {
	start := len(p.b)
	p.b = append(p.b, make([]byte, align8(size))...)
	r := p.b[start : start+size]
	binary.LittleEndian.PutUint32(r[offRecLen:], uint32(size))
	binary.LittleEndian.PutUint32(r[offRecKind:], kind)
	return r
}

func (p *pcbBuilder) socket(s pcbSock) *pcbBuilder {
	inLen := 104
	if s.inpcbOnlyLen != 0 {
		inLen = s.inpcbOnlyLen
	}
	in := p.record(xsoInpcb, inLen)
	if inLen >= minInpcbLen {
		binary.BigEndian.PutUint16(in[offInpFport:], s.remote.Port())
		binary.BigEndian.PutUint16(in[offInpLport:], s.local.Port())
		binary.LittleEndian.PutUint64(in[offInpGencnt:], s.gencnt)
		in[offInpVflag] = s.vflag
		putPcbAddr(in, offInpFaddr, s.remote.Addr())
		putPcbAddr(in, offInpLaddr, s.local.Addr())
	}
	if !s.noSocket {
		so := p.record(xsoSocket, p.soLen)
		proto := s.protocol
		if proto == 0 {
			proto = int32(s.proto)
		}
		put32(so, offSoProtocol, uint32(proto))
		put32(so, offSoFamily, s.family)
		put32(so, offSoUID, s.uid)
		put32(so, offSoLastPID, uint32(s.lastPID))
		put32(so, offSoEPID, uint32(s.ePID))
	}
	binary.LittleEndian.PutUint32(p.record(xsoRcvbuf, 32)[8:], 11)
	binary.LittleEndian.PutUint32(p.record(xsoSndbuf, 32)[8:], 22)
	p.record(xsoStats, 136)
	if s.proto == TCP && !s.noTcpcb {
		binary.LittleEndian.PutUint32(p.record(xsoTcpcb, 204)[offTState:], uint32(s.state))
	}
	return p
}

// put32 writes v at off if the record is long enough (short records test
// the decoder's length checks).
func put32(rec []byte, off int, v uint32) {
	if off+4 <= len(rec) {
		binary.LittleEndian.PutUint32(rec[off:], v)
	}
}

// putPcbAddr writes a in the inp_depend{f,l}addr union at off: 16 bytes for
// IPv6, the in_addr_4in6 layout (IPv4 in the last 4 bytes) for IPv4.
func putPcbAddr(in []byte, off int, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	if a.Is4() {
		b := a.As4()
		copy(in[off+12:], b[:])
		return
	}
	b := a.As16()
	copy(in[off:], b[:])
}

func (p *pcbBuilder) trailer(gen uint64) []byte {
	h := p.record(1, xinpgenLen)
	binary.LittleEndian.PutUint64(h[offGenGen:], gen)
	return p.b
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestDecodePcblistSynthetic(t *testing.T) {
	base := pcbSock{proto: TCP, vflag: inpIPv4, family: darwinInet, gencnt: 5, uid: 501, lastPID: 10, ePID: 10, state: int32(Established),
		local: ap("10.0.0.1:40000"), remote: ap("10.0.0.2:443")}
	for _, soLen := range []int{76, 104} {
		t.Run("xsocket_n="+strconv.Itoa(soLen), func(t *testing.T) {
			// gencnt > xig_gen: created during the copy, skipped.
			late := base
			late.gencnt = 8
			late.lastPID = 11
			// Dual stack: an AF_INET6 listener bound to :: without V6ONLY.
			dual := base
			dual.vflag = inpIPv4 | inpIPv6
			dual.family = darwinInet6
			dual.local, dual.remote = ap("[::]:8080"), ap("[::]:0")
			dual.state = int32(Listen)
			// A user-space flow (macOS 12+): xso_family and so_uid are 0.
			flow := base
			flow.family, flow.uid = 0, 0
			flow.vflag = inpIPv6
			flow.local, flow.remote = ap("[2001:db8::1]:50000"), ap("[2001:db8::9]:443")
			// A flow with an IPv4 vflag and family 0.
			flow4 := flow
			flow4.vflag = inpIPv4
			flow4.local, flow4.remote = ap("192.0.2.1:50001"), ap("198.51.100.7:80")
			// IPv6 with KAME's embedded scope (interface 4) in fe80::.
			scoped := base
			scoped.vflag, scoped.family = inpIPv6, darwinInet6
			scoped.local, scoped.remote = ap("[fe80:4::1]:50002"), ap("[fe80:4::2]:22")
			// An IPv4-mapped address in an IPv6 pcb is unmapped.
			mapped := base
			mapped.vflag, mapped.family = inpIPv6, darwinInet6
			mapped.local, mapped.remote = ap("[::ffff:10.0.0.1]:50003"), ap("[::ffff:10.0.0.3]:25")
			// No vflag bit: the family comes from xso_family.
			novflag := base
			novflag.vflag, novflag.family = 0, darwinInet6
			novflag.local, novflag.remote = ap("[2001:db8::5]:1"), ap("[2001:db8::6]:2")
			// Neither vflag nor family: not an internet pcb, skipped.
			nofamily := base
			nofamily.vflag, nofamily.family = 0, 0
			// Another protocol in the list is skipped.
			other := base
			other.protocol = 17
			// A state outside xnu's range reads as Closed.
			badState := base
			badState.state = 42
			badState.local = ap("10.0.0.1:40001")

			buf := newPcbBuilder(7, 10, soLen).
				socket(base).socket(late).socket(dual).socket(flow).socket(flow4).
				socket(scoped).socket(mapped).socket(novflag).socket(nofamily).socket(other).socket(badState).
				trailer(8)
			got, err := DecodePcblist(buf, TCP, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := []Conn{
				{Proto: TCP, Local: base.local, Remote: base.remote, State: Established, LastPID: 10, EPID: 10, UID: 501},
				{Proto: TCP, Local: ap("[::]:8080"), Remote: ap("[::]:0"), State: Listen, LastPID: 10, EPID: 10, UID: 501, DualStack: true},
				{Proto: TCP, Local: flow.local, Remote: flow.remote, State: Established, LastPID: 10, EPID: 10},
				{Proto: TCP, Local: flow4.local, Remote: flow4.remote, State: Established, LastPID: 10, EPID: 10},
				{Proto: TCP, Local: ap("[fe80::1]:50002"), Remote: ap("[fe80::2]:22"), State: Established, LastPID: 10, EPID: 10, UID: 501},
				{Proto: TCP, Local: ap("10.0.0.1:50003"), Remote: ap("10.0.0.3:25"), State: Established, LastPID: 10, EPID: 10, UID: 501},
				{Proto: TCP, Local: novflag.local, Remote: novflag.remote, State: Established, LastPID: 10, EPID: 10, UID: 501},
				{Proto: TCP, Local: badState.local, Remote: base.remote, State: Closed, LastPID: 10, EPID: 10, UID: 501},
			}
			if len(got) != len(want) {
				t.Fatalf("got %d conns, want %d:\n%+v", len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("conn %d:\n got  %+v\n want %+v", i, got[i], want[i])
				}
			}
			if !got[5].Local.Addr().Is4() {
				t.Errorf("mapped address not unmapped: %v", got[5].Local)
			}
		})
	}
}

func TestDecodePcblistAppendsAndEmpty(t *testing.T) {
	// Header only, count 0: the kernel writes no trailer.
	empty := newPcbBuilder(3, 0, 104).b
	prev := []Conn{{Proto: UDP}}
	got, err := DecodePcblist(empty, TCP, prev)
	if err != nil || len(got) != 1 {
		t.Fatalf("empty list: got %v, %v", got, err)
	}
	// Header and trailer, no socket.
	got, err = DecodePcblist(newPcbBuilder(3, 0, 104).trailer(3), TCP, prev)
	if err != nil || len(got) != 1 {
		t.Fatalf("header+trailer: got %v, %v", got, err)
	}
	// A UDP socket without xtcpcb_n, and a TCP one without it (state Closed).
	s := pcbSock{proto: UDP, vflag: inpIPv4, local: ap("127.0.0.1:53"), remote: ap("0.0.0.0:0"), lastPID: 3}
	got, err = DecodePcblist(newPcbBuilder(3, 1, 104).socket(s).trailer(3), UDP, prev)
	if err != nil || len(got) != 2 || got[1].Local != s.local || got[1].State != Closed {
		t.Fatalf("udp: got %+v, %v", got, err)
	}
	s.proto, s.noTcpcb, s.state = TCP, true, int32(Established)
	got, err = DecodePcblist(newPcbBuilder(3, 1, 104).socket(s).trailer(3), TCP, nil)
	if err != nil || len(got) != 1 || got[0].State != Closed {
		t.Fatalf("tcp without tcpcb: got %+v, %v", got, err)
	}
}

func TestDecodePcblistErrors(t *testing.T) {
	good := pcbSock{proto: TCP, vflag: inpIPv4, local: ap("10.0.0.1:1"), remote: ap("10.0.0.2:2"), lastPID: 1, state: 4}
	valid := newPcbBuilder(7, 1, 104).socket(good).trailer(7)

	lying := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(lying[xinpgenLen:], 5000) // xinpcb_n claims 5000 bytes
	short := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(short[xinpgenLen:], 4) // len < 8
	zeroLen := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(zeroLen[xinpgenLen:], 0)
	badHeader := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(badHeader, 12)
	hugeHeader := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint32(hugeHeader, 0xffffffff)
	noSocket := good
	noSocket.noSocket = true
	shortInpcb := good
	shortInpcb.inpcbOnlyLen = 40

	orphan := newPcbBuilder(7, 1, 104)
	orphan.record(xsoSocket, 104) // an xsocket_n before any xinpcb_n
	twoSockets := newPcbBuilder(7, 1, 104)
	twoSockets.record(xsoInpcb, 104)
	twoSockets.record(xsoSocket, 104)
	twoSockets.record(xsoSocket, 104)

	for _, tc := range []struct {
		name, want string
		buf        []byte
	}{
		{"nil", "truncated", nil},
		{"short header", "truncated", valid[:20]},
		{"header length below 24", "header length", badHeader},
		{"header length past end", "header length", hugeHeader},
		{"header only, count 1", "no trailing xinpgen", valid[:xinpgenLen]},
		{"cut inside a record", "runs past the end", valid[:200]},
		{"cut between records", "no trailing xinpgen", valid[:xinpgenLen+104+104]},
		{"cut before the trailer", "no trailing xinpgen", valid[:len(valid)-xinpgenLen]},
		{"cut inside the trailer", "runs past the end", valid[:len(valid)-4]},
		{"lying length", "runs past the end", lying},
		{"length below 8", "length 4 < 8", short},
		{"length zero", "length 0 < 8", zeroLen},
		{"trailing garbage", "trailing garbage", append(append([]byte(nil), valid...), make([]byte, 16)...)},
		{"socket without xsocket_n", "no xsocket_n", newPcbBuilder(7, 1, 104).socket(noSocket).trailer(7)},
		{"xsocket_n too short", "xsocket_n is 72 bytes", newPcbBuilder(7, 1, 72).socket(good).trailer(7)},
		{"xinpcb_n too short", "xinpcb_n is 40 bytes", newPcbBuilder(7, 1, 104).socket(shortInpcb).trailer(7)},
		{"record before xinpcb_n", "before any xinpcb_n", orphan.trailer(7)},
		{"second xsocket_n", "second xsocket_n", twoSockets.trailer(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := []Conn{{Proto: UDP, LastPID: 77}}
			got, err := DecodePcblist(tc.buf, TCP, prev)
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "socket: pcblist: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if len(got) != 1 || got[0].LastPID != 77 {
				t.Errorf("dst changed on error: %+v", got)
			}
		})
	}
}

// buildPcblist lays out n TCP sockets, half IPv4 and half IPv6, in the
// macOS 13+ format.
func buildPcblist(n int) []byte {
	p := newPcbBuilder(100, uint32(n), 104)
	for i := 0; i < n; i++ {
		s := pcbSock{proto: TCP, vflag: inpIPv4, family: darwinInet, gencnt: 50, uid: 501, lastPID: int32(100 + i), ePID: int32(100 + i),
			state: int32(Established), local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(40000+i)),
			remote: ap("93.184.216.34:443")}
		if i%2 == 1 {
			s.vflag, s.family = inpIPv6, darwinInet6
			s.local = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), uint16(40000+i))
			s.remote = ap("[2001:db8::443]:443")
		}
		p.socket(s)
	}
	return p.trailer(100)
}

func TestBuildPcblist1000(t *testing.T) {
	buf := buildPcblist(1000)
	got, err := DecodePcblist(buf, TCP, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("got %d conns, want 1000", len(got))
	}
	if got[999].LastPID != 1099 || !got[999].Local.Addr().Is6() || got[998].Local.Port() != 40998 {
		t.Errorf("last conns: %+v %+v", got[998], got[999])
	}
	dst := make([]Conn, 0, 1000)
	if a := testing.AllocsPerRun(20, func() {
		dst, _ = DecodePcblist(buf, TCP, dst[:0])
	}); a != 0 {
		t.Errorf("DecodePcblist allocates %.1f times per call with a sized dst, want 0", a)
	}
}

func BenchmarkDecodePcblist1000(b *testing.B) {
	buf := buildPcblist(1000)
	dst := make([]Conn, 0, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		var err error
		if dst, err = DecodePcblist(buf, TCP, dst[:0]); err != nil || len(dst) != 1000 {
			b.Fatal(len(dst), err)
		}
	}
}

func FuzzDecodePcblist(f *testing.F) {
	// The seed corpus (testdata/fuzz/FuzzDecodePcblist) holds the four
	// fixtures; f.Add repeats two so the target has seeds even without it.
	f.Add(readFixture(f, "pcblist_tcp_macos13plus.bin"), true)
	f.Add(readFixture(f, "pcblist_udp_macos11_12.bin"), false)
	// Small synthetic lists reach the branches the fixtures do not (dual
	// stack, no vflag, embedded scope) with fewer bytes to mutate.
	dual := pcbSock{proto: TCP, vflag: inpIPv4 | inpIPv6, family: darwinInet6, local: ap("[fe80:4::1]:1"), remote: ap("[::]:0"), state: 1}
	novflag := pcbSock{proto: UDP, family: darwinInet, local: ap("10.0.0.1:53"), remote: ap("0.0.0.0:0")}
	f.Add(newPcbBuilder(7, 1, 76).socket(dual).trailer(7), true)
	f.Add(newPcbBuilder(7, 1, 104).socket(novflag).trailer(7), false)
	f.Add(newPcbBuilder(7, 0, 104).b, true)
	f.Fuzz(func(t *testing.T, buf []byte, tcp bool) {
		proto := UDP
		if tcp {
			proto = TCP
		}
		prev := []Conn{{LastPID: -1}}
		got, err := DecodePcblist(buf, proto, prev)
		if len(got) < 1 || got[0].LastPID != -1 {
			t.Fatalf("dst prefix clobbered: %+v", got)
		}
		if err != nil {
			if len(got) != 1 {
				t.Fatalf("error %v with %d conns appended", err, len(got)-1)
			}
			return
		}
		for _, c := range got[1:] {
			if c.Proto != proto || !c.Local.IsValid() || !c.Remote.IsValid() || c.State > TimeWait {
				t.Fatalf("bad conn %+v", c)
			}
			if c.Local.Addr().Is4In6() || c.Remote.Addr().Is4In6() {
				t.Fatalf("mapped address left: %+v", c)
			}
		}
	})
}
