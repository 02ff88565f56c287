package respond

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/macsensor/macsensor/detect"
)

// ActionKillProcess is Elastic Defend's name of the action (the
// protections-artifacts behavior rules' `action = "kill_process"`).
const ActionKillProcess = "kill_process"

// Target is the process an alert names: the last event's process.
type Target struct {
	PID      int64
	Start    int64  // process.start, Unix ns; 0: the event had none
	EntityID string // process.entity_id
	HostID   string // host.id of the event
	Name     string // process.name
	State    int    // the index of the event in the alert's Events[]
}

// Killer kills processes named by a Target.
type Killer struct {
	// StartTime returns the live start time (Unix ns, as the sensor's
	// process.start) of pid; an error when it is gone or unreadable.
	StartTime func(pid int32) (int64, error)
	// HostID is this machine's host.id: the entity ids it can decode.
	HostID string
	// Self is the pid never to kill (the daemon's own).
	Self int
	// Now stamps Responses.@timestamp (default time.Now).
	Now func() time.Time
	// Tolerance is how far the live start time may be from the event's
	// and still name the same process (default startTolerance: the
	// reading's jitter on this OS, see kill_linux.go).
	Tolerance time.Duration

	// signal sends SIGKILL to pid once check says the pid still names
	// the target; the per-OS implementation (kill_linux.go: through a
	// pidfd; kill_darwin.go: kill(2)). Tests replace it.
	signal func(pid int, check func() error) error
}

// Result codes written in Responses.result besides 0 (success) and the
// errno of a failed system call.
const (
	ResultRefused = -1 // not attempted: the target is protected or could not be identified
	ResultChanged = -2 // not attempted: the pid now names another process
)

// Kill kills t's process with SIGKILL if it is still the process the
// event described, and returns the Response to record in the alert.
func (k *Killer) Kill(t Target) detect.Response {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	r := detect.Response{Action: ActionKillProcess, Field: "process.entity_id", State: t.State,
		PID: t.PID, EntityID: t.EntityID, Name: t.Name}
	done := func(code int, msg string) detect.Response {
		r.Timestamp = now().UnixNano()
		r.Result = code
		r.Message = msg
		return r
	}
	switch {
	case t.PID <= 1:
		return done(ResultRefused, fmt.Sprintf("refused: pid %d is never killed", t.PID))
	case t.PID == int64(k.Self):
		return done(ResultRefused, "refused: the target is macsensor itself")
	case t.PID > 1<<31-1:
		return done(ResultRefused, fmt.Sprintf("refused: pid %d is out of range", t.PID))
	}
	want, err := k.expectedStart(t)
	if err != nil {
		return done(ResultRefused, "refused: "+err.Error())
	}
	pid := int32(t.PID)
	check := func() error {
		got, err := k.StartTime(pid)
		if err != nil {
			return fmt.Errorf("%w: %v", errGone, err)
		}
		tol := int64(k.Tolerance)
		if tol == 0 {
			tol = int64(startTolerance)
		}
		if d := got - want; d > tol || d < -tol {
			return fmt.Errorf("%w: pid %d started at %s, the event's process at %s", errChanged, pid,
				time.Unix(0, got).UTC().Format(time.RFC3339Nano), time.Unix(0, want).UTC().Format(time.RFC3339Nano))
		}
		return nil
	}
	send := k.signal
	if send == nil {
		send = signalProcess
	}
	switch err := send(int(pid), check); {
	case err == nil:
		return done(0, "killed with SIGKILL")
	case errors.Is(err, errChanged):
		return done(ResultChanged, "not killed: "+err.Error())
	case errors.Is(err, errGone):
		return done(int(syscall.ESRCH), "not killed: the process is gone: "+err.Error())
	default:
		code := ResultRefused
		var en syscall.Errno
		if errors.As(err, &en) {
			code = int(en)
		}
		return done(code, "not killed: "+err.Error())
	}
}

var (
	errChanged = errors.New("respond: the pid names another process")
	errGone    = errors.New("respond: no such process")
)

// expectedStart is the start time of the event's process: process.start,
// else the start time inside a process.entity_id that the sensor derived
// on this host (sensor.EntityID: base64 of "hostID-pid-start").
func (k *Killer) expectedStart(t Target) (int64, error) {
	if t.Start != 0 {
		return t.Start, nil
	}
	if t.EntityID == "" {
		return 0, errors.New("the event has neither process.start nor process.entity_id")
	}
	raw, err := base64.StdEncoding.DecodeString(t.EntityID)
	if err != nil {
		return 0, errors.New("process.entity_id is not one of this sensor's")
	}
	s := string(raw)
	i := strings.LastIndexByte(s, '-')
	j := strings.LastIndexByte(s[:max(i, 0)], '-')
	if i < 0 || j < 0 {
		return 0, errors.New("process.entity_id is not one of this sensor's")
	}
	host, pidText, startText := s[:j], s[j+1:i], s[i+1:]
	if k.HostID == "" || host != k.HostID {
		return 0, errors.New("process.entity_id was not made on this host")
	}
	if pidText != strconv.FormatInt(t.PID, 10) {
		return 0, errors.New("process.entity_id names another pid")
	}
	start, err := strconv.ParseInt(startText, 10, 64)
	if err != nil || start == 0 {
		return 0, errors.New("process.entity_id holds no start time")
	}
	return start, nil
}
