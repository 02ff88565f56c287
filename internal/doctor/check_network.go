package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/socket"
)

// checkConnection starts a copy of the binary named
// com.apple.automator.runner that connects to the loopback listener, and
// waits for the socket poll's events: the runner's connection_attempted
// (egress, its pid, its address and port to the listener's) and the
// doctor's own connection_accepted (ingress). The kernel's state of the
// runner's socket must be ESTABLISHED.
func checkConnection(ctx context.Context, d *Doctor) (string, error) {
	c, err := d.spawn(ctx, d.runnerPath, "connect", d.lnAddr.String())
	if err != nil {
		return "", failf(nextBundle, "start %s: %v", d.runnerPath, err)
	}
	local, err := netip.ParseAddrPort(c.ready)
	if err != nil {
		return "", failf(nextBundle, "the runner reported %q, not its address: %v", c.ready, err)
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	var out, in *ecs.Event
	var conn *socket.Conn
	_, err = d.pollFor(ctx, fmt.Sprintf("network events of pid %d's connection %s -> %s", c.pid, local, d.lnAddr), func(ev *ecs.Event) bool {
		if ev == nil {
			if out != nil && conn == nil {
				conn = findConn(d.socks.last, local, d.lnAddr)
			}
			return out != nil && in != nil && conn != nil
		}
		if !hasType(ev, "start") {
			return false
		}
		if ev.Process.PID == int64(c.pid) && ev.Event.Action == "connection_attempted" &&
			ev.Destination.Port == int64(d.lnAddr.Port()) {
			out = ev.Clone()
		}
		if ev.Process.PID == int64(d.facts.DoctorPID) && ev.Event.Action == "connection_accepted" &&
			ev.Source.Port == int64(local.Port()) {
			in = ev.Clone()
		}
		return false
	})
	if err != nil {
		d.mu.Lock()
		d.facts.Connection = &ConnFact{PID: c.pid, Transport: "tcp", Local: local.String(), Remote: d.lnAddr.String(),
			State: socket.Established.String(), Direction: "egress"}
		d.mu.Unlock()
		d.recordSockets()
		d.recordProcess(c.pid)
		switch {
		case out == nil:
			return "", err
		case in == nil:
			return "", failf(nextBundle, "the runner's connection was seen, the doctor's accepted end was not: %v", err)
		default:
			return "", failf(nextBundle, "no socket %s -> %s in the kernel's table: %v", local, d.lnAddr, err)
		}
	}
	fact := &ConnFact{Seen: true, PID: int32(out.Process.PID), Transport: out.Network.Transport, Local: local.String(),
		Remote: d.lnAddr.String(), State: conn.State.String(), Direction: out.Network.Direction}
	d.mu.Lock()
	d.facts.Connection = fact
	for _, ev := range d.events {
		if ev.Process.PID == int64(c.pid) && ev.Event.Action == "exec" {
			d.facts.Runner = &ProcessFact{Seen: true, PID: c.pid, PPID: int32(ev.Process.Parent.PID), Name: ev.Process.Name,
				Executable: ev.Process.Executable, Args: ev.Process.Args, Start: ev.Process.Start}
			fmt.Sscan(ev.User.ID, &d.facts.Runner.UID)
		}
	}
	d.mu.Unlock()
	d.recordSockets()
	d.recordProcess(c.pid)
	value := fmt.Sprintf("pid %d %s %s -> %s %s %s; accepted by pid %d (ingress)", fact.PID, fact.Transport,
		fact.Local, fact.Remote, fact.State, fact.Direction, in.Process.PID)

	var bad []string
	expect := func(what, got, want string) {
		if got != want {
			bad = append(bad, fmt.Sprintf("%s %q, want %q", what, got, want))
		}
	}
	expect("process.name", out.Process.Name, runnerName)
	expect("process.executable", out.Process.Executable, d.runnerPath)
	expect("network.transport", out.Network.Transport, "tcp")
	expect("network.direction", out.Network.Direction, "egress")
	expect("source", endpoint(out.Source), local.String())
	expect("destination", endpoint(out.Destination), d.lnAddr.String())
	expect("state", conn.State.String(), socket.Established.String())
	expect("accepted network.direction", in.Network.Direction, "ingress")
	expect("accepted destination", endpoint(in.Destination), d.lnAddr.String())
	if owner := conn.Owner(); owner != c.pid {
		bad = append(bad, fmt.Sprintf("kernel owner pid %d (last %d, effective %d), want %d", owner, conn.LastPID, conn.EPID, c.pid))
	}
	if len(bad) > 0 {
		return value, failf(nextBundle, "%s", strings.Join(bad, "; "))
	}
	return value, nil
}

func hasType(ev *ecs.Event, t string) bool {
	for _, x := range ev.Event.Type {
		if x == t {
			return true
		}
	}
	return false
}

func endpoint(e ecs.Endpoint) string {
	a, err := netip.ParseAddr(e.IP)
	if err != nil {
		return fmt.Sprintf("%s:%d", e.IP, e.Port)
	}
	return netip.AddrPortFrom(a, uint16(e.Port)).String()
}

// findConn returns a copy of the TCP socket local -> remote in conns.
func findConn(conns []socket.Conn, local, remote netip.AddrPort) *socket.Conn {
	for i := range conns {
		c := conns[i]
		if c.Proto == socket.TCP && c.Local == local && c.Remote == remote {
			return &c
		}
	}
	return nil
}

// rawSocketIndex describes the socket buffers of a bundle.
type rawSocketIndex struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Proto uint8  `json:"proto"`
	Seq   uint32 `json:"seq,omitempty"`
}

// recordSockets keeps the raw socket table buffers (both pcblist_n on
// macOS, the four inet_diag dumps on Linux) with an index.
func (d *Doctor) recordSockets() {
	bufs, err := socket.RawTables()
	if err != nil && len(bufs) == 0 {
		d.addFile("socket/error.txt", []byte(err.Error()+"\n"))
		return
	}
	var idx []rawSocketIndex
	for _, b := range bufs {
		file := "socket/" + strings.ReplaceAll(b.Name, "/", "-")
		d.addFile(file, b.Data)
		idx = append(idx, rawSocketIndex{Name: b.Name, File: file, Proto: b.Proto, Seq: b.Seq})
	}
	j, _ := json.MarshalIndent(idx, "", "  ")
	d.addFile("socket/index.json", j)
}

// checkNetworkDecode decodes the recorded socket buffers and finds the
// runner's connection in them with the state (and, on macOS, the pid) the
// live poll reported.
func checkNetworkDecode(ctx context.Context, d *Doctor) (string, error) {
	d.mu.Lock()
	files := d.snapshotFiles()
	facts := d.facts
	d.mu.Unlock()
	res := replaySockets(files, &facts, runtime.GOOS)
	if res.err != nil {
		return res.value, failf(nextBundle, "%v", res.err)
	}
	return res.value, nil
}
