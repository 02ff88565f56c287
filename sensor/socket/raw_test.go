package socket

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRawTablesLive reads the raw buffers of this host's socket table,
// decodes them and finds a listener and a connection the test opened.
func TestRawTablesLive(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no socket table on " + runtime.GOOS)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bufs, err := RawTables()
	if err != nil {
		t.Skipf("raw socket table not readable here: %v", err)
	}
	if runtime.GOOS == "linux" && len(bufs) != 4 || runtime.GOOS == "darwin" && len(bufs) != 2 {
		t.Fatalf("%d buffers", len(bufs))
	}
	var conns []Conn
	for _, b := range bufs {
		if conns, err = DecodeRaw(b, conns); err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
	}
	lnAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	var sawListen, sawConn bool
	for _, x := range conns {
		if x.Proto == TCP && x.Local == lnAddr && x.State == Listen {
			sawListen = true
		}
		if x.Proto == TCP && x.Local == local && x.Remote == lnAddr && x.State == Established {
			sawConn = true
		}
	}
	if !sawListen || !sawConn {
		t.Errorf("listener %s seen %v, connection %s -> %s seen %v, in %d sockets", lnAddr, sawListen, local, lnAddr, sawConn, len(conns))
	}
}

// TestDecodeRaw: a pcblist_n buffer decodes as DecodePcblist does; an
// inet_diag dump decodes with its sequence number and is refused cut or
// without NLMSG_DONE.
func TestDecodeRaw(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "pcblist_*.bin"))
	if len(files) == 0 {
		t.Fatal("no pcblist fixtures")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		proto := TCP
		if strings.Contains(filepath.Base(f), "_udp_") {
			proto = UDP
		}
		want, werr := DecodePcblist(data, proto, nil)
		got, gerr := DecodeRaw(RawBuffer{Name: "net.inet.x.pcblist_n", Proto: proto, Data: data}, nil)
		if werr != nil || gerr != nil || len(got) != len(want) || len(got) == 0 {
			t.Errorf("%s: DecodeRaw %d conns (%v), DecodePcblist %d (%v)", f, len(got), gerr, len(want), werr)
		}
	}
	msg := make([]byte, nlmsgHdrLen+inetDiagMsgLen)
	ne.PutUint32(msg[offNlLen:], uint32(len(msg)))
	ne.PutUint16(msg[offNlType:], sockDiagByFamily)
	ne.PutUint32(msg[offNlSeq:], 7)
	p := msg[nlmsgHdrLen:]
	p[offDiagFamily] = linuxInet
	p[offDiagState] = 10 // TCP_LISTEN
	p[offDiagSport], p[offDiagSport+1] = 0x1f, 0x90
	copy(p[offDiagSrc:], []byte{127, 0, 0, 1})
	done := make([]byte, nlmsgHdrLen+4)
	ne.PutUint32(done[offNlLen:], uint32(len(done)))
	ne.PutUint16(done[offNlType:], nlmsgDone)
	ne.PutUint32(done[offNlSeq:], 7)
	dump := append(append([]byte(nil), msg...), done...)
	got, err := DecodeRaw(RawBuffer{Name: "inet_diag/inet/tcp", Proto: TCP, Seq: 7, Data: dump}, nil)
	if err != nil || len(got) != 1 || got[0].Local != netip.MustParseAddrPort("127.0.0.1:8080") || got[0].State != Listen {
		t.Errorf("dump: %+v %v", got, err)
	}
	if _, err := DecodeRaw(RawBuffer{Name: "inet_diag/inet/tcp", Proto: TCP, Seq: 7, Data: msg}, nil); err == nil {
		t.Error("a dump without NLMSG_DONE was accepted")
	}
	if _, err := DecodeRaw(RawBuffer{Name: "inet_diag/inet/tcp", Proto: TCP, Seq: 7, Data: dump[:5]}, nil); err == nil {
		t.Error("a cut dump was accepted")
	}
}
