package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// The daemon in-process: newDaemon and loop with fake process and socket
// tables (a Mac that exists only in memory), so that the lifecycle is
// tested without a subprocess or real processes.

// world is the fake machine: its process table and socket table, edited by
// the test while the daemon's poll goroutine reads them.
type world struct {
	mu      sync.Mutex
	procs   []proc.Entry // sorted by pid, as proc.Table.List
	details map[int32]proc.Details
	conns   []socket.Conn
}

func newWorld() *world {
	w := &world{details: map[int32]proc.Details{}}
	now := time.Now()
	w.exec(1, 0, now.Add(-time.Hour), "launchd", "/sbin/launchd")
	w.exec(400, 1, now.Add(-time.Minute), "zsh", "/bin/zsh", "-zsh")
	return w
}

func (w *world) exec(pid, ppid int32, start time.Time, comm, path string, args ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := proc.Entry{PID: pid, PPID: ppid, UID: 501, Start: start.UnixNano()}
	copy(e.Comm[:], comm)
	i, _ := slices.BinarySearchFunc(w.procs, pid, func(e proc.Entry, pid int32) int { return int(e.PID - pid) })
	w.procs = slices.Insert(w.procs, i, e)
	w.details[pid] = proc.Details{Path: path, Args: append([]string{path}, args...)}
}

func (w *world) connect(pid int32, local, remote string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns = append(w.conns, socket.Conn{Proto: 6, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
		State: socket.SynSent, LastPID: pid, UID: 501})
}

type worldProcs struct{ w *world }

func (p worldProcs) List(dst []proc.Entry) ([]proc.Entry, error) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	return append(dst, p.w.procs...), nil
}

func (p worldProcs) Read(pid int32, e *proc.Entry) error {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	i, ok := slices.BinarySearchFunc(p.w.procs, pid, func(e proc.Entry, pid int32) int { return int(e.PID - pid) })
	if !ok {
		return fmt.Errorf("read %d: %w", pid, proc.ErrGone)
	}
	*e = p.w.procs[i]
	return nil
}

func (p worldProcs) Details(pid int32, d *proc.Details) error {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	*d = p.w.details[pid]
	return nil
}

type worldSocks struct{ w *world }

func (s worldSocks) List(dst []socket.Conn) ([]socket.Conn, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return append(dst, s.w.conns...), nil
}

// opener is the daemon's sensorOpener over the world: a Mac named mac-01.
func (w *world) opener(opt sensor.Options) (*sensor.Sensor, func(), error) {
	info := host.Info{ID: "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", Hostname: "mac-01", Name: "mac-01", Architecture: "arm64"}
	info.OS.Type = "macos"
	opt.Host = info
	opt.Agent = ecs.Agent{ID: info.ID, Type: "macsensor", Version: version, Name: info.Hostname}
	opt.UserName = func(uint32) string { return "alice" }
	return sensor.New(worldProcs{w}, worldSocks{w}, opt), func() {}, nil
}

// syncBuffer is the daemon log: written by the daemon's goroutines, read
// by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// count returns how many log entries carry message msg.
func (s *syncBuffer) count(msg string) int {
	return strings.Count(s.String(), `"message":"`+msg+`"`)
}

// inProcess is a daemon running its loop on a goroutine of the test.
type inProcess struct {
	t      *testing.T
	dir    string
	d      *daemon
	log    *syncBuffer
	hup    chan os.Signal
	cancel context.CancelFunc
	exited chan struct{} // closed when loop returned
	code   int           // loop's exit code, once exited is closed
}

const testConfig = `
[sensor]
process_interval = "10ms"
socket_interval = "10ms"
[status]
interval = "100ms"
`

func startInProcess(t *testing.T, w *world, config string) *inProcess {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "macsensor.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &inProcess{t: t, dir: dir, log: &syncBuffer{}, hup: make(chan os.Signal, 1), exited: make(chan struct{})}
	d, err := newDaemon(runFlags{stateDir: dir}, zerolog.New(p.log), w.opener)
	if err != nil {
		t.Fatal(err)
	}
	p.d = d
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.exited); p.code = d.loop(ctx, p.hup) }()
	t.Cleanup(func() { p.stop() })
	// The first poll learns the running processes without events.
	p.waitFor("the first process poll", func() bool { ss, _ := d.sensor.PublishedStats(); return ss.ProcessPolls > 0 })
	return p
}

func (p *inProcess) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; daemon log:\n%s", what, p.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status reads the status file the loop writes every 100ms.
func (p *inProcess) status() Status {
	var st Status
	b, err := os.ReadFile(filepath.Join(p.dir, "status.json"))
	if err == nil {
		json.Unmarshal(b, &st)
	}
	return st
}

// alerts returns the alert log's lines.
func (p *inProcess) alerts() []string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "log", "alerts.ndjson"))
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[:strings.Count(string(b), "\n")]
}

// seedPending waits until the status shows n pending sequences of the
// seed rule.
func (p *inProcess) seedPending(n int) {
	p.t.Helper()
	p.waitFor("the seed rule's pending sequences", func() bool {
		st := p.status()
		return len(st.Alerts.ByRule) == 1 && st.Alerts.ByRule[0].Pending == n
	})
}

// stop cancels the loop (SIGTERM) and returns its exit code.
func (p *inProcess) stop() int {
	p.cancel()
	<-p.exited
	return p.code
}

// Automator starts, then its runner connects out: one alert in the alert
// log, counted in the status, and a clean stop.
func TestDaemonInProcessAlert(t *testing.T) {
	w := newWorld()
	p := startInProcess(t, w, testConfig)
	seedID := p.d.live.RuleSet().Rules[0].ID

	now := time.Now()
	w.exec(500, 400, now, "automator", "/usr/bin/automator", "/tmp/x.workflow")
	p.seedPending(1)
	w.exec(501, 500, now, "com.apple.automa", "/System/Library/CoreServices/Automator Runner.app/Contents/MacOS/com.apple.automator.runner")
	w.connect(501, "192.168.1.10:52000", "93.184.216.34:443")
	p.waitFor("one alert in the alert log", func() bool { return len(p.alerts()) == 1 })
	p.waitFor("the alert in the status", func() bool { return p.status().Alerts.Total == 1 })

	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	lines := p.alerts()
	if len(lines) != 1 {
		t.Fatalf("%d alert lines after stop, want 1", len(lines))
	}
	var a struct {
		Rule    struct{ ID string } `json:"rule"`
		Process struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"process"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &a); err != nil {
		t.Fatal(err)
	}
	if a.Rule.ID != seedID {
		t.Errorf("alert rule.id %q, want the seed rule %q: %s", a.Rule.ID, seedID, lines[0])
	}
	st := p.status() // the last status, written at shutdown
	if st.Alerts.Total != 1 || st.AlertLog.Lines != 1 || st.Drops["alerts_queue"] != 0 || st.Rules.Loaded != 1 {
		t.Errorf("final status: alerts %+v alert log %+v drops %v rules %+v", st.Alerts, st.AlertLog, st.Drops, st.Rules)
	}
	if p.log.count("alert") != 1 || p.log.count("stopped") != 1 {
		t.Errorf("daemon log:\n%s", p.log.String())
	}
}

// SIGHUP in-process (the loop's hup channel): an unchanged rule set keeps
// the engine and its pending sequence; a changed one (an exceptions file
// added) replaces the engine and keeps the counters; a broken rule file
// keeps the rules in force.
func TestDaemonInProcessReload(t *testing.T) {
	w := newWorld()
	p := startInProcess(t, w, testConfig)
	reload := func(want string) {
		t.Helper()
		n := p.log.count(want)
		p.hup <- nil
		p.waitFor("log entry "+want, func() bool { return p.log.count(want) == n+1 })
	}

	now := time.Now()
	w.exec(500, 400, now, "automator", "/usr/bin/automator", "/tmp/x.workflow")
	p.seedPending(1)
	reload("reloaded")
	if p.log.count("rules loaded") != 1 {
		t.Errorf("an unchanged rule set was loaded again:\n%s", p.log.String())
	}
	w.exec(501, 500, now, "com.apple.automa", "/x/com.apple.automator.runner")
	w.connect(501, "192.168.1.10:52000", "93.184.216.34:443")
	p.waitFor("the alert of the sequence pending across the reload", func() bool { return len(p.alerts()) == 1 })

	// An exceptions file silencing the runner's destination: a new engine.
	exc := filepath.Join(p.dir, "exceptions.toml")
	if err := os.WriteFile(exc, []byte(`[[exception]]
rule_id = "*"
where = 'destination.ip == "203.0.113.99"'
stage = 2
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig + "[rules]\nexceptions = " + `"` + exc + `"` + "\n"
	if err := os.WriteFile(filepath.Join(p.dir, "macsensor.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	reload("reloaded")
	if p.log.count("rules loaded") != 2 {
		t.Errorf("a changed rule set did not replace the engine:\n%s", p.log.String())
	}
	w.exec(600, 400, time.Now(), "automator", "/usr/bin/automator", "/tmp/y.workflow")
	p.seedPending(1)
	w.exec(601, 600, time.Now(), "com.apple.automa", "/x/com.apple.automator.runner")
	w.connect(601, "192.168.1.10:52001", "203.0.113.99:443")
	p.waitFor("the suppressed match", func() bool {
		st := p.status()
		return len(st.Alerts.ByRule) == 1 && st.Alerts.ByRule[0].Suppressed == 1
	})
	if st := p.status(); st.Alerts.Total != 1 || st.Alerts.ByRule[0].Alerts != 1 || st.Alerts.ByRule[0].Matches != 2 {
		t.Errorf("counters across the engine swap: %+v", st.Alerts)
	}

	// A broken rule file: the reload fails, the rules stay.
	if err := os.MkdirAll(filepath.Join(p.dir, "rules.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "rules.d", "broken.toml"), []byte("[rule\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload("reload failed")
	if p.log.count("rules loaded") != 2 || p.log.count("rule failed to load") != 1 {
		t.Errorf("daemon log:\n%s", p.log.String())
	}
	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if n := len(p.alerts()); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
}
