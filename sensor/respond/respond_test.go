package respond

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// noSignal fails the test if Kill gets as far as sending a signal.
func noSignal(t *testing.T) func(int, func() error) error {
	return func(pid int, _ func() error) error {
		t.Errorf("signal sent to pid %d", pid)
		return nil
	}
}

func TestKillRefuses(t *testing.T) {
	k := &Killer{Self: 4000, HostID: "H", Now: func() time.Time { return t0 },
		StartTime: func(int32) (int64, error) { return 5, nil }, signal: noSignal(t)}
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{PID: 1, Start: 5}, "pid 1 is never killed"},
		{Target{PID: 0, Start: 5}, "pid 0 is never killed"},
		{Target{PID: -3, Start: 5}, "pid -3 is never killed"},
		{Target{PID: 4000, Start: 5}, "macsensor itself"},
		{Target{PID: 1 << 40, Start: 5}, "out of range"},
		{Target{PID: 77}, "neither process.start nor process.entity_id"},
		{Target{PID: 77, EntityID: "not base64!"}, "not one of this sensor's"},
		{Target{PID: 77, EntityID: sensor.EntityID("OTHER", 77, 5)}, "not made on this host"},
		{Target{PID: 77, EntityID: sensor.EntityID("H", 78, 5)}, "names another pid"},
	} {
		r := k.Kill(c.t)
		if r.Result != ResultRefused || !strings.Contains(r.Message, c.want) || r.Action != "kill_process" || r.Timestamp != t0.UnixNano() {
			t.Errorf("%+v: %+v, want refused with %q", c.t, r, c.want)
		}
	}
}

// TestKillPidReuse: the pid now names a process started at another time
// (the event's process exited and the number was reused): nothing is
// sent, and the alert records why.
func TestKillPidReuse(t *testing.T) {
	sent := false
	k := &Killer{Self: 1, HostID: "H", Now: func() time.Time { return t0 },
		StartTime: func(int32) (int64, error) { return t0.Add(time.Second).UnixNano(), nil },
		signal: func(pid int, check func() error) error {
			if err := check(); err != nil {
				return err
			}
			sent = true
			return nil
		}}
	for _, tg := range []Target{
		{PID: 812, Start: t0.UnixNano(), Name: "runner", State: 1},
		{PID: 812, EntityID: sensor.EntityID("H", 812, t0.UnixNano())}, // start from the entity id
	} {
		r := k.Kill(tg)
		if sent {
			t.Fatal("a reused pid was signalled")
		}
		if r.Result != ResultChanged || !strings.Contains(r.Message, "not killed") || !strings.Contains(r.Message, "another process") {
			t.Errorf("%+v", r)
		}
		if r.PID != 812 || r.State != tg.State || r.Field != "process.entity_id" {
			t.Errorf("response fields %+v", r)
		}
	}
	// The same start, read 230 ns apart (two boot-clock readings): sent.
	k.StartTime = func(int32) (int64, error) { return t0.UnixNano() + 230, nil }
	if r := k.Kill(Target{PID: 812, EntityID: sensor.EntityID("H", 812, t0.UnixNano())}); r.Result != 0 || !sent {
		t.Errorf("matching start: %+v, sent %v", r, sent)
	}
	// Gone before the check.
	k.StartTime = func(int32) (int64, error) { return 0, errors.New("proc: no such process") }
	sent = false
	if r := k.Kill(Target{PID: 812, Start: t0.UnixNano()}); sent || r.Result != 3 /* ESRCH */ {
		t.Errorf("gone: %+v, sent %v", r, sent)
	}
}
