package socket

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// Live-table helpers shared by socket_linux_test.go and socket_darwin_test.go.

// liveDeadline bounds the wait for the kernel table to show the test's
// sockets; List is called in a loop until then, never slept on.
const liveDeadline = 10 * time.Second

type liveSockets struct {
	want  map[string]Conn // by description
	close func()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	panic(fmt.Sprintf("unexpected addr %T", a))
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// openLiveSockets opens, in this process: a TCP listener on 127.0.0.1, a
// connection to it (both ends), an unconnected and a connected UDP socket,
// and when IPv6 works, a TCP pair on ::1 and a dual-stack listener on [::].
func openLiveSockets(t *testing.T) liveSockets {
	t.Helper()
	pid := int32(os.Getpid())
	uid := uint32(os.Getuid())
	var closers []func() error
	must := func(err error) {
		t.Helper()
		if err != nil {
			for _, c := range closers {
				c()
			}
			t.Fatal(err)
		}
	}
	want := map[string]Conn{}
	tcpPair := func(network, addr, name string) {
		ln, err := net.Listen(network, addr)
		must(err)
		closers = append(closers, ln.Close)
		c, err := net.Dial(network, ln.Addr().String())
		must(err)
		closers = append(closers, c.Close)
		s, err := ln.Accept()
		must(err)
		closers = append(closers, s.Close)
		lnAP, cAP := addrPortOf(ln.Addr()), addrPortOf(c.LocalAddr())
		unspec := netip.IPv4Unspecified()
		if lnAP.Addr().Is6() {
			unspec = netip.IPv6Unspecified()
		}
		want[name+" listener"] = Conn{Proto: TCP, Local: lnAP, Remote: netip.AddrPortFrom(unspec, 0), State: Listen, LastPID: pid, EPID: pid, UID: uid}
		want[name+" client"] = Conn{Proto: TCP, Local: cAP, Remote: lnAP, State: Established, LastPID: pid, EPID: pid, UID: uid}
		want[name+" server"] = Conn{Proto: TCP, Local: lnAP, Remote: cAP, State: Established, LastPID: pid, EPID: pid, UID: uid}
	}
	tcpPair("tcp4", "127.0.0.1:0", "tcp4")

	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(err)
	closers = append(closers, u.Close)
	uAP := addrPortOf(u.LocalAddr())
	want["udp4 unconnected"] = Conn{Proto: UDP, Local: uAP, Remote: netip.MustParseAddrPort("0.0.0.0:0"), LastPID: pid, EPID: pid, UID: uid}
	uc, err := net.DialUDP("udp4", nil, u.LocalAddr().(*net.UDPAddr))
	must(err)
	closers = append(closers, uc.Close)
	want["udp4 connected"] = Conn{Proto: UDP, Local: addrPortOf(uc.LocalAddr()), Remote: uAP, LastPID: pid, EPID: pid, UID: uid}

	if hasIPv6Loopback() {
		tcpPair("tcp6", "[::1]:0", "tcp6")
		// "tcp" on a wildcard address is a dual-stack AF_INET6 socket in Go.
		ds, err := net.Listen("tcp", ":0")
		must(err)
		closers = append(closers, ds.Close)
		dsAP := unmapAP(addrPortOf(ds.Addr()))
		if dsAP.Addr().Is6() {
			want["dual-stack listener"] = Conn{Proto: TCP, Local: netip.AddrPortFrom(netip.IPv6Unspecified(), dsAP.Port()),
				Remote: netip.MustParseAddrPort("[::]:0"), State: Listen, LastPID: pid, EPID: pid, UID: uid, DualStack: true}
		}
	}
	return liveSockets{want: want, close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
}

// waitFor lists tbl until every wanted socket is present, or fails at the
// deadline with what is missing.
func waitFor(t *testing.T, tbl *Table, want map[string]Conn, dualStackKnown bool) []Conn {
	t.Helper()
	deadline := time.Now().Add(liveDeadline)
	var conns []Conn
	for {
		var err error
		if conns, err = tbl.List(conns[:0]); err != nil {
			t.Fatal(err)
		}
		var missing []string
		for name, w := range want {
			if !dualStackKnown {
				w.DualStack = false
			}
			if !containsConn(conns, w) {
				missing = append(missing, fmt.Sprintf("%s %+v", name, w))
			}
		}
		if len(missing) == 0 {
			return conns
		}
		if time.Now().After(deadline) {
			var related []string
			for _, c := range conns {
				for _, w := range want {
					if c.Local.Port() == w.Local.Port() || c.Remote.Port() == w.Local.Port() {
						related = append(related, fmt.Sprintf("%+v", c))
						break
					}
				}
			}
			t.Fatalf("after %v, missing:\n  %s\nlisted sockets on the same ports:\n  %s\nstats %+v",
				liveDeadline, strings.Join(missing, "\n  "), strings.Join(related, "\n  "), tbl.Stats())
		}
	}
}

func containsConn(conns []Conn, w Conn) bool {
	for _, c := range conns {
		c.Inode = 0 // not known in advance
		if c.EPID == 0 {
			// macOS leaves so_e_pid 0 unless the socket is delegated
			// (socreate_internal, bsd/kern/uipc_socket.c).
			c.EPID = c.LastPID
		}
		if c == w {
			return true
		}
	}
	return false
}
