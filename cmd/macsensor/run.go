package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/logfile"
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
	d, err := newDaemon(f, log)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	return d.run()
}

// daemon is the running sensor: the poll loop feeding the engine through a
// bounded channel, the engine feeding the log writers through bounded
// channels. Only the main goroutine (run) touches the engine, the reorder
// buffer and the configuration.
type daemon struct {
	flags runFlags
	log   zerolog.Logger
	// trusted: the real installed paths are in use, so configuration and
	// rule files must be root's alone.
	trusted bool
	cfg     Config
	sources []string
	started time.Time

	sensor   *sensor.Sensor
	closeSrc func()
	batches  chan sensor.Batch
	pollStop context.CancelFunc
	pollDone chan struct{}
	capture  captureState // the optional packet capture (capture.go)
	files    *fileEvents  // the optional persistence file events (files.go)
	reloadW  *reloadWatch // the reload watcher (files.go); nil when off
	reloads  uint64       // reloads run (SIGHUP or changed files)
	extra    []byte       // the alert's macsensor members (the workflow)

	engine       *detect.Engine
	reorder      *detect.Reorder
	rules        []*detect.Rule
	ruleErrs     []string
	fingerprint  string
	alertDropped uint64 // alert lines the writer channel had no room for
	eventDropped uint64
	prevEngine   engineTotals // counters of engines replaced by reloads
	line         []byte

	alerts *logSink
	events *logSink // nil when the event log is off
}

// engineTotals keeps the alert counts across reloads, which replace the
// engine.
type engineTotals struct {
	events uint64
	byRule map[string]uint64
}

func newDaemon(f runFlags, log zerolog.Logger) (*daemon, error) {
	d := &daemon{flags: f, log: log, started: time.Now()}
	d.trusted = runtime.GOOS == "darwin" && f.stateDir == ""
	cfg, sources, err := loadEffectiveConfig(f.stateDir, f.config, f.managed, d.trusted)
	if err != nil {
		return nil, err
	}
	d.applyLevel(cfg)
	d.cfg, d.sources = cfg, sources
	if err := d.loadEngine(cfg, true); err != nil {
		return nil, err
	}
	d.alerts, err = openSink("alerts", cfg.Alerts, d.log)
	if err != nil {
		return nil, err
	}
	if cfg.Events.Enabled {
		if d.events, err = openSink("events", cfg.Events.LogConfig, d.log); err != nil {
			d.alerts.stop()
			return nil, err
		}
	}
	d.sensor, d.closeSrc, err = openSensor(sensor.Options{EmitExisting: cfg.Sensor.EmitExisting})
	if err != nil {
		d.stopSinks()
		return nil, err
	}
	d.batches = make(chan sensor.Batch, cfg.Sensor.QueuePolls)
	d.capture = startCapture(cfg.Capture, d.log)
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

// loadEngine loads the rules and exceptions of cfg and builds a new engine
// if they changed. At start-up (first) a rule file that fails is reported
// and skipped; on reload any failure keeps the old rules in force.
func (d *daemon) loadEngine(cfg Config, first bool) error {
	// A configured rules folder that does not exist is an empty one (a
	// fresh install); a --rules path that does not exist is an error.
	var paths []string
	for _, p := range cfg.Rules.Paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			d.log.Debug().Str("path", p).Msg("rules folder absent")
			continue
		}
		paths = append(paths, p)
	}
	paths = append(paths, d.flags.rules...)
	rules, lerrs := loadRuleSet(paths, cfg.Rules.Builtin, d.trusted)
	var errs []string
	failed := false
	for _, e := range lerrs {
		errs = append(errs, e.Error())
		if e.Skipped {
			d.log.Warn().Str("file", e.File).Err(e.Err).Msg("rule skipped")
			continue
		}
		failed = true
		d.log.Error().Str("file", e.File).Int("line", e.Line).Int("col", e.Col).Err(e.Err).Msg("rule failed to load")
	}
	var excs []*detect.Exception
	var excData []byte
	if cfg.Rules.Exceptions != "" {
		data, err := readTrusted(cfg.Rules.Exceptions, d.trusted)
		if err == nil {
			var xerrs []*detect.LoadError
			excs, xerrs = detect.ParseExceptions(cfg.Rules.Exceptions, data)
			for _, e := range xerrs {
				errs = append(errs, e.Error())
				d.log.Error().Str("file", e.File).Int("line", e.Line).Err(e.Err).Msg("exception failed to load")
			}
			if len(xerrs) > 0 {
				err = fmt.Errorf("%s: %d exceptions failed to load", cfg.Rules.Exceptions, len(xerrs))
			}
		}
		if err != nil {
			if first {
				// Running without exceptions would raise the alerts they
				// exist to silence: refuse to start instead.
				return fmt.Errorf("exceptions: %w", err)
			}
			failed = true
			errs = append(errs, err.Error())
		}
		excData = data
	}
	if !first && failed {
		return fmt.Errorf("reload: %d rule or exception files failed; the previous rules stay in force", len(errs))
	}
	if len(rules) == 0 {
		if first {
			return errors.New("no rule to run (rules.builtin = false and no rule file loaded)")
		}
		return errors.New("reload: no rule would run; the previous rules stay in force")
	}
	fp := fingerprint(rules, excData, cfg.Rules.MaxPending)
	d.ruleErrs = errs
	if fp == d.fingerprint {
		return nil
	}
	eng, err := detect.NewEngine(rules, excs, detect.Options{
		MaxPending: cfg.Rules.MaxPending,
		LineCap:    int(cfg.Alerts.MaxLine),
		OnAlert:    d.onAlert,
		OnThrottle: d.onThrottle,
	})
	if err != nil {
		return err
	}
	if d.engine != nil {
		// The pending sequences of the old rules end here: count what
		// the old engine did so the status stays cumulative.
		d.reorder.Flush()
		d.engine.Flush()
		d.keepTotals(d.engine.Stats())
	}
	d.engine, d.rules, d.fingerprint = eng, rules, fp
	// The live path releases events by the collectors' watermark, not by
	// waiting: a negative window turns the time-based release off.
	d.reorder = detect.NewReorder(-1, eng.Process)
	d.log.Info().Int("rules", len(rules)).Int("failed", len(lerrs)).Int("exceptions", len(excs)).Msg("rules loaded")
	return nil
}

func (d *daemon) keepTotals(st detect.Stats) {
	if d.prevEngine.byRule == nil {
		d.prevEngine.byRule = map[string]uint64{}
	}
	d.prevEngine.events += st.Events
	for _, r := range st.Rules {
		d.prevEngine.byRule[r.ID] += r.Alerts
	}
}

// fingerprint identifies a rule set, its exceptions and limits: a reload
// that changes none of them keeps the engine and its pending sequences.
func fingerprint(rules []*detect.Rule, exceptions []byte, maxPending int) string {
	h := sha256.New()
	for _, r := range rules {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d\x00", r.ID, r.Version, r.Name, r.File, r.Query, r.MaxSignals, r.RiskScore)
	}
	h.Write(exceptions)
	fmt.Fprintf(h, "\x00%d", maxPending)
	return hex.EncodeToString(h.Sum(nil))
}

func (d *daemon) onAlert(a *detect.Alert) {
	if d.cfg.Workflow.Enabled {
		d.extra = workflowJSON(a, d.extra)
		a.Extra = d.extra
	}
	d.line = a.AppendJSON(d.line[:0])
	if !d.alerts.send(d.line) {
		d.alertDropped++
		d.log.Error().Str("rule", a.Rule.Name).Msg("alert dropped: the alert writer's queue is full")
	}
	d.log.Info().Str("rule", a.Rule.Name).Str("rule_id", a.Rule.ID).Str("alert_id", a.ID).Msg("alert")
}

func (d *daemon) onThrottle(s detect.ThrottleSummary) {
	d.log.Warn().Str("rule", s.RuleName).Str("rule_id", s.RuleID).Uint64("throttled", s.Throttled).
		Int("max_signals", s.Allowed).Time("window_start", time.Unix(0, s.WindowStart)).Msg("alerts throttled")
}

// run is the main loop: it returns the exit code.
func (d *daemon) run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	d.startPolling()
	d.reloadW = startReload(d.cfg.Reload, reloadPaths(d.flags, d.cfg), d.log)
	defer func() { d.reloadW.stop() }()
	d.log.Info().Str("version", version).Strs("config", d.sources).Int("rules", len(d.rules)).
		Str("alert_log", d.cfg.Alerts.Path).Stringer("process_interval", time.Duration(d.cfg.Sensor.ProcessInterval)).
		Stringer("socket_interval", time.Duration(d.cfg.Sensor.SocketInterval)).Bool("capture", d.capture.pc != nil).Msg("started")
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
			if !d.events.send(d.line) {
				d.eventDropped++
			}
		}
		d.reorder.Push(ev)
	}
	d.reorder.Advance(b.Watermark)
}

func (d *daemon) reload() {
	d.reloads++
	cfg, sources, err := loadEffectiveConfig(d.flags.stateDir, d.flags.config, d.flags.managed, d.trusted)
	if err != nil {
		d.log.Error().Err(err).Msg("reload: configuration refused; the previous one stays in force")
		d.reopenSinks()
		return
	}
	if err := d.loadEngine(cfg, false); err != nil {
		d.log.Error().Err(err).Msg("reload failed")
		d.reopenSinks()
		return
	}
	old := d.cfg
	d.applyLevel(cfg)
	d.cfg, d.sources = cfg, sources
	d.alerts = d.reconfigureSink(d.alerts, "alerts", old.Alerts, cfg.Alerts, true)
	switch {
	case cfg.Events.Enabled && d.events == nil:
		if s, err := openSink("events", cfg.Events.LogConfig, d.log); err != nil {
			d.log.Error().Err(err).Msg("reload: event log not opened")
		} else {
			d.events = s
		}
	case !cfg.Events.Enabled && d.events != nil:
		d.events.stop()
		d.events = nil
	case d.events != nil:
		d.events = d.reconfigureSink(d.events, "events", old.Events.LogConfig, cfg.Events.LogConfig, true)
	}
	captureChanged := !old.Capture.equal(cfg.Capture)
	filesChanged := !old.Files.equal(cfg.Files)
	if captureChanged || filesChanged || old.Sensor.ProcessInterval != cfg.Sensor.ProcessInterval || old.Sensor.SocketInterval != cfg.Sensor.SocketInterval {
		d.stopPolling()
		if captureChanged {
			d.capture.stop()
			d.capture = startCapture(cfg.Capture, d.log)
		}
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
	d.log.Info().Strs("config", sources).Int("rules", len(d.rules)).Msg("reloaded")
}

// reconfigureSink reopens a log whose settings did not change (the SIGHUP
// of an external log rotation) and replaces one whose settings did.
func (d *daemon) reconfigureSink(s *logSink, name string, old, cur LogConfig, reopen bool) *logSink {
	if old == cur {
		if reopen {
			s.reopen()
		}
		return s
	}
	ns, err := openSink(name, cur, d.log)
	if err != nil {
		d.log.Error().Err(err).Str("log", name).Msg("reload: new log settings refused; the log stays as it was")
		s.reopen()
		return s
	}
	s.stop()
	return ns
}

func (d *daemon) reopenSinks() {
	d.alerts.reopen()
	if d.events != nil {
		d.events.reopen()
	}
}

func (d *daemon) stopSinks() {
	d.alerts.stop()
	if d.events != nil {
		d.events.stop()
	}
}

// shutdown stops polling, runs what was already collected through the
// engine, flushes the logs and writes a last status.
func (d *daemon) shutdown() int {
	d.log.Info().Msg("stopping")
	// Capture first: the poll loop hands over the last dns events as it
	// stops.
	d.capture.stop()
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
	d.reorder.Flush()
	d.engine.Flush()
	d.stopSinks()
	d.closeSrc()
	d.writeStatus()
	d.log.Info().Msg("stopped")
	return 0
}

// logSink is a log file and the goroutine that writes it: the engine hands
// it lines through a bounded channel and never waits on the disk.
type logSink struct {
	name   string
	w      *logfile.Writer
	lines  chan []byte
	reopCh chan struct{}
	done   chan struct{}
	log    zerolog.Logger

	mu      sync.Mutex
	dropped uint64 // lines the writer gave up on (queue overflow)
}

const sinkQueue = 4096

func openSink(name string, c LogConfig, log zerolog.Logger) (*logSink, error) {
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
	s := &logSink{name: name, w: w, lines: make(chan []byte, sinkQueue), reopCh: make(chan struct{}, 1), done: make(chan struct{}), log: log}
	go s.loop()
	return s, nil
}

// send queues a copy of line; false when the queue is full (counted by the
// caller).
func (s *logSink) send(line []byte) bool {
	select {
	case s.lines <- append([]byte(nil), line...):
		return true
	default:
		return false
	}
}

func (s *logSink) reopen() {
	select {
	case s.reopCh <- struct{}{}:
	default:
	}
}

// stop writes what is queued, closes the file and waits.
func (s *logSink) stop() {
	close(s.lines)
	<-s.done
}

func (s *logSink) loop() {
	defer close(s.done)
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	batch := make([][]byte, 0, 256)
	var lastErr string
	write := func() {
		if len(batch) == 0 {
			return
		}
		err := s.w.WriteBatch(batch)
		clear(batch)
		batch = batch[:0]
		s.report(err, &lastErr)
	}
	for {
		select {
		case l, ok := <-s.lines:
			closed := !ok
			if ok {
				batch = append(batch, l)
				closed = s.takeWaiting(&batch)
			}
			write()
			if closed {
				s.report(s.w.Close(), &lastErr)
				return
			}
		case <-s.reopCh:
			s.report(s.w.Reopen(), &lastErr)
		case <-retry.C:
			if s.w.Stats().Queued > 0 {
				s.report(s.w.Retry(), &lastErr)
			}
		}
	}
}

// takeWaiting appends the lines already waiting, up to the batch's
// capacity, so that a burst costs one write batch and one fsync. It reports
// whether the channel was closed.
func (s *logSink) takeWaiting(batch *[][]byte) (closed bool) {
	for len(*batch) < cap(*batch) {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return true
			}
			*batch = append(*batch, l)
		default:
			return false
		}
	}
	return false
}

// report logs a writer error once per distinct message, and recovery.
func (s *logSink) report(err error, last *string) {
	if err == nil {
		if *last != "" && s.w.Stats().Queued == 0 {
			s.log.Info().Str("log", s.name).Msg("log writable again; queued lines written")
			*last = ""
		}
		return
	}
	if errors.Is(err, logfile.ErrDropped) {
		s.log.Error().Str("log", s.name).Err(err).Int64("dropped_total", s.w.Stats().Dropped).Msg("lines dropped: retry queue full")
	}
	if err.Error() != *last {
		*last = err.Error()
		s.log.Error().Str("log", s.name).Err(err).Int64("queued", s.w.Stats().Queued).Msg("log write failed; lines queued and retried")
	}
}
