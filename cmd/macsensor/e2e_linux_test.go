//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// End to end on Linux: `macsensor run` as a child process, real processes
// copied under the names the seed rule looks for, a loopback listener for
// the runner, and the alert log read back. The tests run one after the
// other (never t.Parallel): each daemon sees every process on the host.
// The harness is in e2eharness_linux_test.go.

// automatorScenario plays the seed rule's story: "automator" starts and,
// while it lives, "com.apple.automator.runner" connects to the listener.
// It returns both processes and their start events from the event log.
func (e *e2eEnv) automatorScenario(d *e2eDaemon) (auto, runner *e2eProc, autoStart, runnerStart e2eEvent) {
	e.tb.Helper()
	auto = e.spawn("automator", "wait")
	autoStart = d.waitEvent("exec of automator", func(ev *e2eEvent) bool { return ev.isExec(auto.pid, "automator") })
	runner = e.spawn("com.apple.automator.runner", "connect", e.addr)
	runnerStart = d.waitEvent("exec of the runner", func(ev *e2eEvent) bool {
		return ev.isExec(runner.pid, "com.apple.automator.runner")
	})
	return auto, runner, autoStart, runnerStart
}

// TestE2EAutomatorAlert: the seed rule's sequence, played by real
// processes, gives exactly one alert with both events.
func TestE2EAutomatorAlert(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	rule := e.linuxSeedRule("rules", "")
	cfg := e2eFast(rule)
	d := e.start(e.newState(&cfg))

	auto, runner, autoStart, runnerStart := e.automatorScenario(d)
	d.waitAlerts(1, e2eAlertWithin)
	d.settle()
	alerts := d.alerts()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts after %d more polls, want exactly 1", len(alerts), e2eSettlePolls)
	}
	if st, _ := d.status(); st.Alerts.Total != 1 {
		t.Errorf("status alerts.total = %d, want 1", st.Alerts.Total)
	}

	a := alerts[0]
	if a.Event.Kind != "alert" || a.Event.Code != "behavior" {
		t.Errorf("event.kind %q event.code %q, want alert, behavior", a.Event.Kind, a.Event.Code)
	}
	if a.Rule.ID != e2eLinuxRuleID || a.Rule.Name != e2eSeedName || a.Rule.Version != "107" {
		t.Errorf("rule %+v, want id %s, name %q, version 107", a.Rule, e2eLinuxRuleID, e2eSeedName)
	}
	if len(a.Threat) == 0 || a.Threat[0].Tactic.ID != "TA0002" || len(a.Threat[0].Technique) == 0 ||
		a.Threat[0].Technique[0].ID != "T1059" {
		t.Errorf("threat %+v, want threat[0] TA0002 / T1059", a.Threat)
	}
	if a.Host.OS.Type != "linux" || a.Host.ID == "" || a.Host.ID != autoStart.Host.ID {
		t.Errorf("alert host.id %q os.type %q, want the events' host.id %q and linux", a.Host.ID, a.Host.OS.Type, autoStart.Host.ID)
	}
	if len(a.Events) != 2 {
		t.Fatalf("alert has %d events, want 2 (the automator start, the runner's connection)", len(a.Events))
	}

	start, conn := a.Events[0], a.Events[1]
	if !start.isExec(auto.pid, "automator") || !slices.Contains(start.Event.Category, "process") ||
		!slices.Contains(start.Event.Type, "start") || start.Process.EntityID != autoStart.Process.EntityID {
		t.Errorf("Events[0] = %+v, want the exec of automator pid %d (entity_id %s)", start, auto.pid, autoStart.Process.EntityID)
	}
	if !conn.isConnect(runner.pid, e.port) || conn.Process.Name != "com.apple.automator.runner" ||
		!slices.Contains(conn.Event.Category, "network") || conn.Destination.IP != "127.0.0.1" ||
		conn.Network.Transport != "tcp" || conn.Network.Direction != "egress" {
		t.Errorf("Events[1] = %+v, want the runner pid %d connecting to 127.0.0.1:%d over tcp, egress", conn, runner.pid, e.port)
	}
	if conn.Process.EntityID == "" || conn.Process.EntityID != runnerStart.Process.EntityID {
		t.Errorf("network event entity_id %q, want the runner's start event's %q", conn.Process.EntityID, runnerStart.Process.EntityID)
	}
	if !a.Timestamp.Equal(conn.Timestamp) {
		t.Errorf("alert @timestamp %v, want the completing event's %v", a.Timestamp, conn.Timestamp)
	}
}

// assertNoAlerts waits until the daemon has polled e2eSettlePolls more
// times after the decisive event and checks that nothing alerted.
func assertNoAlerts(t *testing.T, d *e2eDaemon) {
	t.Helper()
	d.settle()
	if alerts := d.alerts(); len(alerts) != 0 {
		t.Errorf("%d alerts, want none; first: rule %q, %d events", len(alerts), alerts[0].Rule.Name, len(alerts[0].Events))
	}
	if st, _ := d.status(); st.Alerts.Total != 0 {
		t.Errorf("status alerts.total = %d, want 0", st.Alerts.Total)
	}
}

// TestE2ENoAlertRunnerAlone: the runner's connection without an automator
// start is not the sequence.
func TestE2ENoAlertRunnerAlone(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e.linuxSeedRule("rules", ""))
	d := e.start(e.newState(&cfg))

	runner := e.spawn("com.apple.automator.runner", "connect", e.addr)
	d.waitEvent("the runner's connection", func(ev *e2eEvent) bool { return ev.isConnect(runner.pid, e.port) })
	assertNoAlerts(t, d)
}

// TestE2ENoAlertAfterMaxspan: with maxspan=2s, a runner connecting more
// than 2 s after the automator start does not complete the sequence.
func TestE2ENoAlertAfterMaxspan(t *testing.T) {
	const maxspan = 2 * time.Second
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e.linuxSeedRule("rules", "2s"))
	d := e.start(e.newState(&cfg))

	auto := e.spawn("automator", "wait")
	start := d.waitEvent("exec of automator", func(ev *e2eEvent) bool { return ev.isExec(auto.pid, "automator") })
	// Wait for an instant (not a duration): past the automator start's
	// @timestamp plus maxspan plus one poll, so that the connection, which
	// is stamped when a poll sees it, falls outside the span.
	<-time.After(time.Until(start.Timestamp.Add(maxspan + 100*time.Millisecond)))
	runner := e.spawn("com.apple.automator.runner", "connect", e.addr)
	conn := d.waitEvent("the runner's connection", func(ev *e2eEvent) bool { return ev.isConnect(runner.pid, e.port) })
	if span := conn.Timestamp.Sub(start.Timestamp); span <= maxspan {
		t.Fatalf("the connection is %v after the automator start, not past maxspan %v: the case proves nothing", span, maxspan)
	}
	assertNoAlerts(t, d)
}

// TestE2ENoAlertCapitalAutomator: process.name == "automator" is
// case-sensitive; "Automator" does not start the sequence.
func TestE2ENoAlertCapitalAutomator(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e.linuxSeedRule("rules", ""))
	d := e.start(e.newState(&cfg))

	auto := e.spawn("Automator", "wait")
	d.waitEvent("exec of Automator", func(ev *e2eEvent) bool { return ev.isExec(auto.pid, "Automator") })
	runner := e.spawn("com.apple.automator.runner", "connect", e.addr)
	d.waitEvent("the runner's connection", func(ev *e2eEvent) bool { return ev.isConnect(runner.pid, e.port) })
	assertNoAlerts(t, d)
}

// e2eEveryStart is the rule that alerts on every process start.
func e2eEveryStart(t *testing.T) string {
	p, err := filepath.Abs("testdata/e2e/every_start.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// e2eCheckLogFile checks that every line of an alert log file parses as
// JSON and that the file ends with a complete line; it returns the lines.
func e2eCheckLogFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("%s ends with an unterminated line: %q", path, data[max(0, len(data)-80):])
	}
	n := 0
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(l) == 0 && len(data) == 0 {
			break
		}
		n++
		if !json.Valid(l) {
			t.Errorf("%s line %d is not JSON: %.120q", path, i+1, l)
		}
	}
	return n
}

// TestE2ECrashRepair: kill -9 while alerts are written, plus a torn line
// appended by hand (a crash mid-write), then a restart on the same state
// folder: the torn tail is cut, every line of every alert file is JSON.
func TestE2ECrashRepair(t *testing.T) {
	const torn = `{"@timestamp":"2026-`
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e2eEveryStart(t))
	cfg.AlertsMaxSize, cfg.AlertsKeep = "64KiB", 3
	state := e.newState(&cfg)
	d := e.start(state)

	// Processes that live 300 ms (three polls) at 20 a second: a steady
	// stream of alerts, and rotations every few dozen.
	load := e.spawnLoop(50*time.Millisecond, "e2e-short", "connect-exit", e.addr, "300")
	d.waitStatus("2 rotations of the alert log", e2eWithin, func(st *Status) bool { return st.AlertLog.Rotations >= 2 })
	d.kill()
	if n := load.stop(); n == 0 {
		t.Fatal("the load loop started no process")
	}

	path := d.alertPath()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Each line goes out in one write(2): a SIGKILL cannot tear one.
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("after kill -9 the alert log ends with a partial line: %q", data[max(0, len(data)-80):])
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d2 := e.start(state)
	st := d2.waitStatus("the repaired alert log", e2eWithin, func(st *Status) bool { return true })
	if st.AlertLog.Repaired != 1 {
		t.Errorf("status alert_log.repaired = %d after the restart, want 1", st.AlertLog.Repaired)
	}
	if d2.countLog("partial last line left by a crash cut off") != 1 {
		t.Errorf("the daemon log does not report the repair once")
	}
	if code := d2.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if st, ok := d2.status(); !ok || st.AlertLog.Repaired != 1 {
		t.Errorf("final status alert_log.repaired = %d (status ok %v), want 1", st.AlertLog.Repaired, ok)
	}

	files := []string{path}
	for i := 1; i <= cfg.AlertsKeep; i++ {
		p := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	if len(files) < 3 {
		t.Errorf("alert files %q: want the log and at least 2 rotated files", files)
	}
	total := 0
	for _, p := range files {
		total += e2eCheckLogFile(t, p)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(torn+"{")) || bytes.HasSuffix(data, []byte(torn)) {
			t.Errorf("%s still holds the torn fragment", p)
		}
	}
	if total == 0 {
		t.Error("no alert line at all")
	}
}

// TestE2ESIGTERMFlushes: SIGTERM in the middle of a stream of alerts exits
// 0 and every alert the daemon announced is on disk.
func TestE2ESIGTERMFlushes(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e2eEveryStart(t))
	d := e.start(e.newState(&cfg))

	load := e.spawnLoop(50*time.Millisecond, "e2e-short", "connect-exit", e.addr, "300")
	d.waitLog("alert", 5)
	code := d.stop(10 * time.Second)
	load.stop()
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	var announced []string
	for _, m := range d.logEntries() {
		if m["message"] == "alert" {
			id, _ := m["alert_id"].(string)
			announced = append(announced, id)
		}
	}
	alerts := d.alerts()
	var written []string
	for _, a := range alerts {
		written = append(written, a.Event.ID)
	}
	if !slices.Equal(announced, written) {
		t.Errorf("alerts announced in the daemon log (%d) and alerts in the log file (%d) differ:\n%q\n%q",
			len(announced), len(written), announced, written)
	}
	st, ok := d.status()
	if !ok {
		t.Fatal("no final status")
	}
	if st.Alerts.Total != uint64(len(alerts)) || st.AlertLog.Lines != int64(len(alerts)) {
		t.Errorf("final status: alerts.total %d, alert_log.lines %d; the file has %d", st.Alerts.Total, st.AlertLog.Lines, len(alerts))
	}
	for k, v := range st.Drops {
		if v != 0 {
			t.Errorf("drops.%s = %d, want 0", k, v)
		}
	}
}

// TestE2EHUPBrokenRuleKeepsRules: a SIGHUP while the rules folder holds a
// broken file keeps the running rules; the daemon log names the file; the
// seed scenario still alerts.
func TestE2EHUPBrokenRuleKeepsRules(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	rule := e.linuxSeedRule("rules.d", "")
	rulesDir := filepath.Dir(rule)
	cfg := e2eFast(rulesDir)
	d := e.start(e.newState(&cfg))

	broken, err := os.ReadFile("testdata/e2e/broken.toml")
	if err != nil {
		t.Fatal(err)
	}
	brokenPath := filepath.Join(rulesDir, "broken.toml")
	if err := os.WriteFile(brokenPath, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.waitLog("reload failed", 1)
	named := false
	for _, m := range d.logEntries() {
		if m["message"] == "rule failed to load" && m["file"] == brokenPath && m["line"] == float64(22) {
			named = true
		}
	}
	if !named {
		t.Errorf("the daemon log has no \"rule failed to load\" entry naming %s line 22", brokenPath)
	}
	if d.countLog("reloaded") != 0 {
		t.Errorf("the daemon reports a reload: the broken rule must keep the old rules")
	}

	_, runner, _, _ := e.automatorScenario(d)
	alerts := d.waitAlerts(1, e2eAlertWithin)
	if a := alerts[0]; a.Rule.ID != e2eLinuxRuleID || len(a.Events) != 2 || a.Events[1].Process.PID != runner.pid {
		t.Errorf("alert after the failed reload: rule %q, %d events, want %s and the runner's connection", a.Rule.ID, len(a.Events), e2eLinuxRuleID)
	}
	if st, _ := d.status(); st.Rules.Loaded != 1 {
		t.Errorf("status rules.loaded = %d, want 1", st.Rules.Loaded)
	}
}

// TestE2EHUPReopensAlertLog: after the alert log is renamed away, SIGHUP
// makes the daemon write the next alert to a fresh file at the configured
// path, mode 0640.
func TestE2EHUPReopensAlertLog(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e2eEveryStart(t))
	d := e.start(e.newState(&cfg))

	hasPID := func(alerts []e2eAlert, pid int64) bool {
		return slices.ContainsFunc(alerts, func(a e2eAlert) bool { return a.Process.PID == pid })
	}
	first := e.spawn("e2e-marker", "wait")
	d.wait("the first marker's alert", e2eAlertWithin, func() bool { return hasPID(d.alerts(), first.pid) })

	path := d.alertPath()
	moved := path + ".moved"
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.waitLog("reloaded", 1)
	d.wait("a fresh "+path, e2eWithin, func() bool { _, err := os.Stat(path); return err == nil })

	second := e.spawn("e2e-marker", "wait")
	d.wait("the second marker's alert in the fresh file", e2eAlertWithin, func() bool { return hasPID(d.alerts(), second.pid) })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("%s has mode %04o, want 0640", path, fi.Mode().Perm())
	}
	e2eCheckLogFile(t, path)
	e2eCheckLogFile(t, moved)
	var old []e2eAlert
	for _, l := range e2eLines(t, moved) {
		var a e2eAlert
		if err := json.Unmarshal(l, &a); err != nil {
			t.Fatal(err)
		}
		old = append(old, a)
	}
	if !hasPID(old, first.pid) || hasPID(old, second.pid) {
		t.Errorf("the renamed log: first marker's alert %v (want true), second's %v (want false)", hasPID(old, first.pid), hasPID(old, second.pid))
	}
	if hasPID(d.alerts(), first.pid) {
		t.Errorf("the fresh log holds the first marker's alert, written before the rename")
	}
}

// TestE2EAlertLeavesWithItsPoll: the alert of a sequence completed by a
// network event leaves with the poll that observed that event (DESIGN.md,
// Detection: "once a poll whose snapshot was taken at T has delivered its
// events ... Alerts thus leave about one poll interval after the connect"),
// not with the poll after it. Checked by order, not by duration: a marker
// process started once the connection is in the event log is observed by
// a later poll, and the alert must have been created before that
// observation (both times are the daemon's own: the alert's event.created
// and the marker's exec event.created).
func TestE2EAlertLeavesWithItsPoll(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e.linuxSeedRule("rules", ""))
	// Polls far apart compared with the few milliseconds between seeing the
	// connection and starting the marker: the marker is observed by the
	// poll right after the connection's.
	cfg.ProcessInterval, cfg.SocketInterval = "500ms", "500ms"
	d := e.start(e.newState(&cfg))

	_, runner, _, _ := e.automatorScenario(d)
	conn := d.waitEvent("the runner's connection", func(ev *e2eEvent) bool { return ev.isConnect(runner.pid, e.port) })
	marker := e.spawn("e2e-marker", "wait")
	mark := d.waitEvent("exec of the marker", func(ev *e2eEvent) bool { return ev.isExec(marker.pid, "e2e-marker") })
	a := d.waitAlerts(1, e2eAlertWithin)[0]
	if len(a.Events) != 2 || a.Events[1].Event.Sequence != conn.Event.Sequence {
		t.Fatalf("the alert's events %+v, want the automator start and the connection (sequence %d)", a.Events, conn.Event.Sequence)
	}
	if !a.Event.Created.Before(mark.Event.Created) {
		t.Errorf("alert created %s, after the next poll observed the marker (%s): the connection seen at %s waited for a later poll's watermark",
			a.Event.Created.Format(time.RFC3339Nano), mark.Event.Created.Format(time.RFC3339Nano), conn.Event.Created.Format(time.RFC3339Nano))
	}
}

// TestE2EExecAfterDisconnectNoAlert: an automator started after the
// runner's connection has ended (its disconnect already in the event log)
// is not followed by any runner network event, so nothing alerts; and its
// exec event must not be stamped before that disconnect, which the daemon
// observed before the automator existed.
func TestE2EExecAfterDisconnectNoAlert(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	cfg := e2eFast(e.linuxSeedRule("rules", ""))
	d := e.start(e.newState(&cfg))

	runner := e.spawn("com.apple.automator.runner", "connect", e.addr)
	d.waitEvent("the runner's connection", func(ev *e2eEvent) bool { return ev.isConnect(runner.pid, e.port) })
	runner.stop()
	disc := d.waitEvent("the runner's disconnect", func(ev *e2eEvent) bool {
		return ev.Event.Action == "disconnect_received" && ev.Process.PID == runner.pid
	})
	auto := e.spawn("automator", "wait")
	start := d.waitEvent("exec of automator", func(ev *e2eEvent) bool { return ev.isExec(auto.pid, "automator") })
	// The engine orders by (@timestamp, event.sequence). Linux start times
	// have clock-tick (10 ms) resolution, so the exec may carry the same
	// timestamp as the disconnect (the watermark clamps it to that poll's
	// snapshot time): its sequence must then be the later one.
	if start.Timestamp.Before(disc.Timestamp) ||
		(start.Timestamp.Equal(disc.Timestamp) && start.Event.Sequence <= disc.Event.Sequence) {
		t.Errorf("the automator's exec (%s, sequence %d) does not sort after the disconnect (%s, sequence %d) the daemon saw before the automator was started",
			start.Timestamp.Format(time.RFC3339Nano), start.Event.Sequence, disc.Timestamp.Format(time.RFC3339Nano), disc.Event.Sequence)
	}
	assertNoAlerts(t, d)
}
