package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/logfile"
	"github.com/macsensor/macsensor/sensor/respond"
)

func init() {
	register("run", "run the sensor daemon (what launchd starts)", cmdRun)
}

// runFlags are the command-line settings of `macsensor run`; they are
// re-applied on every reload.
type runFlags struct {
	config   string
	stateDir string
	managed  string
	rules    pathList
	level    string
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration file (default: "+macConfigPath+" on macOS, <state-dir>/macsensor.toml elsewhere)")
	fs.StringVar(&f.stateDir, "state-dir", "", "folder for logs, status and rules off the installed macOS layout (default ./var off macOS)")
	fs.StringVar(&f.managed, "managed", "", "managed preferences plist (default on macOS: "+managedPrefPath+")")
	fs.Var(&f.rules, "rules", "rule file or folder to load in addition to the configured ones (repeatable)")
	fs.StringVar(&f.level, "log-level", "", "daemon log level, overriding the configuration: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor run [--config FILE] [--state-dir DIR] [--rules PATH]... [--log-level LEVEL]")
		fmt.Fprintln(stderr, "\nPolls processes and sockets, runs the rules and appends alerts to the alert log.")
		fmt.Fprintln(stderr, "SIGTERM/SIGINT: flush and exit. SIGHUP: reload configuration and rules, reopen logs.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	d, err := newDaemon(f, log, openSensor)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	return d.run()
}

// daemon is the running sensor: the poll loop feeding the engine through a
// bounded channel, the engine feeding the log sinks (logfile.Sink) through
// their bounded queues. Only the main goroutine (run) touches the engine
// and the configuration. The daemon holds the lifecycle; what has a queue,
// a retry or a state machine lives in a library (logfile.Sink,
// detect.Live, detect.LoadRuleSet).
type daemon struct {
	flags runFlags
	log   zerolog.Logger
	// trusted: the real installed paths are in use, so configuration and
	// rule files must be root's alone (internal/rootfile).
	trusted bool
	cfg     Config
	sources []string
	started time.Time

	sensor   *sensor.Sensor
	closeSrc func()
	batches  chan sensor.Batch
	pollStop context.CancelFunc
	pollDone chan struct{}
	capture  captureState       // the optional packet capture (capture.go)
	procEv   processEventsState // the process-event source (procevents.go)
	files    *fileEvents        // the optional persistence file events (files.go)
	reloadW  *reloadWatch       // the reload watcher (files.go); nil when off
	reloads  uint64             // reloads run (SIGHUP or changed files)
	extra    []byte             // the alert's macsensor members (the workflow)
	killer   *respond.Killer    // kill_process (respond.go); nil until first used
	sigs     signatureState     // the code-signature cache (signatures.go)

	live     *detect.Live
	ruleErrs []string
	line     []byte

	alerts *logfile.Sink
	events *logfile.Sink // nil when the event log is off
}

// sensorOpener opens the process and socket tables (openSensor; tests
// give fakes).
type sensorOpener func(sensor.Options) (*sensor.Sensor, func(), error)

func newDaemon(f runFlags, log zerolog.Logger, open sensorOpener) (*daemon, error) {
	d := &daemon{flags: f, log: log, started: time.Now()}
	d.trusted = runtime.GOOS == "darwin" && f.stateDir == ""
	cfg, sources, err := loadEffectiveConfig(f.stateDir, f.config, f.managed, d.trusted)
	if err != nil {
		return nil, err
	}
	d.applyLevel(cfg)
	d.cfg, d.sources = cfg, sources
	if err := d.loadRules(cfg, true); err != nil {
		return nil, err
	}
	d.alerts, err = openSink("alerts", cfg.Alerts, d.log)
	if err != nil {
		return nil, err
	}
	if cfg.Events.Enabled {
		if d.events, err = openSink("events", cfg.Events.LogConfig, d.log); err != nil {
			d.alerts.Close()
			return nil, err
		}
	}
	d.sigs = openSignatures(cfg.Sensor)
	d.sensor, d.closeSrc, err = open(sensor.Options{EmitExisting: cfg.Sensor.EmitExisting, ExitEvents: cfg.Sensor.ExitEvents,
		Signatures: d.sigs.sensorSignatures(), SignatureBudget: d.sigs.budget})
	if err != nil {
		d.sigs.close()
		d.stopSinks()
		return nil, err
	}
	d.batches = make(chan sensor.Batch, cfg.Sensor.QueuePolls)
	d.capture = startCapture(cfg.Capture, d.log)
	d.procEv = startProcessEvents(cfg.Sensor.ProcessEvents, d.log)
	d.files = startFiles(cfg.Files, d.log)
	return d, nil
}

func (d *daemon) applyLevel(cfg Config) {
	lvl := cfg.Log.Level
	if d.flags.level != "" {
		lvl = d.flags.level
	}
	l, err := zerolog.ParseLevel(lvl)
	if err != nil {
		l = zerolog.InfoLevel
	}
	d.log = d.log.Level(l)
}

// loadRules loads the rules and exceptions of cfg (detect.LoadRuleSet, the
// same loader as replay and `rules list`) and puts them in force; an
// unchanged rule set keeps the engine and its pending sequences
// (detect.Live.Swap). At start-up (first) a rule file that fails is
// reported and skipped, and exceptions that fail refuse the start; on
// reload any failure keeps the old rules in force.
func (d *daemon) loadRules(cfg Config, first bool) error {
	set, lerrs := detect.LoadRuleSet(ruleSetOptions(cfg.Rules.Paths, d.flags.rules, cfg.Rules.Builtin, cfg.Rules.Exceptions, d.trusted))
	var errs []string
	var excErrs []string
	failed := false
	for _, e := range lerrs {
		errs = append(errs, e.Error())
		switch {
		case e.Skipped:
			d.log.Warn().Str("file", e.File).Err(e.Err).Msg("rule skipped")
		case cfg.Rules.Exceptions != "" && e.File == cfg.Rules.Exceptions:
			failed = true
			excErrs = append(excErrs, e.Error())
			d.log.Error().Str("file", e.File).Int("line", e.Line).Err(e.Err).Msg("exception failed to load")
		default:
			failed = true
			d.log.Error().Str("file", e.File).Int("line", e.Line).Int("col", e.Col).Err(e.Err).Msg("rule failed to load")
		}
	}
	if first && set.ExceptionsFailed {
		// Running without exceptions would raise the alerts they exist to
		// silence: refuse to start instead.
		return fmt.Errorf("exceptions: %s", strings.Join(excErrs, "; "))
	}
	if !first && failed {
		return fmt.Errorf("reload: %d rule or exception files failed; the previous rules stay in force", len(errs))
	}
	if len(set.Rules) == 0 {
		if first {
			return errors.New("no rule to run (rules.builtin = false and no rule file loaded)")
		}
		return errors.New("reload: no rule would run; the previous rules stay in force")
	}
	opt := detect.Options{
		MaxPending: cfg.Rules.MaxPending,
		LineCap:    int(cfg.Alerts.MaxLine),
		OnAlert:    d.onAlert,
		OnThrottle: d.onThrottle,
	}
	replaced := true
	var err error
	if d.live == nil {
		// The live path releases events by the collectors' watermark, not
		// by waiting: a negative window turns the time-based release off.
		d.live, err = detect.NewLive(set, -1, opt)
	} else {
		replaced, err = d.live.Swap(set, opt)
	}
	if err != nil {
		return err
	}
	d.ruleErrs = errs
	if !replaced {
		return nil // the same rules: the engine and its pending sequences stay
	}
	d.log.Info().Int("rules", len(set.Rules)).Int("failed", len(lerrs)).Int("exceptions", len(set.Exceptions)).Msg("rules loaded")
	return nil
}

func (d *daemon) onAlert(a *detect.Alert) {
	if d.cfg.Workflow.Enabled {
		d.extra = workflowJSON(a, d.extra)
		a.Extra = d.extra
	}
	d.respondTo(a)
	d.line = a.AppendJSON(d.line[:0])
	if !d.alerts.Send(d.line) {
		d.log.Error().Str("rule", a.Rule.Name).Msg("alert dropped: the alert writer's queue is full")
	}
	d.log.Info().Str("rule", a.Rule.Name).Str("rule_id", a.Rule.ID).Str("alert_id", a.ID).Msg("alert")
}

func (d *daemon) onThrottle(s detect.ThrottleSummary) {
	d.log.Warn().Str("rule", s.RuleName).Str("rule_id", s.RuleID).Uint64("throttled", s.Throttled).
		Int("max_signals", s.Allowed).Time("window_start", time.Unix(0, s.WindowStart)).Msg("alerts throttled")
}

// run is the daemon: SIGTERM and SIGINT stop it, SIGHUP reloads. It
// returns the exit code.
func (d *daemon) run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return d.loop(ctx, hup)
}

// loop is the main loop: it polls, runs the rules, reloads on hup and
// writes the status until ctx ends, then shuts down.
func (d *daemon) loop(ctx context.Context, hup <-chan os.Signal) int {
	d.startPolling()
	d.reloadW = startReload(d.cfg.Reload, reloadPaths(d.flags, d.cfg), d.log)
	defer func() { d.reloadW.stop() }()
	d.log.Info().Str("version", version).Strs("config", d.sources).Int("rules", len(d.live.RuleSet().Rules)).
		Str("alert_log", d.cfg.Alerts.Path).Stringer("process_interval", time.Duration(d.cfg.Sensor.ProcessInterval)).
		Stringer("socket_interval", time.Duration(d.cfg.Sensor.SocketInterval)).Bool("capture", d.capture.pc != nil).
		Bool("process_events", d.procEv.src != nil).Msg("started")
	status := time.NewTicker(time.Duration(d.cfg.Status.Interval))
	defer status.Stop()
	d.writeStatus()
	for {
		select {
		case b := <-d.batches:
			d.handle(b)
		case <-hup:
			d.log.Info().Msg("SIGHUP: reloading configuration and rules")
			d.reload()
			status.Reset(time.Duration(d.cfg.Status.Interval))
		case ch := <-d.reloadW.C():
			d.log.Info().Strs("changed", ch.Paths).Int("events", ch.Events).Msg("files changed: reloading configuration and rules")
			d.reload()
			status.Reset(time.Duration(d.cfg.Status.Interval))
		case <-status.C:
			d.writeStatus()
		case <-ctx.Done():
			return d.shutdown()
		}
	}
}

func (d *daemon) startPolling() {
	ctx, cancel := context.WithCancel(context.Background())
	d.pollStop = cancel
	d.pollDone = make(chan struct{})
	opt := sensor.LoopOptions{
		ProcessEvery: time.Duration(d.cfg.Sensor.ProcessInterval),
		SocketEvery:  time.Duration(d.cfg.Sensor.SocketInterval),
		OnError:      func(err error) { d.log.Warn().Err(err).Msg("poll failed") },
	}
	d.capture.loopOptions(&opt)
	d.procEv.loopOptions(&opt)
	d.files.loopOptions(&opt)
	go func() {
		defer close(d.pollDone)
		d.sensor.LoopWith(ctx, opt, d.batches)
	}()
}

func (d *daemon) stopPolling() {
	d.pollStop()
	<-d.pollDone
}

// handle feeds one poll's events to the engine, in order, and releases
// everything up to the poll's watermark (DESIGN.md: no later event can be
// stamped before it), so alerts leave within the poll that completed them.
func (d *daemon) handle(b sensor.Batch) {
	for _, ev := range b.Events {
		if d.events != nil {
			d.line = ev.AppendJSON(d.line[:0])
			d.events.Send(d.line) // a full queue is counted (Refused)
		}
		d.live.Push(ev)
	}
	d.live.Advance(b.Watermark)
}

func (d *daemon) reload() {
	d.reloads++
	cfg, sources, err := loadEffectiveConfig(d.flags.stateDir, d.flags.config, d.flags.managed, d.trusted)
	if err != nil {
		d.log.Error().Err(err).Msg("reload: configuration refused; the previous one stays in force")
		d.reopenSinks()
		return
	}
	if err := d.loadRules(cfg, false); err != nil {
		d.log.Error().Err(err).Msg("reload failed")
		d.reopenSinks()
		return
	}
	old := d.cfg
	d.applyLevel(cfg)
	d.cfg, d.sources = cfg, sources
	d.alerts = d.reconfigureSink(d.alerts, "alerts", old.Alerts, cfg.Alerts)
	switch {
	case cfg.Events.Enabled && d.events == nil:
		if s, err := openSink("events", cfg.Events.LogConfig, d.log); err != nil {
			d.log.Error().Err(err).Msg("reload: event log not opened")
		} else {
			d.events = s
		}
	case !cfg.Events.Enabled && d.events != nil:
		d.events.Close()
		d.events = nil
	case d.events != nil:
		d.events = d.reconfigureSink(d.events, "events", old.Events.LogConfig, cfg.Events.LogConfig)
	}
	captureChanged := !old.Capture.equal(cfg.Capture)
	peChanged := old.Sensor.ProcessEvents != cfg.Sensor.ProcessEvents
	filesChanged := !old.Files.equal(cfg.Files)
	sigChanged := signaturesChanged(old.Sensor, cfg.Sensor)
	if captureChanged || peChanged || filesChanged || sigChanged || old.Sensor.ExitEvents != cfg.Sensor.ExitEvents ||
		old.Sensor.ProcessInterval != cfg.Sensor.ProcessInterval || old.Sensor.SocketInterval != cfg.Sensor.SocketInterval {
		d.stopPolling()
		if sigChanged {
			old := d.sigs
			d.sigs = openSignatures(cfg.Sensor)
			d.sensor.SetSignatures(d.sigs.sensorSignatures(), d.sigs.budget)
			old.close()
		}
		if captureChanged {
			d.capture.stop()
			d.capture = startCapture(cfg.Capture, d.log)
		}
		if peChanged {
			d.procEv.stop()
			d.procEv = startProcessEvents(cfg.Sensor.ProcessEvents, d.log)
		}
		d.sensor.SetExitEvents(cfg.Sensor.ExitEvents)
		if filesChanged {
			d.files.stop()
			d.files = startFiles(cfg.Files, d.log)
		}
		d.startPolling()
	}
	if paths := reloadPaths(d.flags, cfg); !d.reloadW.same(cfg.Reload, paths) {
		d.reloadW.stop()
		d.reloadW = startReload(cfg.Reload, paths, d.log)
	}
	d.log.Info().Strs("config", sources).Int("rules", len(d.live.RuleSet().Rules)).Msg("reloaded")
}

// reconfigureSink reopens a log whose settings did not change (the SIGHUP
// of an external log rotation) and replaces one whose settings did.
func (d *daemon) reconfigureSink(s *logfile.Sink, name string, old, cur LogConfig) *logfile.Sink {
	if old == cur {
		s.Reopen()
		return s
	}
	ns, err := openSink(name, cur, d.log)
	if err != nil {
		d.log.Error().Err(err).Str("log", name).Msg("reload: new log settings refused; the log stays as it was")
		s.Reopen()
		return s
	}
	s.Close()
	return ns
}

func (d *daemon) reopenSinks() {
	d.alerts.Reopen()
	if d.events != nil {
		d.events.Reopen()
	}
}

// stopSinks writes what the sinks hold and closes the logs; errors were
// reported by the sinks' OnError.
func (d *daemon) stopSinks() {
	d.alerts.Close()
	if d.events != nil {
		d.events.Close()
	}
}

// shutdown stops polling, runs what was already collected through the
// engine, flushes the logs and writes a last status.
func (d *daemon) shutdown() int {
	d.log.Info().Msg("stopping")
	// Capture first: the poll loop hands over the last dns events as it
	// stops.
	d.capture.stop()
	d.procEv.stop()
	d.files.stop()
	d.stopPolling()
	for {
		select {
		case b := <-d.batches:
			d.handle(b)
			continue
		default:
		}
		break
	}
	d.live.Flush()
	d.stopSinks()
	d.sigs.close()
	d.closeSrc()
	d.writeStatus()
	d.log.Info().Msg("stopped")
	return 0
}

// openSink opens a log file and the logfile.Sink that writes it; the
// sink's errors and recoveries go to the daemon log.
func openSink(name string, c LogConfig, log zerolog.Logger) (*logfile.Sink, error) {
	maxSize := int64(c.MaxSize)
	if maxSize == 0 {
		maxSize = -1 // config: 0 = never rotate; logfile: negative
	}
	w, err := logfile.Open(logfile.Options{
		Path: c.Path, MaxSize: maxSize, Keep: c.Keep, MaxLine: int(c.MaxLine),
		QueueBytes: int(c.QueueBytes), NoSync: !c.Fsync,
	})
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	if st := w.Stats(); st.Repaired > 0 {
		log.Warn().Str("log", name).Str("path", c.Path).Int64("bytes", st.RepairedBytes).Msg("partial last line left by a crash cut off")
	}
	// The callbacks run on the sink's goroutine, the only user of w.
	return logfile.NewSink(w, logfile.SinkOptions{
		OnError: func(err error) {
			if errors.Is(err, logfile.ErrDropped) {
				log.Error().Str("log", name).Err(err).Int64("dropped_total", w.Stats().Dropped).Msg("lines dropped: retry queue full")
				return
			}
			log.Error().Str("log", name).Err(err).Int64("queued", w.Stats().Queued).Msg("log write failed; lines queued and retried")
		},
		OnRecover: func() { log.Info().Str("log", name).Msg("log writable again; queued lines written") },
	}), nil
}
