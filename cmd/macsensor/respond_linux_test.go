package main

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EKillProcess: the Linux seed rule with `[macsensor] actions =
// ["kill_process"]`: when the runner's connection completes the sequence,
// the daemon kills the runner (SIGKILL, checked by its start time) before
// it writes the alert, and the alert records the kill in Responses[]. The
// automator, which the rule does not act on, lives on.
func TestE2EKillProcess(t *testing.T) {
	e := newE2E(t, e2eRaceEnabled())
	rule := e.linuxSeedRule("rules", "")
	f, err := os.OpenFile(rule, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[macsensor]\nactions = [\"kill_process\"]\n")
	f.Close()
	cfg := e2eFast(rule)
	d := e.start(e.newState(&cfg))

	auto, runner, _, runnerStart := e.automatorScenario(d)
	d.waitAlerts(1, e2eAlertWithin)
	// The kill precedes the alert line: the runner is dead, or dies, now.
	select {
	case <-runner.done:
	case <-time.After(e2eWithin):
		t.Fatalf("runner pid %d still alive %v after the alert", runner.pid, e2eWithin)
	}
	if ws, ok := runner.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("runner exit %v, want killed by SIGKILL", runner.cmd.ProcessState)
	}
	select {
	case <-auto.done:
		t.Error("the automator was killed too")
	default:
	}

	lines := e2eLines(t, d.alertPath())
	if len(lines) != 1 {
		t.Fatalf("%d alerts, want 1", len(lines))
	}
	var a struct {
		Responses []struct {
			Timestamp time.Time `json:"@timestamp"`
			Action    struct {
				Action string `json:"action"`
				Field  string `json:"field"`
				State  int    `json:"state"`
			} `json:"action"`
			Process struct {
				PID      int64  `json:"pid"`
				EntityID string `json:"entity_id"`
				Name     string `json:"name"`
			} `json:"process"`
			Result  *int   `json:"result"`
			Message string `json:"message"`
		}
		Rule struct {
			Ruleset string `json:"ruleset"`
		} `json:"rule"`
	}
	if err := json.Unmarshal(lines[0], &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Responses) != 1 {
		t.Fatalf("Responses = %+v, want one", a.Responses)
	}
	r := a.Responses[0]
	if r.Action.Action != "kill_process" || r.Action.Field != "process.entity_id" || r.Action.State != 1 ||
		r.Process.PID != runner.pid || r.Process.EntityID != runnerStart.Process.EntityID ||
		r.Result == nil || *r.Result != 0 || r.Message != "killed with SIGKILL" || r.Timestamp.IsZero() {
		t.Errorf("Responses[0] = %+v (result %v), want kill_process of runner pid %d (%s), state 1, result 0", r, r.Result, runner.pid, runnerStart.Process.EntityID)
	}
	if !strings.HasPrefix(a.Rule.Ruleset, "file:") {
		t.Errorf("rule.ruleset %q, want file:<path>", a.Rule.Ruleset)
	}
}
