package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/files"
	"github.com/macsensor/macsensor/sensor/reload"
	"github.com/macsensor/macsensor/sensor/workflow"
)

// The daemon's uses of file notifications (docs/FILES.md): the reload
// watcher, whose Changes the main loop takes like a SIGHUP; the
// persistence-folder file events, which enter the poll loop through the
// sensor's Inbox as the capture's DNS events do (one Inbox serves both);
// and the workflow read when an alert names one.

// FilesConfig is the [files] table: file events for persistence folders.
type FilesConfig struct {
	Enabled        bool     `toml:"enabled"`
	DefaultPaths   bool     `toml:"default_paths"`
	Paths          []string `toml:"paths"`
	MaxDescriptors int      `toml:"max_descriptors"`
	Settle         Duration `toml:"settle"`
	Rescan         Duration `toml:"rescan"`
}

// ReloadConfig is the [reload] table: reloading when the configuration's
// files change.
type ReloadConfig struct {
	Watch bool     `toml:"watch"`
	Quiet Duration `toml:"quiet"`
}

// WorkflowConfig is the [workflow] table: the Automator workflow an alert's
// process ran, attached to the alert.
type WorkflowConfig struct {
	Enabled bool `toml:"enabled"`
}

func (c FilesConfig) equal(o FilesConfig) bool {
	return c.Enabled == o.Enabled && c.DefaultPaths == o.DefaultPaths && slices.Equal(c.Paths, o.Paths) &&
		c.MaxDescriptors == o.MaxDescriptors && c.Settle == o.Settle && c.Rescan == o.Rescan
}

// validate checks [files], [reload] and [workflow], also when they are off.
func (c *Config) validateFiles(source string) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Source: source, Key: key, Err: fmt.Errorf(format, args...)}
	}
	f := &c.Files
	switch {
	case f.MaxDescriptors < 1 || f.MaxDescriptors > 100000:
		return bad("files.max_descriptors", "must be between 1 and 100000, not %d", f.MaxDescriptors)
	case f.Settle < Duration(time.Millisecond) || f.Settle > Duration(10*time.Second):
		return bad("files.settle", "must be between 1ms and 10s, not %s", time.Duration(f.Settle))
	case f.Rescan < Duration(100*time.Millisecond) || f.Rescan > Duration(time.Hour):
		return bad("files.rescan", "must be between 100ms and 1h, not %s", time.Duration(f.Rescan))
	case c.Reload.Quiet < Duration(10*time.Millisecond) || c.Reload.Quiet > Duration(time.Minute):
		return bad("reload.quiet", "must be between 10ms and 1m, not %s", time.Duration(c.Reload.Quiet))
	}
	for _, p := range f.Paths {
		if !filepath.IsAbs(p) {
			return bad("files.paths", "%q is not an absolute path", p)
		}
	}
	return nil
}

// filesInboxSize bounds the file events waiting for the poll goroutine
// when the capture has no inbox of its own.
const filesInboxSize = 4096

// fileEvents is the running persistence-folder watcher.
type fileEvents struct {
	cfg     FilesConfig
	w       *files.Watcher
	own     *sensor.Inbox                // the inbox used when the capture has none
	target  atomic.Pointer[sensor.Inbox] // where events go: own, or the capture's
	dropped atomic.Uint64                // events the inbox had no room for
	cancel  context.CancelFunc
	done    chan struct{}
	err     string
}

// startFiles starts the watcher cfg asks for; nil when it is off. When it
// cannot start, it says so once and the daemon runs without it.
func startFiles(cfg FilesConfig, log zerolog.Logger) *fileEvents {
	if !cfg.Enabled {
		return nil
	}
	fe := &fileEvents{cfg: cfg}
	var paths []string
	if cfg.DefaultPaths && runtime.GOOS == "darwin" {
		users, bad := files.ReadUsers(files.DSLocalUsers)
		if bad > 0 {
			log.Warn().Int("records", bad).Str("dir", files.DSLocalUsers).Msg("file events: user records not read")
		}
		paths = files.DefaultPaths("/", users)
	}
	paths = append(paths, cfg.Paths...)
	w, err := files.New(files.Options{
		Paths:          paths,
		MaxDescriptors: cfg.MaxDescriptors,
		CountEntries:   files.KqueueCost,
		Settle:         time.Duration(cfg.Settle),
		Rescan:         time.Duration(cfg.Rescan),
	})
	if err != nil {
		fe.err = err.Error()
		log.Warn().Err(err).Msg("file events unavailable")
		return fe
	}
	fe.w = w
	fe.own = sensor.NewInbox(filesInboxSize)
	fe.target.Store(fe.own)
	ctx, cancel := context.WithCancel(context.Background())
	fe.cancel, fe.done = cancel, make(chan struct{})
	go func() {
		defer close(fe.done)
		w.Run(ctx, fe.put)
	}()
	st := w.Stats()
	ev := log.Info()
	if st.NotWatched > 0 {
		ev = log.Warn()
	}
	ev.Int("folders", st.Folders).Int("watched", st.Watched).Int("missing", st.Missing).Int("not_watched", st.NotWatched).
		Int("descriptors", st.Descriptors).Int("max_descriptors", cfg.MaxDescriptors).Msg("file events running")
	return fe
}

// put runs on the watcher's goroutine: it must not block.
func (fe *fileEvents) put(ev *ecs.Event) {
	if !fe.target.Load().Put(ev) {
		fe.dropped.Add(1)
	}
}

// loopOptions gives the poll loop the inbox: the capture's when it has one
// (then the file events go there too), else the watcher's own.
func (fe *fileEvents) loopOptions(o *sensor.LoopOptions) {
	if fe == nil || fe.w == nil {
		return
	}
	if o.Inbox == nil {
		o.Inbox = fe.own
	}
	fe.target.Store(o.Inbox)
}

func (fe *fileEvents) stop() {
	if fe == nil || fe.w == nil {
		return
	}
	fe.cancel()
	<-fe.done
	fe.w.Close()
}

// StatusFiles is the file-events part of the status file.
type StatusFiles struct {
	Error       string         `json:"error,omitempty"`
	Folders     int            `json:"folders"`
	Watched     int            `json:"watched"`
	Missing     int            `json:"missing"`
	NotWatched  int            `json:"not_watched"`
	Descriptors int            `json:"descriptors"`
	Events      uint64         `json:"events"`
	Dropped     uint64         `json:"dropped"`
	Errors      uint64         `json:"errors"`
	Overflows   uint64         `json:"overflows"`
	Capped      uint64         `json:"capped"`
	LastError   string         `json:"last_error,omitempty"`
	List        []files.Folder `json:"list,omitempty"`
}

func (fe *fileEvents) status() *StatusFiles {
	if fe == nil {
		return nil
	}
	st := &StatusFiles{Error: fe.err}
	if fe.w == nil {
		return st
	}
	ws := fe.w.Stats()
	st.Folders, st.Watched, st.Missing, st.NotWatched, st.Descriptors = ws.Folders, ws.Watched, ws.Missing, ws.NotWatched, ws.Descriptors
	st.Events, st.Dropped, st.Errors, st.Overflows, st.Capped, st.LastError = ws.Events, fe.dropped.Load(), ws.Errors, ws.Overflows, ws.Capped, ws.LastError
	st.List = fe.w.Folders()
	return st
}

// reloadWatch is the running reload watcher.
type reloadWatch struct {
	paths  []string
	quiet  Duration
	w      *reload.Watcher
	cancel context.CancelFunc
	done   chan struct{}
}

// reloadPaths are the files whose changes mean a reload: the configuration
// file, the rule paths, the exceptions file and the managed preferences.
func reloadPaths(f runFlags, cfg Config) []string {
	p := f.config
	if p == "" {
		p = defaultConfigPath(runtime.GOOS, f.stateDir)
	}
	out := []string{p}
	out = append(out, cfg.Rules.Paths...)
	out = append(out, f.rules...)
	if cfg.Rules.Exceptions != "" {
		out = append(out, cfg.Rules.Exceptions)
	}
	switch {
	case f.managed != "":
		out = append(out, f.managed)
	case runtime.GOOS == "darwin" && f.stateDir == "":
		out = append(out, managedPrefPath)
	}
	return out
}

// startReload watches paths; nil when [reload] watch is off or the watcher
// cannot start (said once: SIGHUP still works).
func startReload(cfg ReloadConfig, paths []string, log zerolog.Logger) *reloadWatch {
	if !cfg.Watch {
		return nil
	}
	w, err := reload.New(reload.Options{Paths: paths, Quiet: time.Duration(cfg.Quiet)})
	if err != nil {
		log.Warn().Err(err).Msg("reload watcher unavailable: reload with SIGHUP")
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	rw := &reloadWatch{paths: paths, quiet: cfg.Quiet, w: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rw.done)
		w.Run(ctx)
	}()
	st := w.Stats()
	log.Debug().Strs("paths", paths).Int("watches", st.Watches).Int("missing", st.Missing).Msg("reload watcher running")
	return rw
}

// C is the channel of Changes; nil (never ready) when the watcher is off.
func (rw *reloadWatch) C() <-chan reload.Change {
	if rw == nil {
		return nil
	}
	return rw.w.C()
}

func (rw *reloadWatch) stop() {
	if rw == nil {
		return
	}
	rw.cancel()
	<-rw.done
	rw.w.Close()
}

// same reports whether rw watches paths with cfg's settings.
func (rw *reloadWatch) same(cfg ReloadConfig, paths []string) bool {
	if rw == nil {
		return !cfg.Watch
	}
	return cfg.Watch && rw.quiet == cfg.Quiet && slices.Equal(rw.paths, paths)
}

// StatusReload is the reload watcher's part of the status file.
type StatusReload struct {
	Watching bool     `json:"watching"`
	Paths    []string `json:"paths,omitempty"`
	Watches  int      `json:"watches"`
	Missing  int      `json:"missing"`
	Changes  uint64   `json:"changes"`
	Reloads  uint64   `json:"reloads"` // reloads run, from changes and SIGHUP
	Errors   uint64   `json:"errors"`
}

func (rw *reloadWatch) status(reloads uint64) StatusReload {
	st := StatusReload{Reloads: reloads}
	if rw == nil {
		return st
	}
	ws := rw.w.Stats()
	st.Watching, st.Paths, st.Watches, st.Missing, st.Changes, st.Errors = true, rw.paths, ws.Watches, ws.Missing, ws.Changes, ws.Errors
	return st
}

// workflowJSON returns the macsensor members describing the workflow an
// alert's events ran ("workflow":{...}), nil when none is named.
func workflowJSON(a *detect.Alert, dst []byte) []byte {
	t, ok := workflow.LocateEvents(a.Events)
	if !ok {
		return nil
	}
	w := workflow.Read(t, workflow.DefaultLimits)
	dst = append(dst[:0], `"workflow":`...)
	return w.AppendJSON(dst)
}
