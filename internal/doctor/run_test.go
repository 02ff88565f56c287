package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// runFake runs checks through Run with the given deadlines and returns the
// results by name.
func runFake(t *testing.T, total, per time.Duration, checks ...Check) map[string]Result {
	t.Helper()
	d := Run(context.Background(), Options{Timeout: total, CheckTimeout: per, Checks: checks, TempDir: t.TempDir()})
	got := map[string]Result{}
	for _, r := range d.Report().Checks {
		got[r.Name] = r
	}
	if len(got) != len(checks) {
		t.Fatalf("%d results for %d checks", len(got), len(checks))
	}
	return got
}

func TestRunOutcomes(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	got := runFake(t, time.Minute, 100*time.Millisecond,
		Check{Name: "ok", Run: func(context.Context, *Doctor) (string, error) { return "measured 1", nil }},
		Check{Name: "bad", Run: func(context.Context, *Doctor) (string, error) {
			return "measured 2", failf("do this", "broke: %d", 7)
		}},
		Check{Name: "plain-error", Run: func(context.Context, *Doctor) (string, error) { return "", errors.New("boom") }},
		Check{Name: "skips", Run: func(context.Context, *Doctor) (string, error) { return "x", Skipf("not here") }},
		// A hung check: it ignores its context. It must be abandoned at its
		// deadline and the run must go on.
		Check{Name: "hangs", Run: func(context.Context, *Doctor) (string, error) { <-block; return "", nil }},
		Check{Name: "after-hang", Run: func(context.Context, *Doctor) (string, error) { return "still runs", nil }},
		Check{Name: "needs-bad", Needs: []string{"bad"}, Run: func(context.Context, *Doctor) (string, error) {
			t.Error("needs-bad ran")
			return "", nil
		}},
		Check{Name: "needs-ok", Needs: []string{"ok"}, Run: func(context.Context, *Doctor) (string, error) { return "ran", nil }},
		Check{Name: "panics", Run: func(context.Context, *Doctor) (string, error) { panic("oops") }},
		Check{Name: "own-timeout", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ *Doctor) (string, error) {
			<-ctx.Done()
			return "", failf("", "gave up: %v", ctx.Err())
		}},
	)
	want := map[string]struct {
		st     Status
		value  string
		reason string
		next   string
	}{
		"ok":          {Pass, "measured 1", "", ""},
		"bad":         {Fail, "measured 2", "broke: 7", "do this"},
		"plain-error": {Fail, "", "boom", nextBundle},
		"skips":       {Skip, "", "not here", ""},
		"hangs":       {Fail, "", "did not finish within its own deadline (100ms): abandoned", nextBundle},
		"after-hang":  {Pass, "still runs", "", ""},
		"needs-bad":   {Skip, "", "needs bad, which did not pass", ""},
		"needs-ok":    {Pass, "ran", "", ""},
		"panics":      {Fail, "", "the check panicked: oops", nextBundle},
		"own-timeout": {Fail, "", "gave up: context deadline exceeded", ""},
	}
	for name, w := range want {
		r := got[name]
		if r.Status != w.st || r.Value != w.value || r.Reason != w.reason || r.Next != w.next {
			t.Errorf("%s: got %+v, want %+v", name, r, w)
		}
	}
}

func TestRunTotalTimeout(t *testing.T) {
	got := runFake(t, 150*time.Millisecond, time.Minute,
		Check{Name: "slow", Run: func(ctx context.Context, _ *Doctor) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}},
		Check{Name: "never", Run: func(context.Context, *Doctor) (string, error) { return "ran", nil }},
	)
	if r := got["slow"]; r.Status != Fail || r.Reason != "context deadline exceeded" {
		t.Errorf("slow: %+v", r)
	}
	if r := got["never"]; r.Status != Fail || !strings.HasPrefix(r.Reason, "not run:") || !strings.Contains(r.Reason, "--timeout") {
		t.Errorf("never: %+v", r)
	}
}

func TestRunRootSkip(t *testing.T) {
	ran := false
	d := &Doctor{}
	rs := runChecks(context.Background(), d, []Check{{Name: "r", Root: true, Run: func(context.Context, *Doctor) (string, error) {
		ran = true
		return "", nil
	}}}, false, time.Second)
	if ran || rs[0].Status != Skip || rs[0].Reason != "needs root: run it with sudo" {
		t.Errorf("root check as non-root: ran %v, %+v", ran, rs[0])
	}
}

// TestRunHungSensorHolder: a check that hangs holding the sensor makes the
// next user fail at its own deadline instead of racing it.
func TestRunHungSensorHolder(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	got := runFake(t, time.Minute, 100*time.Millisecond,
		Check{Name: "holder", Run: func(ctx context.Context, d *Doctor) (string, error) {
			unlock, err := d.lockSensor(ctx)
			if err != nil {
				return "", err
			}
			defer unlock()
			<-block
			return "", nil
		}},
		Check{Name: "next", Run: func(ctx context.Context, d *Doctor) (string, error) {
			unlock, err := d.lockSensor(ctx)
			if err != nil {
				return "", err
			}
			unlock()
			return "got it", nil
		}},
	)
	if r := got["next"]; r.Status != Fail || !strings.Contains(r.Reason, "held by a check that hung") {
		t.Errorf("next: %+v", r)
	}
}
