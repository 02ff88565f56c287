//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/macsensor/macsensor/internal/testlock"
)

// The harness of the end-to-end tests (e2e_linux_test.go) and the live
// measurements (latency_linux_test.go): it builds `macsensor` and the
// stand-in helper of sensor/testdata/helper once, runs `macsensor run` as a
// child process on a fresh state folder, starts real processes under the
// names the seed rule looks for, and waits on conditions (files, the
// status file) with deadlines, never with fixed sleeps.

const (
	// e2eSeedRule is the seed rule the Linux variant is generated from.
	e2eSeedRule = "../../detect/rules/execution_script_via_automator_workflows.toml"
	// e2eSeedID is the seed rule's rule_id; the Linux variant gets its own.
	e2eSeedID      = "5d9f8cfc-0d03-443e-a167-2b0597ce0965"
	e2eLinuxRuleID = "5d9f8cfc-0d03-443e-a167-00000000e2e1"
	e2eSeedName    = "Suspicious Automator Workflows Execution"

	// e2eWithin bounds every wait for something the daemon should do
	// promptly (start, write a status, log an event). The box these tests
	// run on is a loaded 2-core machine: generous, but bounded.
	e2eWithin = 20 * time.Second
	// e2eAlertWithin bounds the wait for an alert once its last event
	// happened.
	e2eAlertWithin = 10 * time.Second
	// e2eSettlePolls is how many polls the daemon must complete after the
	// decisive event before an alert count is final. One more than the
	// brief's ten: the status file read to take the starting count may
	// predate the poll that carried the event.
	e2eSettlePolls = 11
)

// e2eBins are the built binaries.
type e2eBins struct {
	daemon string // macsensor
	helper string // sensor/testdata/helper
}

var e2eBuilds struct {
	mu     sync.Mutex
	dir    string
	helper string
	daemon map[bool]string // by race detector on
	err    error
}

// e2eRaceEnabled reports whether this test binary has the race detector:
// the daemon under test is then built with it too.
func e2eRaceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// e2eBinaries builds (once per test process and variant) the daemon, with
// the race detector when race, and the helper.
func e2eBinaries(tb testing.TB, race bool) e2eBins {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("e2e: no go tool on PATH to build the daemon with: %v", err)
	}
	e2eBuilds.mu.Lock()
	defer e2eBuilds.mu.Unlock()
	if e2eBuilds.err != nil {
		tb.Fatal(e2eBuilds.err)
	}
	if e2eBuilds.dir == "" {
		dir, err := os.MkdirTemp("", "macsensor-e2e-bin-")
		if err != nil {
			tb.Fatal(err)
		}
		e2eBuilds.dir = dir
		e2eBuilds.daemon = map[bool]string{}
	}
	build := func(out, pkg string, race bool) error {
		args := []string{"build", "-o", out}
		env := append(os.Environ(), "CGO_ENABLED=0")
		if race {
			// The race runtime needs cgo; the daemon's own code has none.
			args = append(args, "-race")
			env = append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd := exec.Command(goTool, append(args, pkg)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return nil
	}
	if e2eBuilds.helper == "" {
		p := filepath.Join(e2eBuilds.dir, "helper")
		if err := build(p, "../../sensor/testdata/helper", false); err != nil {
			e2eBuilds.err = err
			tb.Fatal(err)
		}
		e2eBuilds.helper = p
	}
	if e2eBuilds.daemon[race] == "" {
		p := filepath.Join(e2eBuilds.dir, "macsensor")
		if race {
			p += "-race"
		}
		if err := build(p, ".", race); err != nil {
			e2eBuilds.err = err
			tb.Fatal(err)
		}
		e2eBuilds.daemon[race] = p
	}
	return e2eBins{daemon: e2eBuilds.daemon[race], helper: e2eBuilds.helper}
}

// e2eRemoveBuilds deletes the built binaries (from TestMain).
func e2eRemoveBuilds() {
	e2eBuilds.mu.Lock()
	defer e2eBuilds.mu.Unlock()
	if e2eBuilds.dir != "" {
		os.RemoveAll(e2eBuilds.dir)
	}
}

// e2eEnv is one test's world: its binaries, a work folder for the helper
// copies and generated rules, and a loopback listener for the runners.
type e2eEnv struct {
	tb       testing.TB
	bins     e2eBins
	work     string
	addr     string // 127.0.0.1:port of the listener
	port     int
	accepted chan time.Time // when the listener accepted each connection (lossy, buffered)
}

// newE2E prepares a test's environment. race picks the daemon build.
func newE2E(tb testing.TB, race bool) *e2eEnv {
	tb.Helper()
	if testing.Short() {
		tb.Skip("e2e: starts the daemon and real processes; skipped in -short mode")
	}
	// A host-wide lock that every e2e test and live benchmark holds: a
	// daemon sees every process on the host, so an "automator" of a
	// concurrent run of this package (go test ./... next to a benchmark, two
	// -count runs in two shells, tools/lifetime) would start or complete
	// another run's sequence.
	testlock.Hold(tb, testlock.E2E)
	e := &e2eEnv{tb: tb, bins: e2eBinaries(tb, race), work: tb.TempDir(), accepted: make(chan time.Time, 256)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.addr, e.port = ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			at := time.Now()
			select {
			case e.accepted <- at:
			default:
			}
			mu.Lock()
			if closed {
				c.Close()
			} else {
				conns = append(conns, c)
			}
			mu.Unlock()
			// Hold the connection until the client closes it.
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return e
}

// helperAs returns the path of a copy of the helper named name (copied
// once per test): process.name comes from the executable's name.
func (e *e2eEnv) helperAs(name string) string {
	e.tb.Helper()
	p := filepath.Join(e.work, "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	data, err := os.ReadFile(e.bins.helper)
	if err != nil {
		e.tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o755); err != nil {
		e.tb.Fatal(err)
	}
	return p
}

// e2eProc is a running helper.
type e2eProc struct {
	cmd   *exec.Cmd
	pid   int64
	stdin io.WriteCloser
	ready time.Time // when the test read its "ready" line
	done  chan struct{}
	once  sync.Once
}

// spawn starts the helper copied as name with args and waits for its
// "ready" line. It lives until stop (or the end of the test).
func (e *e2eEnv) spawn(name string, args ...string) *e2eProc {
	e.tb.Helper()
	cmd := exec.Command(e.helperAs(name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.tb.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.tb.Fatal(err)
	}
	p := &e2eProc{cmd: cmd, pid: int64(cmd.Process.Pid), stdin: stdin, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
		cmd.Wait()
		close(p.done)
	}()
	e.tb.Cleanup(p.stop)
	timer := time.NewTimer(e2eWithin)
	defer timer.Stop()
	select {
	case l := <-line:
		p.ready = time.Now()
		if l != "ready\n" {
			p.stop()
			e.tb.Fatalf("helper %s %q: printed %q, want \"ready\" (stderr: %s)", name, args, l, stderr.String())
		}
	case <-timer.C:
		p.stop()
		e.tb.Fatalf("helper %s %q: no \"ready\" within %v", name, args, e2eWithin)
	}
	return p
}

// stop closes the helper's stdin (its signal to exit) and waits for it;
// it kills a helper that does not exit.
func (p *e2eProc) stop() {
	p.once.Do(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(e2eWithin):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// e2eSpawner starts short-lived helpers in a loop until stopped: the load
// of the alert-log tests.
type e2eSpawner struct {
	stopCh  chan struct{}
	done    chan struct{}
	started int
}

// spawnLoop starts the helper copied as name with args every period.
// The helpers must exit by themselves (connect-exit, or wait with no
// stdin).
func (e *e2eEnv) spawnLoop(period time.Duration, name string, args ...string) *e2eSpawner {
	e.tb.Helper()
	bin := e.helperAs(name)
	s := &e2eSpawner{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-s.stopCh:
				return
			case <-tick.C:
			}
			cmd := exec.Command(bin, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if cmd.Start() != nil {
				continue
			}
			s.started++
			wg.Add(1)
			go func() { defer wg.Done(); cmd.Wait() }()
		}
	}()
	e.tb.Cleanup(func() { s.stop() })
	return s
}

// stop ends the loop and waits for every helper it started to exit; it
// returns how many it started.
func (s *e2eSpawner) stop() int {
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	<-s.done
	return s.started
}

// linuxSeedRule writes the Linux variant of the seed rule into the work
// folder (sub-folder dir, created) and returns its path: the seed rule's
// file with host.os.type "linux" instead of "macos", its own rule_id and,
// unless maxspan is "", that maxspan instead of 30s.
func (e *e2eEnv) linuxSeedRule(dir, maxspan string) string {
	e.tb.Helper()
	data, err := os.ReadFile(e2eSeedRule)
	if err != nil {
		e.tb.Fatal(err)
	}
	text := string(data)
	replace := func(old, new string, want int) {
		if n := strings.Count(text, old); n != want {
			e.tb.Fatalf("%s: %q occurs %d times, want %d: the seed rule changed; update the e2e harness", e2eSeedRule, old, n, want)
		}
		text = strings.ReplaceAll(text, old, new)
	}
	replace(`host.os.type == "macos"`, `host.os.type == "linux"`, 2)
	replace(`rule_id = "`+e2eSeedID+`"`, `rule_id = "`+e2eLinuxRuleID+`"`, 1)
	if maxspan != "" {
		replace("with maxspan=30s", "with maxspan="+maxspan, 1)
	}
	p := filepath.Join(e.work, dir, "automator_linux.toml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		e.tb.Fatal(err)
	}
	return p
}

// e2eConfig is what the tests put in <state dir>/macsensor.toml. Empty
// fields keep the daemon's defaults.
type e2eConfig struct {
	Rules           []string // [rules] paths
	Builtin         bool     // [rules] builtin
	ProcessInterval string
	SocketInterval  string
	StatusInterval  string
	Events          bool
	AlertsMaxSize   string
	AlertsKeep      int
}

// e2eFast is the configuration of the end-to-end tests: 100 ms polls, a
// status every 200 ms, the event log on, the built-in rule off.
func e2eFast(rules ...string) e2eConfig {
	return e2eConfig{Rules: rules, ProcessInterval: "100ms", SocketInterval: "100ms", StatusInterval: "200ms", Events: true}
}

func (c e2eConfig) toml() string {
	var b strings.Builder
	if c.ProcessInterval != "" || c.SocketInterval != "" {
		b.WriteString("[sensor]\n")
		if c.ProcessInterval != "" {
			fmt.Fprintf(&b, "process_interval = %q\n", c.ProcessInterval)
		}
		if c.SocketInterval != "" {
			fmt.Fprintf(&b, "socket_interval = %q\n", c.SocketInterval)
		}
	}
	b.WriteString("[rules]\n")
	fmt.Fprintf(&b, "builtin = %t\n", c.Builtin)
	b.WriteString("paths = [")
	for i, p := range c.Rules {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(p))
	}
	b.WriteString("]\n")
	if c.StatusInterval != "" {
		fmt.Fprintf(&b, "[status]\ninterval = %q\n", c.StatusInterval)
	}
	fmt.Fprintf(&b, "[events]\nenabled = %t\n", c.Events)
	if c.AlertsMaxSize != "" || c.AlertsKeep != 0 {
		b.WriteString("[alerts]\n")
		if c.AlertsMaxSize != "" {
			fmt.Fprintf(&b, "max_size = %q\n", c.AlertsMaxSize)
		}
		if c.AlertsKeep != 0 {
			fmt.Fprintf(&b, "keep = %d\n", c.AlertsKeep)
		}
	}
	return b.String()
}

// e2eDaemon is a running `macsensor run`.
type e2eDaemon struct {
	tb     testing.TB
	state  string // --state-dir
	cmd    *exec.Cmd
	pid    int
	stderr *e2eBuffer
	exited chan struct{}
	race   bool

	events e2eTail
	parsed []e2eEvent // events of the event log read so far
}

// e2eBuffer is the daemon's stderr, safe to read while it is written.
type e2eBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *e2eBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *e2eBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newState returns a fresh state folder with cfg as its macsensor.toml
// (none at all when cfg is nil: the daemon's defaults).
func (e *e2eEnv) newState(cfg *e2eConfig) string {
	e.tb.Helper()
	dir := filepath.Join(e.tb.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if cfg != nil {
		if err := os.WriteFile(filepath.Join(dir, "macsensor.toml"), []byte(cfg.toml()), 0o644); err != nil {
			e.tb.Fatal(err)
		}
	}
	return dir
}

// start runs `macsensor run --state-dir state` and waits until it has
// written a status (its signal handlers are installed then) and completed
// its first poll (the baseline: a process started after it is new).
func (e *e2eEnv) start(state string) *e2eDaemon {
	e.tb.Helper()
	cmd := exec.Command(e.bins.daemon, "run", "--state-dir", state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d := &e2eDaemon{tb: e.tb, state: state, cmd: cmd, stderr: &e2eBuffer{}, exited: make(chan struct{}),
		race: strings.HasSuffix(e.bins.daemon, "-race")}
	d.events.path = filepath.Join(state, "log", "events.ndjson")
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		e.tb.Fatal(err)
	}
	d.pid = cmd.Process.Pid
	go func() { cmd.Wait(); close(d.exited) }()
	e.tb.Cleanup(d.cleanup)
	d.waitStatus("first poll", e2eWithin, func(st *Status) bool { return st.Polls.Process >= 1 })
	return d
}

// cleanup stops a daemon still running (it must exit 0), checks for race
// reports and shows the daemon's log when the test failed.
func (d *e2eDaemon) cleanup() {
	if !d.hasExited() {
		if code := d.stop(e2eWithin); code != 0 {
			d.tb.Errorf("daemon exit code %d after SIGTERM, want 0", code)
		}
	}
	if log := d.stderr.String(); strings.Contains(log, "WARNING: DATA RACE") {
		d.tb.Errorf("the daemon (built with -race) reported a data race")
	}
	if d.tb.Failed() {
		d.tb.Logf("daemon %d stderr:\n%s", d.pid, d.stderr.String())
	}
}

func (d *e2eDaemon) hasExited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to within for the exit; it returns the
// exit code (-1: killed by a signal). A daemon that does not exit in time
// is killed and the test fails.
func (d *e2eDaemon) stop(within time.Duration) int {
	d.tb.Helper()
	d.signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(within):
		d.cmd.Process.Kill()
		<-d.exited
		d.tb.Errorf("daemon did not exit within %v of SIGTERM", within)
	}
	return d.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL and waits for the exit.
func (d *e2eDaemon) kill() {
	d.signal(syscall.SIGKILL)
	<-d.exited
}

func (d *e2eDaemon) signal(sig syscall.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		d.tb.Fatalf("signal %v: %v", sig, err)
	}
}

// wait polls cond every 5 ms until it holds, the daemon exits or within
// passes.
func (d *e2eDaemon) wait(what string, within time.Duration, cond func() bool) {
	d.tb.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		select {
		case <-d.exited:
			if cond() {
				return
			}
			d.tb.Fatalf("daemon exited (%v) while waiting for %s", d.cmd.ProcessState, what)
		case <-tick.C:
		}
	}
}

func (d *e2eDaemon) statusPath() string { return filepath.Join(d.state, "status.json") }
func (d *e2eDaemon) alertPath() string  { return filepath.Join(d.state, "log", "alerts.ndjson") }

// status reads the status file; ok is false when it is missing, torn or
// another daemon's.
func (d *e2eDaemon) status() (st Status, ok bool) {
	data, err := os.ReadFile(d.statusPath())
	if err != nil || json.Unmarshal(data, &st) != nil || st.PID != d.pid {
		return Status{}, false
	}
	return st, true
}

// waitStatus waits for a status of this daemon satisfying cond.
func (d *e2eDaemon) waitStatus(what string, within time.Duration, cond func(*Status) bool) Status {
	d.tb.Helper()
	var st Status
	d.wait("status: "+what, within, func() bool {
		var ok bool
		st, ok = d.status()
		return ok && cond(&st)
	})
	return st
}

// polls is the process poll count of the latest status.
func (d *e2eDaemon) polls() uint64 {
	st, _ := d.status()
	return st.Polls.Process
}

// settle waits until the daemon has completed e2eSettlePolls more polls,
// after which no alert can still be on its way for an event already seen.
func (d *e2eDaemon) settle() {
	d.tb.Helper()
	n := d.polls() + e2eSettlePolls
	d.waitStatus(fmt.Sprintf("%d polls", n), e2eWithin, func(st *Status) bool { return st.Polls.Process >= n })
}

// e2eEvent is the part of an ECS event the tests check.
type e2eEvent struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     struct {
		Action   string    `json:"action"`
		Category []string  `json:"category"`
		Type     []string  `json:"type"`
		Kind     string    `json:"kind"`
		Code     string    `json:"code"`
		ID       string    `json:"id"`
		Created  time.Time `json:"created"`
		Sequence int64     `json:"sequence"`
	} `json:"event"`
	Process struct {
		PID        int64  `json:"pid"`
		Name       string `json:"name"`
		EntityID   string `json:"entity_id"`
		Executable string `json:"executable"`
	} `json:"process"`
	Destination struct {
		IP   string `json:"ip"`
		Port int64  `json:"port"`
	} `json:"destination"`
	Network struct {
		Transport string `json:"transport"`
		Direction string `json:"direction"`
	} `json:"network"`
	Host struct {
		ID string `json:"id"`
		OS struct {
			Type string `json:"type"`
		} `json:"os"`
	} `json:"host"`
}

// e2eAlert is the part of an alert document the tests check.
type e2eAlert struct {
	e2eEvent
	Rule struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"rule"`
	Threat []struct {
		Tactic struct {
			ID string `json:"id"`
		} `json:"tactic"`
		Technique []struct {
			ID string `json:"id"`
		} `json:"technique"`
	} `json:"threat"`
	Events []e2eEvent `json:"Events"`
}

func (e *e2eEvent) isExec(pid int64, name string) bool {
	return e.Event.Action == "exec" && e.Process.PID == pid && e.Process.Name == name
}

func (e *e2eEvent) isConnect(pid int64, port int) bool {
	return e.Event.Action == "connection_attempted" && e.Process.PID == pid && e.Destination.Port == int64(port)
}

// e2eTail reads the complete lines appended to a file since the last read.
type e2eTail struct {
	path string
	off  int64
	rest []byte
}

func (t *e2eTail) next() ([][]byte, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, t.off, 1<<62))
	if err != nil {
		return nil, err
	}
	t.off += int64(len(data))
	t.rest = append(t.rest, data...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(t.rest, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, append([]byte(nil), t.rest[:i]...))
		t.rest = t.rest[i+1:]
	}
	return lines, nil
}

// waitEvent waits for an event in the event log that matches.
func (d *e2eDaemon) waitEvent(what string, match func(*e2eEvent) bool) e2eEvent {
	d.tb.Helper()
	var found e2eEvent
	seen := 0
	d.wait("event log: "+what, e2eWithin, func() bool {
		lines, err := d.events.next()
		if err != nil {
			d.tb.Fatal(err)
		}
		for _, l := range lines {
			var ev e2eEvent
			if err := json.Unmarshal(l, &ev); err != nil {
				d.tb.Fatalf("event log line does not parse: %v: %s", err, l)
			}
			d.parsed = append(d.parsed, ev)
		}
		for ; seen < len(d.parsed); seen++ {
			if match(&d.parsed[seen]) {
				found = d.parsed[seen]
				return true
			}
		}
		return false
	})
	return found
}

// e2eLines returns the complete lines of a file (none if it is missing).
func e2eLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	t := e2eTail{path: path}
	lines, err := t.next()
	if err != nil {
		tb.Fatal(err)
	}
	return lines
}

// alerts parses the alert log; every line must be an alert document.
func (d *e2eDaemon) alerts() []e2eAlert {
	d.tb.Helper()
	var out []e2eAlert
	for _, l := range e2eLines(d.tb, d.alertPath()) {
		var a e2eAlert
		if err := json.Unmarshal(l, &a); err != nil {
			d.tb.Fatalf("alert log line does not parse: %v: %s", err, l)
		}
		out = append(out, a)
	}
	return out
}

// waitAlerts waits for at least n lines in the alert log.
func (d *e2eDaemon) waitAlerts(n int, within time.Duration) []e2eAlert {
	d.tb.Helper()
	d.wait(fmt.Sprintf("%d alert(s) in %s", n, d.alertPath()), within, func() bool {
		return len(e2eLines(d.tb, d.alertPath())) >= n
	})
	return d.alerts()
}

// logEntries parses the daemon's stderr (zerolog JSON lines); lines that
// are not JSON (a race report) are skipped.
func (d *e2eDaemon) logEntries() []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// countLog counts the daemon log entries with that message.
func (d *e2eDaemon) countLog(msg string) int {
	n := 0
	for _, m := range d.logEntries() {
		if m["message"] == msg {
			n++
		}
	}
	return n
}

// waitLog waits for n daemon log entries with that message.
func (d *e2eDaemon) waitLog(msg string, n int) {
	d.tb.Helper()
	d.wait(fmt.Sprintf("%d daemon log message(s) %q", n, msg), e2eWithin, func() bool { return d.countLog(msg) >= n })
}
