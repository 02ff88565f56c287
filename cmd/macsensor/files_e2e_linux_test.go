package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// e2eDecoyRule never matches: a daemon needs one rule to start.
const e2eDecoyRule = `[metadata]
creation_date = "2026/12/03"
maturity = "development"
updated_date = "2026/12/03"

[rule]
author = ["macsensor tests"]
description = "Never matches: the rules folder's first rule."
language = "eql"
license = "Elastic License v2"
name = "E2E Decoy Rule"
risk_score = 21
rule_id = "0b5e2e00-0000-4000-8000-000000000014"
severity = "low"
type = "eql"
version = 1

query = '''
process where host.os.type == "linux" and process.name == "no-such-process-e2e"
'''
`

// TestE2ERuleDropReloads (issue 14): a rule file moved into the rules
// folder of a running daemon fires on the next matching events without a
// signal; a broken file dropped beside it is reported, by file and line,
// and changes nothing.
func TestE2ERuleDropReloads(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	rulesDir := filepath.Join(e.work, "rules.d")
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rulesDir, "decoy.toml"), []byte(e2eDecoyRule), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := e2eFast(rulesDir)
	d := e.start(e.newState(&cfg))
	if st, _ := d.status(); st.Rules.Loaded != 1 || !st.Reload.Watching {
		t.Fatalf("status rules.loaded %d, reload %+v; want 1 rule and the reload watcher on", st.Rules.Loaded, st.Reload)
	}

	// The seed rule written elsewhere and moved in, as MDM agents do.
	staged := e.linuxSeedRule("staging", "")
	if err := os.Rename(staged, filepath.Join(rulesDir, "automator_linux.toml")); err != nil {
		t.Fatal(err)
	}
	d.waitStatus("2 rules loaded", e2eWithin, func(st *Status) bool { return st.Rules.Loaded == 2 })
	if n := d.countLog("files changed: reloading configuration and rules"); n != 1 {
		t.Errorf("%d reloads for one file moved in, want 1", n)
	}
	_, runner, _, _ := e.automatorScenario(d)
	alerts := d.waitAlerts(1, e2eAlertWithin)
	if a := alerts[0]; a.Rule.ID != e2eLinuxRuleID || len(a.Events) != 2 || a.Events[1].Process.PID != runner.pid {
		t.Fatalf("alert: rule %q, %d events; want %s with the runner's connection", a.Rule.ID, len(a.Events), e2eLinuxRuleID)
	}

	// A broken file beside it: reported, and the rules in force stay.
	broken, err := os.ReadFile("testdata/e2e/broken.toml")
	if err != nil {
		t.Fatal(err)
	}
	brokenPath := filepath.Join(rulesDir, "broken.toml")
	if err := os.WriteFile(brokenPath, broken, 0o644); err != nil {
		t.Fatal(err)
	}
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
	st := d.waitStatus("the failed reload counted", e2eWithin, func(st *Status) bool { return st.Reload.Reloads >= 2 })
	if st.Rules.Loaded != 2 || st.Reload.Changes < 2 {
		t.Errorf("status rules.loaded %d, reload %+v; want 2 rules still, 2 changes", st.Rules.Loaded, st.Reload)
	}
	_, runner, _, _ = e.automatorScenario(d)
	alerts = d.waitAlerts(2, e2eAlertWithin)
	if a := alerts[1]; a.Rule.ID != e2eLinuxRuleID || a.Events[1].Process.PID != runner.pid {
		t.Errorf("alert after the broken file: rule %q; want %s with the new runner", a.Rule.ID, e2eLinuxRuleID)
	}
}

// TestE2EFileEventsAndWorkflow: with [files] on, a plist written in a
// watched folder becomes a file event in the event log, with the host and
// a sequence number; and the seed scenario played by an "automator" whose
// arguments name a workflow bundle gives an alert carrying
// macsensor.workflow read from the bundle.
func TestE2EFileEventsAndWorkflow(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	rule := e.linuxSeedRule("rules", "")
	agents := filepath.Join(e.work, "LaunchAgents")
	if err := os.MkdirAll(agents, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := e2eFast(rule)
	state := e.newState(&cfg)
	f, err := os.OpenFile(filepath.Join(state, "macsensor.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[files]\nenabled = true\npaths = [%q]\nsettle = \"20ms\"\n", agents)
	f.Close()
	d := e.start(state)
	if st, _ := d.status(); st.Files == nil || st.Files.Watched != 1 {
		t.Fatalf("status files = %+v, want 1 folder watched", st.Files)
	}

	plist := filepath.Join(agents, "com.evil.agent.plist")
	if err := os.WriteFile(plist, []byte("<?xml version=\"1.0\"?><plist/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	type fileEvent struct {
		e2eEvent
		File struct {
			Path string `json:"path"`
			Ext  struct {
				HeaderBytes string `json:"header_bytes"`
			} `json:"Ext"`
		} `json:"file"`
	}
	var got fileEvent
	d.wait("the plist's file event in the event log", e2eWithin, func() bool {
		for _, l := range e2eLines(t, d.events.path) {
			var ev fileEvent
			if json.Unmarshal(l, &ev) == nil && ev.File.Path == plist {
				got = ev
				return true
			}
		}
		return false
	})
	if got.Event.Action != "modification" || !slices.Equal(got.Event.Category, []string{"file"}) || !slices.Equal(got.Event.Type, []string{"creation"}) ||
		got.Host.ID == "" || got.Host.OS.Type != "linux" || got.Event.Sequence == 0 || got.File.Ext.HeaderBytes != "3c3f786d6c2076657273696f6e3d2231" {
		t.Errorf("file event = %+v", got)
	}

	bundle := filepath.Join(e.work, "Evil.workflow")
	os.MkdirAll(filepath.Join(bundle, "Contents"), 0o755)
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>actions</key><array>
<dict><key>action</key><dict><key>ActionName</key><string>Run JavaScript</string>
<key>ActionParameters</key><dict><key>source</key><string>function run() { Application.currentApplication().doShellScript('id') }</string></dict>
<key>BundleIdentifier</key><string>com.apple.Automator.RunJavaScript</string></dict></dict>
</array></dict></plist>`
	if err := os.WriteFile(filepath.Join(bundle, "Contents", "document.wflow"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	auto := e.spawn("automator", "wait", bundle)
	d.waitEvent("exec of automator", func(ev *e2eEvent) bool { return ev.isExec(auto.pid, "automator") })
	e.spawn("com.apple.automator.runner", "connect", e.addr)
	d.waitAlerts(1, e2eAlertWithin)
	var a struct {
		Macsensor struct {
			Workflow struct {
				Path    string `json:"path"`
				Actions []struct {
					BundleID string `json:"bundle_id"`
					Script   struct {
						Language string `json:"language"`
					} `json:"script"`
				} `json:"actions"`
				Error string `json:"error"`
			} `json:"workflow"`
		} `json:"macsensor"`
	}
	line := e2eLines(t, d.alertPath())[0]
	if err := json.Unmarshal(line, &a); err != nil {
		t.Fatal(err)
	}
	w := a.Macsensor.Workflow
	if w.Path != bundle || len(w.Actions) != 1 || w.Actions[0].Script.Language != "javascript" || w.Error != "" {
		t.Errorf("macsensor.workflow = %+v in %s", w, line)
	}
}
