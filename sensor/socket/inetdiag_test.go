package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// The inetdiag_*.bin fixtures are NETLINK_SOCK_DIAG dump replies captured on
// Linux 6.18 (amd64) by TestCaptureFixtures, reduced to the test's own
// sockets on ports 47801-47811 plus the NLMSG_DONE; procnet_*.txt are the
// /proc/net lines of the same sockets at the same moment (testdata/README.md).
// Netlink is host-endian: the fixtures are little-endian.
var (
	wantDiagTCP4 = []Conn{
		{Proto: TCP, Local: ap("127.0.0.1:47801"), Remote: ap("0.0.0.0:0"), State: Listen, Inode: 37030},
		{Proto: TCP, Local: ap("127.0.0.1:47810"), Remote: ap("0.0.0.0:0"), State: Listen, Inode: 37038},
		{Proto: TCP, Local: ap("127.0.0.1:47801"), Remote: ap("127.0.0.1:47802"), State: Established, Inode: 37033},
		{Proto: TCP, Local: ap("127.0.0.1:47811"), Remote: ap("127.0.0.1:47810"), State: TimeWait, Inode: 0},
		{Proto: TCP, Local: ap("127.0.0.1:47802"), Remote: ap("127.0.0.1:47801"), State: Established, Inode: 37032},
	}
	wantDiagTCP6 = []Conn{
		{Proto: TCP, Local: ap("[::1]:47803"), Remote: ap("[::]:0"), State: Listen, Inode: 37034},
		{Proto: TCP, Local: ap("[::]:47805"), Remote: ap("[::]:0"), State: Listen, Inode: 37042, DualStack: true},
		{Proto: TCP, Local: ap("[::1]:47803"), Remote: ap("[::1]:47804"), State: Established, Inode: 37037},
		{Proto: TCP, Local: ap("[::1]:47804"), Remote: ap("[::1]:47803"), State: Established, Inode: 37036},
	}
	wantDiagUDP4 = []Conn{
		{Proto: UDP, Local: ap("127.0.0.1:47806"), Remote: ap("0.0.0.0:0"), Inode: 37044},
	}
	wantDiagUDP6 = []Conn{
		{Proto: UDP, Local: ap("[::1]:47807"), Remote: ap("[::1]:47808"), Inode: 37045},
		{Proto: UDP, Local: ap("[::]:47809"), Remote: ap("[::]:0"), Inode: 37046, DualStack: true},
	}
)

func littleEndianHost() bool { return ne.Uint16([]byte{1, 0}) == 1 }

func TestParseDiagFixtures(t *testing.T) {
	if !littleEndianHost() {
		t.Skip("the netlink fixtures are little-endian")
	}
	for _, tc := range []struct {
		file  string
		proto uint8
		want  []Conn
	}{
		{"inetdiag_tcp4.bin", TCP, wantDiagTCP4},
		{"inetdiag_tcp6.bin", TCP, wantDiagTCP6},
		{"inetdiag_udp4.bin", UDP, wantDiagUDP4},
		{"inetdiag_udp6.bin", UDP, wantDiagUDP6},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, done, err := parseDiag(readFixture(t, tc.file), tc.proto, 1, nil)
			if err != nil || !done {
				t.Fatalf("done %v, err %v", done, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d conns, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("conn %d:\n got  %+v\n want %+v", i, got[i], tc.want[i])
				}
			}
			// A different sequence number: every message is stale.
			got, done, err = parseDiag(readFixture(t, tc.file), tc.proto, 2, nil)
			if err != nil || done || len(got) != 0 {
				t.Errorf("seq 2: got %d conns, done %v, err %v; want all skipped", len(got), done, err)
			}
		})
	}
}

func TestAppendDiagRequest(t *testing.T) {
	got := appendDiagRequest([]byte{0xaa}, linuxInet6, UDP, 0x01020304)
	want := make([]byte, 1+16+56)
	want[0] = 0xaa
	m := want[1:]
	ne.PutUint32(m[0:], 72)
	ne.PutUint16(m[4:], 20)    // SOCK_DIAG_BY_FAMILY
	ne.PutUint16(m[6:], 0x301) // NLM_F_REQUEST | NLM_F_DUMP
	ne.PutUint32(m[8:], 0x01020304)
	m[16], m[17] = 10, 17 // AF_INET6, IPPROTO_UDP
	ne.PutUint32(m[20:], 0xffffffff)
	if !bytes.Equal(got, want) {
		t.Errorf("request\n got  %x\n want %x", got, want)
	}
}

// diagBuilder lays out netlink messages for the error cases.
type diagBuilder struct{ b []byte }

func (d *diagBuilder) msg(typ uint16, seq uint32, payload []byte) *diagBuilder {
	start := len(d.b)
	d.b = append(d.b, make([]byte, align4(nlmsgHdrLen+len(payload)))...)
	m := d.b[start:]
	ne.PutUint32(m[offNlLen:], uint32(nlmsgHdrLen+len(payload)))
	ne.PutUint16(m[offNlType:], typ)
	ne.PutUint16(m[offNlFlags:], 2) // NLM_F_MULTI
	ne.PutUint32(m[offNlSeq:], seq)
	copy(m[nlmsgHdrLen:], payload)
	return d
}

func diagMsg(family, state uint8, local, remote netip.AddrPort, uid, inode uint32, attrs ...[]byte) []byte {
	p := make([]byte, inetDiagMsgLen)
	p[offDiagFamily], p[offDiagState] = family, state
	binary.BigEndian.PutUint16(p[offDiagSport:], local.Port())
	binary.BigEndian.PutUint16(p[offDiagDport:], remote.Port())
	l, r := local.Addr().AsSlice(), remote.Addr().AsSlice()
	copy(p[offDiagSrc:], l)
	copy(p[offDiagDst:], r)
	ne.PutUint32(p[offDiagUID:], uid)
	ne.PutUint32(p[offDiagInode:], inode)
	for _, a := range attrs {
		p = append(p, a...)
	}
	return p
}

func rtattr(typ uint16, val ...byte) []byte {
	a := make([]byte, align4(rtaHdrLen+len(val)))
	ne.PutUint16(a, uint16(rtaHdrLen+len(val)))
	ne.PutUint16(a[2:], typ)
	copy(a[rtaHdrLen:], val)
	return a
}

func TestParseDiagSynthetic(t *testing.T) {
	errPayload := make([]byte, 4+nlmsgHdrLen)
	enoent := -int32(syscall.ENOENT)
	ne.PutUint32(errPayload, uint32(enoent))
	ack := make([]byte, 4+nlmsgHdrLen)

	// A v4-mapped AF_INET6 connection, a v6-only listener, every TCP state.
	d := &diagBuilder{}
	d.msg(nlmsgNoop, 9, nil).
		msg(sockDiagByFamily, 9, diagMsg(linuxInet6, 1, ap("[::ffff:10.0.0.1]:1000"), ap("[::ffff:10.0.0.2]:80"), 1000, 77)).
		msg(sockDiagByFamily, 9, diagMsg(linuxInet6, 10, ap("[::]:22"), ap("[::]:0"), 0, 78, rtattr(5, 0), rtattr(inetDiagSkV6Only, 1))).
		msg(nlmsgError, 9, ack)
	for s := uint8(0); s <= 14; s++ {
		d.msg(sockDiagByFamily, 9, diagMsg(linuxInet, s, ap("10.0.0.1:1"), ap("10.0.0.2:2"), 0, uint32(s)))
	}
	got, done, err := parseDiag(d.b, TCP, 9, nil)
	if err != nil || done {
		t.Fatalf("done %v err %v", done, err)
	}
	if len(got) != 2+15 {
		t.Fatalf("got %d conns", len(got))
	}
	want0 := Conn{Proto: TCP, Local: ap("10.0.0.1:1000"), Remote: ap("10.0.0.2:80"), State: Established, UID: 1000, Inode: 77}
	if got[0] != want0 {
		t.Errorf("mapped:\n got  %+v\n want %+v", got[0], want0)
	}
	want1 := Conn{Proto: TCP, Local: ap("[::]:22"), Remote: ap("[::]:0"), State: Listen, Inode: 78}
	if got[1] != want1 {
		t.Errorf("v6only listener:\n got  %+v\n want %+v", got[1], want1)
	}
	wantStates := []State{Closed, Established, SynSent, SynReceived, FinWait1, FinWait2, TimeWait, Closed,
		CloseWait, LastAck, Listen, Closing, SynReceived, Closed, Closed}
	for i, w := range wantStates {
		if s := got[2+i].State; s != w {
			t.Errorf("linux state %d -> %v, want %v", i, s, w)
		}
	}
	// UDP sockets have state 0 whatever Linux says.
	got, _, err = parseDiag((&diagBuilder{}).msg(sockDiagByFamily, 1, diagMsg(linuxInet, 1, ap("1.2.3.4:5"), ap("5.6.7.8:9"), 0, 1)).b, UDP, 1, nil)
	if err != nil || len(got) != 1 || got[0].State != Closed || got[0].Proto != UDP {
		t.Errorf("udp: %+v %v", got, err)
	}

	// NLMSG_ERROR carries the errno.
	_, _, err = parseDiag((&diagBuilder{}).msg(nlmsgError, 4, errPayload).b, UDP, 4, nil)
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("NLMSG_ERROR: err %v, want ENOENT", err)
	}
}

func TestParseDiagErrors(t *testing.T) {
	good := (&diagBuilder{}).msg(sockDiagByFamily, 1, diagMsg(linuxInet, 1, ap("1.2.3.4:5"), ap("5.6.7.8:9"), 0, 1)).msg(nlmsgDone, 1, make([]byte, 4)).b
	lying := append([]byte(nil), good...)
	ne.PutUint32(lying, 5000)
	tiny := append([]byte(nil), good...)
	ne.PutUint32(tiny, 8)
	badFamily := (&diagBuilder{}).msg(sockDiagByFamily, 1, diagMsg(7, 1, ap("1.2.3.4:5"), ap("5.6.7.8:9"), 0, 1)).b
	badAttr := diagMsg(linuxInet6, 10, ap("[::]:1"), ap("[::]:0"), 0, 1, rtattr(inetDiagSkV6Only, 0))
	ne.PutUint16(badAttr[inetDiagMsgLen:], 200)
	shortAttr := append(diagMsg(linuxInet6, 10, ap("[::]:1"), ap("[::]:0"), 0, 1), 1, 0)
	for _, tc := range []struct {
		name, want string
		buf        []byte
	}{
		{"truncated header", "truncated netlink header", good[:10]},
		{"cut message", "length 88 outside", good[:60]},
		{"lying length", "length 5000 outside", lying},
		{"length below header", "length 8 outside", tiny},
		{"short inet_diag_msg", "inet_diag_msg is 40 bytes", (&diagBuilder{}).msg(sockDiagByFamily, 1, make([]byte, 40)).b},
		{"bad family", "address family 7", badFamily},
		{"bad attribute length", "attribute at offset 0: length 200", (&diagBuilder{}).msg(sockDiagByFamily, 1, badAttr).b},
		{"truncated attribute", "truncated attribute", (&diagBuilder{}).msg(sockDiagByFamily, 1, shortAttr).b},
		{"short NLMSG_ERROR", "truncated NLMSG_ERROR", (&diagBuilder{}).msg(nlmsgError, 1, []byte{1}).b},
		{"unknown type", "unexpected message type 99", (&diagBuilder{}).msg(99, 1, nil).b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := []Conn{{LastPID: 5}}
			got, done, err := parseDiag(tc.buf, TCP, 1, prev)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "socket: inet_diag: ") {
				t.Errorf("err %v, want %q", err, tc.want)
			}
			if done || len(got) != 1 {
				t.Errorf("done %v, %d conns: dst must be unchanged on error", done, len(got))
			}
		})
	}
}

func FuzzParseDiag(f *testing.F) {
	f.Add(readFixture(f, "inetdiag_tcp6.bin"), true)
	f.Add(readFixture(f, "inetdiag_udp4.bin"), false)
	f.Fuzz(func(t *testing.T, b []byte, tcp bool) {
		proto := UDP
		if tcp {
			proto = TCP
		}
		got, done, err := parseDiag(b, proto, 1, []Conn{{LastPID: -1}})
		if len(got) < 1 || got[0].LastPID != -1 {
			t.Fatalf("dst prefix clobbered")
		}
		if err != nil && (done || len(got) != 1) {
			t.Fatalf("error %v with done %v and %d conns", err, done, len(got)-1)
		}
		for _, c := range got[1:] {
			if c.Proto != proto || !c.Local.IsValid() || c.Local.Addr().Is4In6() || c.State > TimeWait {
				t.Fatalf("bad conn %+v", c)
			}
		}
	})
}
