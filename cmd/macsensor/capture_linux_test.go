//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/macsensor/macsensor/internal/testlock"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/capture"
)

// End-to-end tests of the packet capture in the daemon (issue 6): they
// build `macsensor` and the stand-in helper of sensor/testdata/helper into
// the test's own folder, run `macsensor run` with [capture] on, and wait on
// the files the daemon writes, with deadlines. They need root (packet
// capture) and skip without it; they hold the host-wide lock of the other
// end-to-end tests (a daemon sees every process of the host).

const (
	captWithin = 20 * time.Second // bound of every wait for the daemon
	// captRounds is how many short-lived runners must each raise the seed
	// rule's alert.
	captRounds = 10
	// The rules of these tests: the seed rule with host.os.type "linux",
	// a rule on destination.domain and one on dns.question.name.
	captSeedID   = "5d9f8cfc-0d03-443e-a167-0000000ca001"
	captDomainID = "0b5e2e00-0000-4000-8000-0000000ca002"
	captDNSID    = "0b5e2e00-0000-4000-8000-0000000ca003"
	captName     = "runner.macsensor.test" // the name the test's DNS answer gives the listener
	captRunner   = "com.apple.automator.runner"
)

// captEnv is one test's binaries and work folder.
type captEnv struct {
	t      *testing.T
	work   string
	daemon string
	helper string
}

// newCaptEnv builds the binaries; with lock it also takes the host-wide
// lock of the e2e tests for the whole test.
func newCaptEnv(t *testing.T, lock bool) *captEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("capture e2e: builds and runs the daemon; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("capture e2e: packet capture needs root")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build the daemon with: %v", err)
	}
	if lock {
		testlock.Hold(t, testlock.E2E)
	}
	e := &captEnv{t: t, work: t.TempDir()}
	// Other users (the nobody test) must reach the binaries.
	for d := e.work; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	build := func(out, pkg string) {
		cmd := exec.Command(goTool, "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	e.daemon = filepath.Join(e.work, "macsensor")
	e.helper = filepath.Join(e.work, "helper")
	build(e.daemon, ".")
	build(e.helper, "../../sensor/testdata/helper")
	return e
}

// helperAs copies the helper under name (process.name comes from the
// executable's name).
func (e *captEnv) helperAs(name string) string {
	p := filepath.Join(e.work, "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	data, err := os.ReadFile(e.helper)
	if err != nil {
		e.t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// rules writes the test's three rules into a folder and returns it.
func (e *captEnv) rules() string {
	dir := filepath.Join(e.work, "rules")
	os.MkdirAll(dir, 0o755)
	data, err := os.ReadFile("../../detect/rules/execution_script_via_automator_workflows.toml")
	if err != nil {
		e.t.Fatal(err)
	}
	seed := string(data)
	for _, r := range []struct {
		old, new string
		n        int
	}{{`host.os.type == "macos"`, `host.os.type == "linux"`, 2}, {`rule_id = "5d9f8cfc-0d03-443e-a167-2b0597ce0965"`, `rule_id = "` + captSeedID + `"`, 1}} {
		if strings.Count(seed, r.old) != r.n {
			e.t.Fatalf("the seed rule changed: %q occurs %d times, want %d", r.old, strings.Count(seed, r.old), r.n)
		}
		seed = strings.ReplaceAll(seed, r.old, r.new)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	write("seed_linux.toml", seed)
	rule := func(id, name, query string) string {
		return fmt.Sprintf(`[metadata]
creation_date = "2026/11/27"
maturity = "development"
updated_date = "2026/11/27"

[rule]
author = ["macsensor tests"]
description = "%s (capture end-to-end test)."
language = "eql"
license = "Elastic License v2"
name = "%s"
risk_score = 21
rule_id = "%s"
severity = "low"
type = "eql"
version = 1
query = '''
%s
'''
`, name, name, id, query)
	}
	write("domain.toml", rule(captDomainID, "Capture E2E Destination Domain",
		`network where host.os.type == "linux" and destination.domain == "`+captName+`"`))
	write("dns.toml", rule(captDNSID, "Capture E2E DNS Question",
		`network where event.action == "lookup_result" and dns.question.name == "`+captName+`"`))
	return dir
}

// captDaemon is a running `macsensor run`.
type captDaemon struct {
	t      *testing.T
	state  string
	cmd    *exec.Cmd
	stderr *e2eBuffer
	exited chan struct{}
}

// start runs the daemon on a fresh state folder with config as its
// macsensor.toml, as the given user (nil: root), and waits for its first
// poll.
func (e *captEnv) start(config string, cred *syscall.Credential) *captDaemon {
	e.t.Helper()
	state := filepath.Join(e.t.TempDir(), "state")
	os.MkdirAll(state, 0o755)
	if err := os.WriteFile(filepath.Join(state, "macsensor.toml"), []byte(config), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if cred != nil {
		for d := state; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		os.Chown(state, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(e.daemon, "run", "--state-dir", state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	d := &captDaemon{t: e.t, state: state, cmd: cmd, stderr: &e2eBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { cmd.Wait(); close(d.exited) }()
	e.t.Cleanup(func() {
		d.stop()
		if e.t.Failed() {
			e.t.Logf("daemon stderr:\n%s", d.stderr.String())
		}
	})
	d.waitStatus("the first poll", func(st *Status) bool { return st.Polls.Process >= 1 })
	return d
}

func (d *captDaemon) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			d.t.Errorf("daemon exit code %d after SIGTERM", code)
		}
	case <-time.After(captWithin):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("daemon did not exit within %v of SIGTERM", captWithin)
	}
}

// wait checks cond every 5 ms until it holds, failing after captWithin or
// when the daemon exits.
func (d *captDaemon) wait(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(captWithin)
	for !cond() {
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %v waiting for %s", captWithin, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *captDaemon) status() (Status, bool) {
	var st Status
	data, err := os.ReadFile(filepath.Join(d.state, "status.json"))
	if err != nil || json.Unmarshal(data, &st) != nil || st.PID != d.cmd.Process.Pid {
		return st, false
	}
	return st, true
}

func (d *captDaemon) waitStatus(what string, cond func(*Status) bool) Status {
	d.t.Helper()
	var st Status
	d.wait("status: "+what, func() bool {
		var ok bool
		st, ok = d.status()
		return ok && cond(&st)
	})
	return st
}

// lines returns the JSON documents of a log of the daemon's state folder.
func (d *captDaemon) lines(name string) []map[string]any {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.state, "log", name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		d.t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			d.t.Fatalf("%s: %v: %s", name, err, l)
		}
		out = append(out, m)
	}
	return out
}

// captField returns the value at a dotted path of a decoded document.
func captField(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func captStr(m map[string]any, path string) string { s, _ := captField(m, path).(string); return s }

func captInt(m map[string]any, path string) int64 {
	f, _ := captField(m, path).(float64)
	return int64(f)
}

// captListener accepts and holds connections on addr until the test ends.
func captListener(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// captSendDNS sends, from a loopback port 53, a DNS response that
// answers name with ip (A, TTL 600) to a loopback client socket: the
// capture on lo sees it as a response this host received.
func captSendDNS(t *testing.T, name string, ip netip.Addr) {
	t.Helper()
	var srv net.PacketConn
	var err error
	for _, host := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.77", "127.0.0.78"} {
		if srv, err = net.ListenPacket("udp4", host+":53"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no loopback address with port 53 free: %v", err)
	}
	defer srv.Close()
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	msg := &layers.DNS{
		ID: 0x6c06, QR: true, OpCode: layers.DNSOpCodeQuery, RD: true, RA: true, ResponseCode: layers.DNSResponseCodeNoErr,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 600, IP: ip.AsSlice()}},
	}
	buf := gopacket.NewSerializeBuffer()
	if err := msg.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteTo(buf.Bytes(), cli.LocalAddr()); err != nil {
		t.Fatal(err)
	}
}

// TestCaptureShortLivedRunnerAlerts is issue 6's end-to-end check: with
// polls a second apart and [capture] on, a runner that connects and exits
// within ~25 ms of starting (it holds the connection 20 ms) still produces
// its network event under its name, and the seed rule's alert when
// automator precedes it, every time. (At a 10 ms hold the SYN-triggered
// read catches 99–100 in 100 on a quiet machine, docs/PERFORMANCE.md: ten
// rounds in a row then fail one run in ten, more under make test's load;
// from 20 ms it caught 100 in 100 in every mode.)
// The same connection carries destination.domain from a DNS answer the
// capture saw, and that answer is itself a dns event; rules on both fire.
func TestCaptureShortLivedRunnerAlerts(t *testing.T) {
	e := newCaptEnv(t, true)
	rules := e.rules()
	d := e.start(fmt.Sprintf(`[sensor]
process_interval = "1s"
socket_interval = "1s"
[rules]
builtin = false
paths = [%q]
[status]
interval = "200ms"
[events]
enabled = true
[capture]
enabled = true
loopback = true
`, rules), nil)
	st := d.waitStatus("capture open", func(st *Status) bool { return st.Capture != nil && st.Capture.Open })
	t.Logf("capture on %v", st.Capture.Interfaces)

	// A listener on an address of its own, which the DNS answer names.
	lnAddr := captListener(t, "127.0.0.93:0")
	addr := lnAddr.String()
	captSendDNS(t, captName, netip.MustParseAddr("127.0.0.93"))
	d.wait("the dns event", func() bool {
		for _, ev := range d.lines("events.ndjson") {
			if captStr(ev, "event.action") == "lookup_result" && captStr(ev, "dns.question.name") == captName {
				if ips, _ := captField(ev, "dns.resolved_ip").([]any); len(ips) != 1 || ips[0] != "127.0.0.93" {
					t.Fatalf("dns event resolved_ip %v", captField(ev, "dns.resolved_ip"))
				}
				return true
			}
		}
		return false
	})

	automator := e.helperAs("automator")
	runner := e.helperAs(captRunner)
	var lifetimes []time.Duration
	for round := range captRounds {
		a := exec.Command(automator, "wait")
		a.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, _ := a.StdinPipe()
		stdout, _ := a.StdoutPipe()
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
			t.Fatalf("automator: %q %v", l, err)
		}
		r := exec.Command(runner, "connect-exit", addr, "20")
		r.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		t0 := time.Now()
		out, err := r.CombinedOutput()
		life := time.Since(t0)
		if err != nil {
			t.Fatalf("runner: %v: %s", err, out)
		}
		lifetimes = append(lifetimes, life)
		pid := int64(r.Process.Pid)
		exited := time.Now()
		dumpOnFailure := func() {
			if !t.Failed() {
				return
			}
			for _, f := range []string{"events.ndjson", "alerts.ndjson"} {
				for _, ev := range d.lines(f) {
					if p := captInt(ev, "process.pid"); p == pid || p == int64(a.Process.Pid) || f == "alerts.ndjson" {
						b, _ := json.Marshal(ev)
						t.Logf("%s: %s", f, b)
					}
				}
			}
		}
		t.Cleanup(dumpOnFailure)

		var alert map[string]any
		d.wait(fmt.Sprintf("round %d: the seed rule's alert for runner %d", round, pid), func() bool {
			for _, al := range d.lines("alerts.ndjson") {
				if captStr(al, "rule.id") != captSeedID {
					continue
				}
				evs, _ := al["Events"].([]any)
				for _, x := range evs {
					if ev, _ := x.(map[string]any); ev != nil && captInt(ev, "process.pid") == pid &&
						captStr(ev, "event.action") == "connection_attempted" {
						alert = al
						return true
					}
				}
			}
			return false
		})
		stdin.Close()
		a.Wait()

		evs, _ := alert["Events"].([]any)
		if len(evs) != 2 {
			t.Fatalf("round %d: alert with %d events", round, len(evs))
		}
		first, _ := evs[0].(map[string]any)
		connect, _ := evs[1].(map[string]any)
		if captStr(first, "process.name") != "automator" || captInt(first, "process.pid") != int64(a.Process.Pid) ||
			captStr(connect, "event.action") != "connection_attempted" || captStr(connect, "process.name") != captRunner ||
			captInt(connect, "destination.port") != int64(lnAddr.Port) || captStr(connect, "destination.domain") != captName {
			t.Fatalf("round %d: alert events\n%v\n%v", round, first, connect)
		}
		// The socket was read while the runner lived: the socket table named
		// it as the owner (on Linux only a process holding the socket's fd
		// is), not a guess. The event's @timestamp is no proof either way:
		// when the triggered poll's process read finds the runner already
		// gone (read earlier by a process event), the event is stamped with
		// that later process snapshot so that it sorts after the exec.
		if captInt(connect, "process.Ext.socket.last_pid") != pid {
			t.Fatalf("round %d: the socket table did not name the runner %d as the owner: %v (runner gone at %v)", round, pid, connect, exited)
		}
		// Its start event came first, in the sensor's sequence.
		var execSeq, netSeq int64
		for _, ev := range d.lines("events.ndjson") {
			if captInt(ev, "process.pid") != pid {
				continue
			}
			switch captStr(ev, "event.action") {
			case "exec":
				execSeq = captInt(ev, "event.sequence")
			case "connection_attempted":
				netSeq = captInt(ev, "event.sequence")
			}
		}
		if execSeq == 0 || netSeq <= execSeq {
			t.Fatalf("round %d: exec sequence %d, network sequence %d", round, execSeq, netSeq)
		}
		// The runner's disconnect_received is a network event of the
		// runner too: the next round's automator must be stamped after
		// it, or the two would make a sequence (as they would in
		// Elasticsearch). Linux start times have 10 ms ticks and the
		// sensor clamps a start to the last process snapshot, which for
		// a process started just after the disconnect's poll is that
		// poll's, before its socket read: let one more poll pass.
		d.wait(fmt.Sprintf("round %d: the runner's disconnect", round), func() bool {
			for _, ev := range d.lines("events.ndjson") {
				if captInt(ev, "process.pid") == pid && captStr(ev, "event.action") == "disconnect_received" {
					return true
				}
			}
			return false
		})
		// A status written after the disconnect was logged counts the
		// poll that saw it; the next process poll is after it.
		seen := time.Now()
		st := d.waitStatus("a status after the disconnect", func(s *Status) bool { return s.Updated.After(seen) })
		d.waitStatus("one more poll", func(s *Status) bool { return s.Polls.Process > st.Polls.Process })
	}

	alerts := map[string]int{}
	for _, al := range d.lines("alerts.ndjson") {
		alerts[captStr(al, "rule.id")]++
	}
	if alerts[captSeedID] != captRounds || alerts[captDomainID] < captRounds || alerts[captDNSID] != 1 {
		t.Fatalf("alerts by rule %v: want %d seed, >= %d domain, 1 dns", alerts, captRounds, captRounds)
	}
	st = d.waitStatus("the last counters", func(st *Status) bool { return st.Capture.TriggeredPolls >= captRounds })
	c := st.Capture
	if c.DNSEvents < 1 || c.Named < captRounds || c.Malformed != 0 {
		t.Fatalf("capture status %+v", c)
	}
	var maxLife time.Duration
	for _, l := range lifetimes {
		maxLife = max(maxLife, l)
	}
	t.Logf("runner lifetimes (start to reaped): max %v, all %v", maxLife.Round(100*time.Microsecond), lifetimes)
	t.Logf("capture: %d SYNs, %d triggered polls, %d deferred; SYN to poll start p50 <= %.2f ms, p99 <= %.2f ms, max %.2f ms; SYN to poll end p99 <= %.2f ms, max %.2f ms",
		c.SYNs, c.TriggeredPolls, c.TriggerDeferred, c.DelayP50MS, c.DelayP99MS, c.DelayMaxMS, c.DoneP99MS, c.DoneMaxMS)
}

// TestCaptureUnavailablePollsAlone: a daemon that cannot open the capture
// (not root) says so once in its log, reports it in the status file, and
// polls as before; a reload does not say it again.
func TestCaptureUnavailablePollsAlone(t *testing.T) {
	e := newCaptEnv(t, true)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	d := e.start(`[status]
interval = "200ms"
[sensor]
process_interval = "100ms"
socket_interval = "100ms"
[capture]
enabled = true
loopback = true
`, nobody)
	st := d.waitStatus("three polls", func(st *Status) bool { return st.Polls.Process >= 3 && st.Polls.Socket >= 3 })
	if st.Capture == nil || st.Capture.Open || !strings.Contains(st.Capture.Error, "packet socket") {
		t.Fatalf("capture status %+v", st.Capture)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.wait("the reload", func() bool { return strings.Contains(d.stderr.String(), `"message":"reloaded"`) })
	n := d.waitStatus("polls after the reload", func(s *Status) bool { return s.Polls.Process >= st.Polls.Process+3 })
	if n.Polls.Errors != 0 {
		t.Fatalf("poll errors %d", n.Polls.Errors)
	}
	const unavailable = "packet capture unavailable: running on polling alone"
	if c := strings.Count(d.stderr.String(), unavailable); c != 1 {
		t.Fatalf("the log says %d times that capture is unavailable, want once:\n%s", c, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), `"hint":"packet capture needs root`) {
		t.Fatalf("no hint in the log:\n%s", d.stderr.String())
	}
	// A reload that changes [capture] tries again, and says so again.
	cfg := filepath.Join(d.state, "macsensor.toml")
	data, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(data, "trigger_min_interval = \"30ms\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.wait("the second reload", func() bool { return strings.Count(d.stderr.String(), `"message":"reloaded"`) == 2 })
	if c := strings.Count(d.stderr.String(), unavailable); c != 2 {
		t.Fatalf("after a reload that changed [capture]: said %d times, want 2", c)
	}
	d.waitStatus("polls after the second reload", func(s *Status) bool { return s.Polls.Process >= n.Polls.Process+3 })
}

// TestStartCapture covers the daemon's side of opening the capture without
// a kernel: off, and refused.
func TestStartCapture(t *testing.T) {
	var log bytes.Buffer
	l := zerolog.New(&log)
	cs := startCapture(CaptureConfig{Enabled: false}, l)
	if cs.pc != nil || cs.status(sensor.LoopStats{}) != nil || log.Len() != 0 {
		t.Fatalf("capture off: %+v, log %q", cs, log.String())
	}
	cs.stop() // nothing to stop
	var o sensor.LoopOptions
	cs.loopOptions(&o)
	if o.Trigger != nil || o.Inbox != nil || o.Domain != nil {
		t.Fatalf("capture off: loop options %+v", o)
	}

	defer func(f func(capture.Options) (*capture.Source, error)) { openCapture = f }(openCapture)
	var asked capture.Options
	openCapture = func(opt capture.Options) (*capture.Source, error) {
		asked = opt
		return nil, fmt.Errorf("capture: lo: packet socket (needs root or CAP_NET_RAW): %w", os.ErrPermission)
	}
	cfg := CaptureConfig{Enabled: true, Loopback: true, Interfaces: []string{"lo"}, DNSCacheSize: 77, DNSEvents: true}
	cs = startCapture(cfg, l)
	if asked.DNSCacheSize != 77 || !asked.Loopback || len(asked.Interfaces) != 1 || asked.Interfaces[0] != "lo" {
		t.Fatalf("options %+v", asked)
	}
	st := cs.status(sensor.LoopStats{})
	if cs.pc != nil || st == nil || st.Open || !strings.Contains(st.Error, "needs root") {
		t.Fatalf("refused capture: %+v status %+v", cs, st)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), `"level":"warn"`) ||
		!strings.Contains(log.String(), "running on polling alone") || !strings.Contains(log.String(), `"hint"`) {
		t.Fatalf("log: %q", log.String())
	}
	cs.loopOptions(&o)
	if o.Trigger != nil {
		t.Fatal("a refused capture gave the loop a trigger")
	}
}

func TestPrintStatusCapture(t *testing.T) {
	var b bytes.Buffer
	// The table's padding aside.
	text := func() string { return strings.Join(strings.Fields(b.String()), " ") }
	st := &Status{Capture: &StatusCapture{Error: "capture: permission denied"}}
	printStatus(&b, st)
	if !strings.Contains(text(), "capture not open, polling alone: capture: permission denied") {
		t.Fatalf("status:\n%s", b.String())
	}
	b.Reset()
	st.Capture = &StatusCapture{Open: true, Interfaces: []string{"lo", "eth0"}, Packets: 12, SYNs: 7, DNSResponses: 2, Malformed: 1,
		TriggeredPolls: 6, TriggerDeferred: 1, DelayP50MS: 0.05, DelayP99MS: 3, DelayMaxMS: 4.2, DNSEvents: 2, Named: 3, CacheEntries: 4}
	printStatus(&b, st)
	for _, want := range []string{
		"capture on lo, eth0: 12 packets, 7 syns, 2 dns, 1 malformed, 0 partial, 0 kernel drops",
		"trigger: 6 triggered polls, 1 deferred; SYN to poll start p50 <= 0.05 ms, p99 <= 3.00 ms, max 4.20 ms",
		"dns: 2 events, 0 dropped; 3 destinations named; cache 4 entries",
	} {
		if !strings.Contains(text(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	printStatus(&b, &Status{})
	if strings.Contains(b.String(), "capture") {
		t.Errorf("capture off: status mentions capture:\n%s", b.String())
	}
}

// TestCaptureCost measures the daemon's CPU and memory with and without
// the capture under unrelated loopback traffic (issue 6, point 6), and
// with trigger_min_interval raised to 100ms under the SYN loads. It takes
// minutes: run it with
//
//	MACSENSOR_CAPTURE_COST=1 go test ./cmd/macsensor/ -run TestCaptureCost -v -timeout 30m
//
// MACSENSOR_CAPTURE_COST_WINDOW sets the window of each row (30s);
// MACSENSOR_CAPTURE_COST_ONLY runs one mode ("polling only", "capture on",
// "capture, 100ms").
func TestCaptureCost(t *testing.T) {
	if os.Getenv("MACSENSOR_CAPTURE_COST") == "" {
		t.Skip("a measurement of minutes: set MACSENSOR_CAPTURE_COST=1")
	}
	window := 30 * time.Second
	only := os.Getenv("MACSENSOR_CAPTURE_COST_ONLY") // a mode to run alone, e.g. "capture, 100ms"
	if s := os.Getenv("MACSENSOR_CAPTURE_COST_WINDOW"); s != "" {
		var err error
		if window, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	// Each measurement takes the e2e lock for its own duration only, so
	// that other e2e tests can run in between.
	e := newCaptEnv(t, false)
	loads := []struct {
		name string
		kind string // "", "udp", "syn"
		rate int
	}{{"idle", "", 0}, {"UDP 1k/s", "udp", 1000}, {"UDP 10k/s", "udp", 10000}, {"SYN 1k/s", "syn", 1000}, {"SYN 10k/s", "syn", 10000}}
	type row struct {
		mode, load       string
		cpu              float64
		rssMiB, hwmMiB   float64
		sent             float64
		packets, syns    uint64
		triggered, drops uint64
	}
	var rows []row
	configs := []struct {
		mode      string
		captureOn bool
		trigger   string // trigger_min_interval; "" the default
		synOnly   bool   // run the SYN loads only
	}{
		{"polling only", false, "", false},
		{"capture on", true, "", false},
		{"capture, 100ms", true, "100ms", true},
	}
	for _, cfg := range configs {
		for _, ld := range loads {
			if (cfg.synOnly && ld.kind != "syn") || (only != "" && only != cfg.mode) {
				continue
			}
			mode, captureOn := cfg.mode, cfg.captureOn
			config := fmt.Sprintf("[status]\ninterval = \"1s\"\n[capture]\nenabled = %t\nloopback = true\n", captureOn)
			if cfg.trigger != "" {
				config += fmt.Sprintf("trigger_min_interval = %q\n", cfg.trigger)
			}
			t.Run(mode+"/"+ld.name, func(t *testing.T) {
				sub := &captEnv{t: t, work: e.work, daemon: e.daemon, helper: e.helper}
				testlock.Hold(t, testlock.E2E)
				d := sub.start(config, nil)
				pid := d.cmd.Process.Pid
				d.waitStatus("three polls", func(st *Status) bool { return st.Polls.Process >= 3 })
				stop := make(chan struct{})
				var sent uint64
				var wg sync.WaitGroup
				if ld.kind != "" {
					wg.Add(1)
					go func() {
						defer wg.Done()
						sent = captGenerate(t, ld.kind, ld.rate, stop)
					}()
				}
				time.Sleep(2 * time.Second) // the load reaches its rate before the window opens
				cpu0, t0 := captCPU(t, pid), time.Now()
				time.Sleep(window)
				cpu1, t1 := captCPU(t, pid), time.Now()
				rss, hwm := captMem(t, pid)
				close(stop)
				wg.Wait()
				st, _ := d.status()
				r := row{mode: mode, load: ld.name, cpu: 100 * (cpu1 - cpu0).Seconds() / t1.Sub(t0).Seconds(),
					rssMiB: float64(rss) / (1 << 20), hwmMiB: float64(hwm) / (1 << 20)}
				if ld.kind != "" {
					r.sent = float64(sent) / (t1.Sub(t0) + 2*time.Second).Seconds()
				}
				if c := st.Capture; c != nil {
					r.packets, r.syns, r.triggered, r.drops = c.Packets, c.SYNs, c.TriggeredPolls, c.KernelDrops
				}
				rows = append(rows, r)
				d.stop()
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "window %v per row, load average at the end %s\n", window, captLoadAvg())
	fmt.Fprintf(&b, "%-15s %-10s %8s %9s %9s %10s %10s %10s %10s %6s\n", "mode", "load", "CPU %", "RSS MiB", "HWM MiB", "sent/s", "packets", "syns", "trig.polls", "drops")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-15s %-10s %8.2f %9.1f %9.1f %10.0f %10d %10d %10d %6d\n", r.mode, r.load, r.cpu, r.rssMiB, r.hwmMiB, r.sent, r.packets, r.syns, r.triggered, r.drops)
	}
	t.Log("\n" + b.String())
}

// captCPU is a process's user + system CPU time (/proc/<pid>/stat fields
// 14 and 15, in USER_HZ ticks: 100 a second on every Go Linux port).
func captCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// captMem is a process's resident set and its peak (VmRSS, VmHWM).
func captMem(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "kB" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = v << 10
			case "VmHWM:":
				hwm = v << 10
			}
		}
	}
	return rss, hwm
}

func captLoadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// captGenerate sends rate packets a second on loopback until stop and returns
// how many it sent: "udp", datagrams to a bound socket nobody reads (the
// capture filter drops them); "syn", TCP SYNs from a raw socket to a
// closed port (the filter keeps them: each is a trigger; the kernel
// answers with a RST).
func captGenerate(t *testing.T, kind string, rate int, stop <-chan struct{}) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var send func(i uint64) error
	switch kind {
	case "udp":
		sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return 0
		}
		defer sink.Close()
		c, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Error(err)
			return 0
		}
		defer c.Close()
		payload := make([]byte, 64)
		send = func(uint64) error {
			_, err := c.Write(payload)
			if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOBUFS) {
				err = nil
			}
			return err
		}
	case "syn":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			t.Error(err)
			return 0
		}
		defer unix.Close(fd)
		// The socket also receives every TCP segment of the host (the
		// RSTs): keep its buffer small, the kernel drops the rest.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		dst := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
		seg := make([]byte, 20)
		send = func(i uint64) error {
			captTCPSYN(seg, 20000+uint16(i%40000), 9, uint32(i))
			return unix.Sendto(fd, seg, 0, dst)
		}
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var n uint64
	for {
		select {
		case <-stop:
			return n
		case <-tick.C:
		}
		want := uint64(time.Since(start).Seconds() * float64(rate))
		for ; n < want; n++ {
			if err := send(n); err != nil {
				t.Errorf("send %s: %v", kind, err)
				return n
			}
		}
	}
}

// captTCPSYN writes a 20-byte TCP SYN from 127.0.0.1:sport to 127.0.0.1:dport
// into b, with its checksum over the IPv4 pseudo-header (RFC 9293 3.1).
func captTCPSYN(b []byte, sport, dport uint16, seq uint32) {
	clear(b)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = 5 << 4 // data offset: 5 words
	b[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(b[14:], 65535)
	sum := uint32(0x7f00) + 0x0001 + 0x7f00 + 0x0001 + 6 + uint32(len(b))
	for i := 0; i < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[16:], ^uint16(sum))
}
