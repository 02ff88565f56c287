package socket

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var capture = flag.Bool("capture", false, "rewrite testdata/inetdiag_*.bin and testdata/procnet_*.txt from this machine's kernel")

// Fixed ports of the captured sockets (see testdata/README.md).
const capturePortBase = 47800

// TestCaptureFixtures rewrites the Linux fixtures: it opens known sockets on
// fixed ports, dumps inet_diag and /proc/net, and keeps only the messages and
// lines of those ports. Run as root with
//
//	go test ./sensor/socket/ -run TestCaptureFixtures -args -capture
//
// then update the expected values in inetdiag_test.go and procnet_test.go
// (inodes and TIME_WAIT timers change with every capture).
func TestCaptureFixtures(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite the Linux fixtures")
	}
	p := func(i int) int { return capturePortBase + i }
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lc := net.ListenConfig{}
	pair := func(network, host string, lport, cport int, closeClient bool) {
		ln, err := lc.Listen(context.Background(), network, net.JoinHostPort(host, fmt.Sprint(lport)))
		check(err)
		closers = append(closers, ln.Close)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host), Port: cport}}
		c, err := d.Dial(network, ln.Addr().String())
		check(err)
		s, err := ln.Accept()
		check(err)
		closers = append(closers, s.Close)
		if closeClient {
			c.Close() // the active closer goes to TIME_WAIT once the server closes too
			s.Close()
		} else {
			closers = append(closers, c.Close)
		}
	}
	pair("tcp4", "127.0.0.1", p(1), p(2), false)
	pair("tcp6", "::1", p(3), p(4), false)
	pair("tcp4", "127.0.0.1", p(10), p(11), true)
	ds, err := net.Listen("tcp", fmt.Sprintf(":%d", p(5))) // dual stack
	check(err)
	closers = append(closers, ds.Close)
	u4, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p(6)})
	check(err)
	closers = append(closers, u4.Close)
	u6, err := net.DialUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback, Port: p(7)}, &net.UDPAddr{IP: net.IPv6loopback, Port: p(8)})
	check(err)
	closers = append(closers, u6.Close)
	u46, err := net.ListenUDP("udp", &net.UDPAddr{Port: p(9)}) // dual stack
	check(err)
	closers = append(closers, u46.Close)

	ours := func(sport, dport uint16) bool {
		return (sport > capturePortBase && sport <= capturePortBase+20) || (dport > capturePortBase && dport <= capturePortBase+20)
	}
	// Wait for the TIME_WAIT socket to show in the dump.
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw := captureDiag(t, linuxInet, TCP)
		if bytes.Contains(filterDiag(raw, ours), []byte{linuxInet, 6}) || time.Now().After(deadline) {
			break
		}
	}

	for _, tb := range linuxTables {
		name := "tcp"
		if tb.proto == UDP {
			name = "udp"
		}
		bin := fmt.Sprintf("inetdiag_%s%d.bin", name, map[bool]int{false: 4, true: 6}[tb.v6])
		out := filterDiag(captureDiag(t, tb.family, tb.proto), ours)
		check(os.WriteFile(filepath.Join("testdata", bin), out, 0o644))

		text, err := os.ReadFile(tb.path)
		check(err)
		lines := strings.SplitAfter(string(text), "\n")
		var keep strings.Builder
		keep.WriteString(lines[0])
		for _, l := range lines[1:] {
			c, err := parseProcNetLine([]byte(l), tb.proto, tb.v6)
			if err == nil && ours(c.Local.Port(), c.Remote.Port()) {
				keep.WriteString(l)
			}
		}
		check(os.WriteFile(filepath.Join("testdata", "procnet_"+filepath.Base(tb.path)+".txt"), []byte(keep.String()), 0o644))
		t.Logf("wrote %s (%d bytes) and procnet_%s.txt", bin, len(out), filepath.Base(tb.path))
	}
}

// captureDiag returns the raw datagrams of one dump, concatenated.
func captureDiag(t *testing.T, family, proto uint8) []byte {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, appendDiagRequest(nil, family, proto, 1)); err != nil {
		t.Fatal(err)
	}
	var all []byte
	buf := make([]byte, diagBufLen)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, buf[:n]...)
		if _, done, err := parseDiag(buf[:n], proto, 1, nil); err != nil || done {
			if err != nil {
				t.Fatal(err)
			}
			return all
		}
	}
}

// filterDiag keeps the sock_diag messages whose ports satisfy keep, and the
// NLMSG_DONE.
func filterDiag(raw []byte, keep func(sport, dport uint16) bool) []byte {
	var out []byte
	for off := 0; off+nlmsgHdrLen <= len(raw); {
		l := int(ne.Uint32(raw[off:]))
		m := raw[off : off+l]
		off += align4(l)
		switch ne.Uint16(m[offNlType:]) {
		case sockDiagByFamily:
			p := m[nlmsgHdrLen:]
			if keep(be16(p[offDiagSport:]), be16(p[offDiagDport:])) {
				out = append(out, m...)
			}
		case nlmsgDone:
			out = append(out, m...)
		}
	}
	return out
}
