package main

import (
	"os"
	"slices"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/respond"
)

// ResponseConfig is the [response] table: response actions, off by
// default. A rule acts when its file asks for the action ([macsensor]
// actions) or when its rule_id is listed here.
type ResponseConfig struct {
	// KillProcess lists rule_ids whose alerts kill the process of the
	// last matched event (kill_process), in addition to the rules whose
	// files ask for it.
	KillProcess []string `toml:"kill_process"`
	// Disabled turns every response action off, the rules' own included.
	Disabled bool `toml:"disabled"`
}

// wantsKill reports whether an alert of r kills its process.
func (c ResponseConfig) wantsKill(r *detect.Rule) bool {
	if c.Disabled {
		return false
	}
	return slices.Contains(r.Actions, respond.ActionKillProcess) || slices.Contains(c.KillProcess, r.ID)
}

// respondTo carries out the alert's response actions and records them in
// a.Responses. It runs before the alert is written, so the alert line says
// what was done.
func (d *daemon) respondTo(a *detect.Alert) {
	if !d.cfg.Response.wantsKill(a.Rule) || len(a.Events) == 0 {
		return
	}
	if d.killer == nil {
		pt, err := proc.Open()
		if err != nil {
			d.log.Error().Err(err).Msg("kill_process: cannot read the process table")
			return
		}
		d.killer = &respond.Killer{Self: os.Getpid(), StartTime: func(pid int32) (int64, error) {
			var e proc.Entry
			if err := pt.Read(pid, &e); err != nil {
				return 0, err
			}
			return e.Start, nil
		}}
	}
	last := len(a.Events) - 1
	ev := a.Events[last]
	// The events are this daemon's: their host.id is this machine's.
	d.killer.HostID = ev.Host.ID
	t := respond.Target{PID: ev.Process.PID, EntityID: ev.Process.EntityID, HostID: ev.Host.ID, Name: ev.Process.Name, State: last}
	if ev.Has&ecs.HasPID == 0 {
		t.PID = 0 // no pid: refused
	}
	if ev.Has&ecs.HasStart != 0 {
		t.Start = ev.Process.Start
	}
	r := d.killer.Kill(t)
	a.Responses = append(a.Responses[:0], r)
	d.log.Warn().Str("rule", a.Rule.Name).Str("alert_id", a.ID).Int64("pid", r.PID).Int("result", r.Result).Str("message", r.Message).Msg("kill_process")
}
