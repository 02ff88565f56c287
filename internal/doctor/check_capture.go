package doctor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/macsensor/macsensor/sensor/capture"
)

// maxFrames bounds the frames a run keeps for its bundle.
const maxFrames = 256

// dnsAnswerIP is the address the doctor's DNS responder answers with
// (TEST-NET-1, RFC 5737: never routed).
var dnsAnswerIP = netip.MustParseAddr("192.0.2.53")

// checkCaptureOpen opens the packet capture on the loopback interface
// only (so that no other traffic is read) and runs it until the end of the
// run. Frames of the checks (the SYN to the listener, the DNS answer to the
// doctor's query) are kept for the bundle; every other frame is dropped.
func checkCaptureOpen(ctx context.Context, d *Doctor) (string, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return "", failf(nextBundle, "list interfaces: %v", err)
	}
	var lo string
	for _, i := range ifis {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 {
			lo = i.Name
			break
		}
	}
	if lo == "" {
		return "", failf("bring the loopback interface up (macOS: sudo ifconfig lo0 up)", "no loopback interface is up")
	}
	src, err := capture.Open(capture.Options{Loopback: true, Interfaces: []string{lo}, DNSCacheSize: 64})
	if err != nil {
		next := "macOS: check that /dev/bpf0 ... exist and are readable by root (ls -l /dev/bpf*); send the bundle"
		if errors.Is(err, os.ErrPermission) {
			next = "run as root; a security product may deny /dev/bpf: check its policy"
		}
		return "", failf(next, "cannot open packet capture on %s: %v", lo, err)
	}
	d.capture = src
	cctx, cancel := context.WithCancel(context.Background())
	d.capStop = cancel
	d.capDone = make(chan struct{})
	go func() {
		defer close(d.capDone)
		src.RunTap(cctx, d.onSYN, nil, d.tap)
	}()
	var desc []string
	for _, i := range src.Stats().Interfaces {
		state := "open"
		if !i.Open {
			state = "not open: " + i.Err
		}
		desc = append(desc, fmt.Sprintf("%s (%s) %s", i.Name, i.LinkType, state))
	}
	return "capturing on " + strings.Join(desc, ", "), nil
}

// onSYN runs on the capture's goroutine: it must not block.
func (d *Doctor) onSYN(s capture.SYN) {
	if s.Dst.Port() == d.lnAddr.Port() {
		select {
		case d.synSeen <- s:
		default:
		}
	}
}

// tap keeps a copy of the frames of the checks (matched by port).
func (d *Doctor) tap(f capture.Frame) {
	var dec capture.Decoded
	if capture.DecodeFrame(f.LinkType, f.Data, f.Time, &dec) != nil {
		return
	}
	keep := false
	switch dec.Kind {
	case capture.KindSYN:
		_, keep = d.capPorts.Load(dec.SYN.Dst.Port())
	case capture.KindDNS:
		_, keep = d.capPorts.Load(dec.DNS.Client.Port())
	}
	if !keep {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.frames) < maxFrames {
		f.Data = slices.Clone(f.Data)
		d.frames = append(d.frames, f)
	}
}

// checkCaptureSYN waits for the SYN of the runner's connection.
func checkCaptureSYN(ctx context.Context, d *Doctor) (string, error) {
	d.mu.Lock()
	conn := d.facts.Connection
	d.mu.Unlock()
	for {
		select {
		case s := <-d.synSeen:
			if conn != nil && s.Src.String() != conn.Local {
				continue
			}
			d.mu.Lock()
			d.facts.SYN = &SYNFact{Src: s.Src.String(), Dst: s.Dst.String()}
			d.mu.Unlock()
			return fmt.Sprintf("SYN %s -> %s at %s", s.Src, s.Dst, time.Unix(0, s.Time).UTC().Format("15:04:05.000000")), nil
		case <-ctx.Done():
			st := d.capture.Stats()
			return "", failf(nextBundle, "no SYN to %s seen (%d packets, %d SYNs, %d filtered, %d kernel drops on the loopback capture)",
				d.lnAddr, st.Packets, st.SYNs, st.Filtered, st.KernelDrops)
		}
	}
}

// checkCaptureDNS runs a DNS responder on 127.0.0.1:53 (or [::1]:53 when
// another program holds 127.0.0.1:53, as some enterprise DNS clients do)
// for one query, asks it for an A record of a test name and waits for the
// capture to decode the answer into its cache.
func checkCaptureDNS(ctx context.Context, d *Doctor) (string, error) {
	var srv, cl net.PacketConn
	var errs []string
	for _, c := range []struct{ network, server, client string }{
		{"udp4", "127.0.0.1:53", "127.0.0.1:0"},
		{"udp6", "[::1]:53", "[::1]:0"},
	} {
		s, err := net.ListenPacket(c.network, c.server)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		cc, err := net.ListenPacket(c.network, c.client)
		if err != nil {
			s.Close()
			errs = append(errs, err.Error())
			continue
		}
		srv, cl = s, cc
		break
	}
	if srv == nil {
		if strings.Contains(strings.Join(errs, " "), syscall.EADDRINUSE.Error()) {
			return "", Skipf("the test DNS responder cannot run: port 53 of 127.0.0.1 and ::1 is in use or unavailable (%s)", strings.Join(errs, "; "))
		}
		return "", failf(nextBundle, "cannot run the test DNS responder on port 53 of loopback: %s", strings.Join(errs, "; "))
	}
	defer srv.Close()
	defer cl.Close()
	clAddr := cl.LocalAddr().(*net.UDPAddr).AddrPort()
	srvAddr := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	d.capPorts.Store(clAddr.Port(), true)
	name := "doctor-" + d.nonce + ".macsensor.test"
	go serveDNSOnce(srv, name)
	var idb [2]byte
	rand.Read(idb[:])
	q, err := dnsMessage(binary.BigEndian.Uint16(idb[:]), name, false)
	if err != nil {
		return "", failf(nextBundle, "build the query: %v", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		cl.SetDeadline(dl)
	}
	if _, err := cl.WriteTo(q, srv.LocalAddr()); err != nil {
		return "", failf(nextBundle, "send the query: %v", err)
	}
	buf := make([]byte, 1500)
	if _, _, err := cl.ReadFrom(buf); err != nil {
		return "", failf(nextBundle, "no answer from the test responder: %v", err)
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if got, ok := d.capture.Cache().Lookup(dnsAnswerIP, time.Now()); ok {
			d.mu.Lock()
			d.facts.DNS = &DNSFact{Name: got, IP: dnsAnswerIP.String(), Server: srvAddr.String(), Client: clAddr.String()}
			d.mu.Unlock()
			if got != name {
				return "", failf(nextBundle, "the cache names %s %q, want %q", dnsAnswerIP, got, name)
			}
			return fmt.Sprintf("answer %s A %s from %s decoded into the DNS cache", name, dnsAnswerIP, srvAddr), nil
		}
		select {
		case <-ctx.Done():
			st := d.capture.Stats()
			return "", failf(nextBundle, "the answer was received but not seen by the capture (%d packets, %d DNS responses, %d malformed)",
				st.Packets, st.DNSResponses, st.Malformed)
		case <-tick.C:
		}
	}
}

// serveDNSOnce answers one A query for name with dnsAnswerIP.
func serveDNSOnce(pc net.PacketConn, name string) {
	buf := make([]byte, 1500)
	pc.SetReadDeadline(time.Now().Add(DefaultCheckTimeout))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return
	}
	var q layers.DNS
	if q.DecodeFromBytes(buf[:n], gopacket.NilDecodeFeedback) != nil || len(q.Questions) != 1 ||
		string(q.Questions[0].Name) != name {
		return
	}
	if a, err := dnsMessage(q.ID, name, true); err == nil {
		pc.WriteTo(a, from)
	}
}

// dnsMessage builds an A query for name, or its answer (dnsAnswerIP, TTL
// 300).
func dnsMessage(id uint16, name string, answer bool) ([]byte, error) {
	m := &layers.DNS{ID: id, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	if answer {
		m.QR, m.RA = true, true
		m.ResponseCode = layers.DNSResponseCodeNoErr
		m.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 300, IP: dnsAnswerIP.AsSlice()}}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := m.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
