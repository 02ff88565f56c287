package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/macsensor/macsensor/sensor/logfile"
)

func init() {
	register("status", "print what the running daemon reports (its status file)", cmdStatus)
}

// Status is the daemon's state file, rewritten atomically every
// status.interval. `macsensor status` reads it; so can monitoring.
type Status struct {
	Version       string               `json:"version"`
	PID           int                  `json:"pid"`
	Started       time.Time            `json:"started"`
	Updated       time.Time            `json:"updated"`
	UptimeSeconds float64              `json:"uptime_seconds"`
	Interval      string               `json:"status_interval"`
	Config        []string             `json:"config_sources"`
	Polls         StatusPolls          `json:"polls"`
	Events        map[string]uint64    `json:"events"`
	Alerts        StatusAlerts         `json:"alerts"`
	Drops         map[string]uint64    `json:"drops"`
	LateEvents    uint64               `json:"late_events"`
	Rules         StatusRules          `json:"rules"`
	AlertLog      StatusLog            `json:"alert_log"`
	EventLog      *StatusLog           `json:"event_log,omitempty"`
	Sensor        map[string]uint64    `json:"sensor"`
	Capture       *StatusCapture       `json:"capture,omitempty"` // only when [capture] enabled
	ProcessEvents *StatusProcessEvents `json:"process_events"`
	Files         *StatusFiles         `json:"files,omitempty"` // only when [files] enabled
	Reload        StatusReload         `json:"reload"`
	// CodeSignatures: the verification of executables (signatures.go).
	CodeSignatures *StatusCodeSignatures `json:"code_signatures,omitempty"`
}

// StatusPolls counts polls and gives the last one's duration.
type StatusPolls struct {
	Process       uint64  `json:"process"`
	Socket        uint64  `json:"socket"`
	Errors        uint64  `json:"errors"`
	LastProcessMS float64 `json:"last_process_ms"`
	LastSocketMS  float64 `json:"last_socket_ms"`
}

// StatusAlerts counts alerts, in total and per rule.
type StatusAlerts struct {
	Total  uint64       `json:"total"`
	ByRule []StatusRule `json:"by_rule"`
}

// StatusRule is one rule's counters.
type StatusRule struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Alerts     uint64 `json:"alerts"`
	Matches    uint64 `json:"matches"`
	Suppressed uint64 `json:"suppressed"`
	Throttled  uint64 `json:"throttled"`
	Pending    int    `json:"pending"`
	CapHits    uint64 `json:"cap_hits"`
}

// StatusRules tells which rules run and which did not load.
type StatusRules struct {
	Loaded int      `json:"loaded"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"`
}

// StatusLog is a log writer's state.
type StatusLog struct {
	Path      string `json:"path"`
	Lines     int64  `json:"lines"`
	Rotations int64  `json:"rotations"`
	Queued    int64  `json:"queued"`
	Dropped   int64  `json:"dropped"`
	Repaired  int64  `json:"repaired"`
	TooLong   int64  `json:"too_long"`
	LastError string `json:"last_error,omitempty"`
}

func (d *daemon) status() Status {
	ss, ls := d.sensor.PublishedStats()
	es := d.live.Stats() // cumulative across reloads that replaced the engine
	st := Status{
		Version:       version,
		PID:           os.Getpid(),
		Started:       d.started.UTC(),
		Updated:       time.Now().UTC(),
		UptimeSeconds: time.Since(d.started).Seconds(),
		Interval:      time.Duration(d.cfg.Status.Interval).String(),
		Config:        d.sources,
		Polls: StatusPolls{Process: ss.ProcessPolls, Socket: ss.SocketPolls, Errors: ls.Errors,
			LastProcessMS: float64(ss.LastProcessDur) / 1e6, LastSocketMS: float64(ss.LastSocketDur) / 1e6},
		Events: map[string]uint64{"process": ss.ProcessEvents, "network": ss.NetworkEvents, "end": ss.EndEvents,
			"processed": es.Events},
		Drops: map[string]uint64{"poll_batches": ls.DroppedBatch, "poll_events": ls.DroppedEvents,
			"alerts_queue": d.alerts.Stats().Refused, "events_queue": 0},
		LateEvents: d.live.ReorderStats().Late,
		Rules:      StatusRules{Loaded: len(d.live.RuleSet().Rules), Failed: len(d.ruleErrs), Errors: d.ruleErrs},
		AlertLog:   logStatus(d.cfg.Alerts.Path, d.alerts),
		Sensor: map[string]uint64{"processes": uint64(ss.Processes), "connections": uint64(ss.Connections),
			"gone": ss.Gone, "detail_errors": ss.DetailErrors, "unattributed": ss.Unattributed, "refreshes": ss.Refreshes},
	}
	st.Capture = d.capture.status(ls)
	st.ProcessEvents = d.procEv.status(ls)
	st.CodeSignatures = d.sigs.status(ss.Signatures)
	st.Drops["code_signature_queue"] = st.CodeSignatures.Dropped
	st.Events["process_end"] = ss.ExitEvents
	st.Drops["process_events_queue"] = st.ProcessEvents.Drops.Queue
	st.Drops["process_events_kernel"] = st.ProcessEvents.Drops.Kernel
	st.Drops["process_events_gone"] = st.ProcessEvents.Drops.Gone
	st.Files = d.files.status()
	st.Reload = d.reloadW.status(d.reloads)
	for _, r := range es.Rules {
		alerts := r.Alerts
		st.Alerts.Total += alerts
		st.Alerts.ByRule = append(st.Alerts.ByRule, StatusRule{ID: r.ID, Name: r.Name, Alerts: alerts, Matches: r.Matches,
			Suppressed: r.Suppressed, Throttled: r.Throttled, Pending: r.Pending, CapHits: r.CapHits})
	}
	st.Drops["alert_log"] = uint64(st.AlertLog.Dropped)
	if d.events != nil {
		el := logStatus(d.cfg.Events.Path, d.events)
		st.EventLog = &el
		st.Drops["event_log"] = uint64(el.Dropped)
		st.Drops["events_queue"] = d.events.Stats().Refused
	}
	return st
}

func logStatus(path string, s *logfile.Sink) StatusLog {
	ws := s.Stats().Writer
	return StatusLog{Path: path, Lines: ws.Lines, Rotations: ws.Rotations, Queued: ws.Queued, Dropped: ws.Dropped,
		Repaired: ws.Repaired, TooLong: ws.TooLong, LastError: ws.LastError}
}

// writeStatus replaces the status file atomically: a temporary file in the
// same folder, fsync'd, renamed over the old one.
func (d *daemon) writeStatus() {
	if err := writeStatusFile(d.cfg.Status.Path, d.status()); err != nil {
		d.log.Warn().Err(err).Str("path", d.cfg.Status.Path).Msg("status file not written")
	}
}

func writeStatusFile(path string, st Status) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".status-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", "", "state folder of a non-macOS or test install (default ./var off macOS)")
	file := fs.String("file", "", "status file to read (default: the configured status.path)")
	asJSON := fs.Bool("json", false, "print the status file as it is")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path := *file
	if path == "" {
		cfg, _, err := loadEffectiveConfig(*stateDir, "", "", false)
		if err != nil {
			fmt.Fprintln(stderr, "macsensor status:", err)
			return 1
		}
		path = cfg.Status.Path
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "macsensor status: %s does not exist: the daemon has not run with this configuration\n", path)
		} else {
			fmt.Fprintln(stderr, "macsensor status:", err)
		}
		return 1
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		fmt.Fprintf(stderr, "macsensor status: %s: %v\n", path, err)
		return 1
	}
	if *asJSON {
		stdout.Write(data)
	} else {
		printStatus(stdout, &st)
	}
	interval, _ := time.ParseDuration(st.Interval)
	if age := time.Since(st.Updated); interval > 0 && age > 3*interval {
		fmt.Fprintf(stderr, "macsensor status: STALE: last updated %s ago (every %s expected): is the daemon running? (macOS: sudo launchctl print system/com.macsensor.daemon)\n",
			age.Round(time.Second), interval)
		return 1
	}
	return 0
}

func printStatus(w io.Writer, st *Status) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "macsensor\t%s (pid %d, %s)\n", st.Version, st.PID, runtime.GOOS)
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", (time.Duration(st.UptimeSeconds) * time.Second).String(), st.Started.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated\t%s\n", st.Updated.Format(time.RFC3339))
	fmt.Fprintf(tw, "polls\tprocess %d, socket %d, errors %d (last: process %.2f ms, socket %.2f ms)\n",
		st.Polls.Process, st.Polls.Socket, st.Polls.Errors, st.Polls.LastProcessMS, st.Polls.LastSocketMS)
	fmt.Fprintf(tw, "events\t%s\n", formatCounts(st.Events))
	fmt.Fprintf(tw, "late events\t%d\n", st.LateEvents)
	fmt.Fprintf(tw, "drops\t%s\n", formatCounts(st.Drops))
	fmt.Fprintf(tw, "rules\t%d loaded, %d failed\n", st.Rules.Loaded, st.Rules.Failed)
	for _, e := range st.Rules.Errors {
		fmt.Fprintf(tw, "\t  %s\n", e)
	}
	fmt.Fprintf(tw, "alerts\t%d\n", st.Alerts.Total)
	for _, r := range st.Alerts.ByRule {
		if r.Alerts+r.Matches+uint64(r.Pending) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\t  %s: %d alerts, %d matches, %d suppressed, %d throttled, %d pending\n",
			r.Name, r.Alerts, r.Matches, r.Suppressed, r.Throttled, r.Pending)
	}
	fmt.Fprintf(tw, "alert log\t%s: %d lines, %d rotations, %d queued, %d dropped\n",
		st.AlertLog.Path, st.AlertLog.Lines, st.AlertLog.Rotations, st.AlertLog.Queued, st.AlertLog.Dropped)
	if st.AlertLog.LastError != "" {
		fmt.Fprintf(tw, "\t  last error: %s\n", st.AlertLog.LastError)
	}
	if st.EventLog != nil {
		fmt.Fprintf(tw, "event log\t%s: %d lines, %d rotations, %d dropped\n", st.EventLog.Path, st.EventLog.Lines, st.EventLog.Rotations, st.EventLog.Dropped)
	}
	if c := st.Capture; c != nil {
		if !c.Open {
			fmt.Fprintf(tw, "capture\tnot open, polling alone: %s\n", c.Error)
		} else {
			fmt.Fprintf(tw, "capture\ton %s: %d packets, %d syns, %d dns, %d malformed, %d partial, %d kernel drops\n",
				strings.Join(c.Interfaces, ", "), c.Packets, c.SYNs, c.DNSResponses, c.Malformed, c.Partial, c.KernelDrops)
			fmt.Fprintf(tw, "\t  trigger: %d triggered polls, %d deferred; SYN to poll start p50 <= %.2f ms, p99 <= %.2f ms, max %.2f ms\n",
				c.TriggeredPolls, c.TriggerDeferred, c.DelayP50MS, c.DelayP99MS, c.DelayMaxMS)
			fmt.Fprintf(tw, "\t  dns: %d events, %d dropped; %d destinations named; cache %d entries, %d hits, %d misses\n",
				c.DNSEvents, c.DNSDropped, c.Named, c.CacheEntries, c.CacheHits, c.CacheMisses)
		}
	}
	if cs := st.CodeSignatures; cs != nil {
		if cs.State == "on" {
			fmt.Fprintf(tw, "code signatures\ton: %d hits, %d misses, %d verified (%d MB, %.0f ms), %d pending at emit, %d too large, %d changed, %d dropped, %d cached\n",
				cs.Hits, cs.Misses, cs.Verified, cs.BytesRead>>20, cs.VerifyMS, cs.PendingAtEmit, cs.TooLarge, cs.Changed, cs.Dropped, cs.Entries)
		} else {
			fmt.Fprintf(tw, "code signatures\toff (code_signatures = false)\n")
		}
	}
	if pe := st.ProcessEvents; pe != nil {
		switch pe.State {
		case "on":
			fmt.Fprintf(tw, "process events	on: %d events, %d pid reads, %d deferred, %d reconcile polls; event to read p50 <= %.2f ms, p99 <= %.2f ms, max %.2f ms\n",
				pe.Events, pe.Reads, pe.Deferred, pe.Reconciles, pe.DelayP50MS, pe.DelayP99MS, pe.DelayMaxMS)
			fmt.Fprintf(tw, "\t  drops: queue %d, kernel %d, gone before read %d\n", pe.Drops.Queue, pe.Drops.Kernel, pe.Drops.Gone)
		case "unavailable":
			fmt.Fprintf(tw, "process events	unavailable, polling alone: %s\n", pe.Error)
		default:
			fmt.Fprintf(tw, "process events	off (process_events = false), polling alone\n")
		}
	}
	tw.Flush()
}

func formatCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s
}
