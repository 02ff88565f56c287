package reload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults of Options.
const (
	DefaultQuiet   = 500 * time.Millisecond
	DefaultMaxWait = 5 * time.Second
	DefaultRearm   = 2 * time.Second
)

// maxPaths bounds the paths a Change lists.
const maxPaths = 32

// Options configure a Watcher.
type Options struct {
	// Paths are the files and folders whose changes mean a reload.
	Paths []string
	// Quiet is how long nothing relevant must change before a Change is
	// sent (DefaultQuiet when 0).
	Quiet time.Duration
	// MaxWait bounds the delay of a Change under a continuous stream of
	// changes (DefaultMaxWait when 0).
	MaxWait time.Duration
	// Rearm is how often paths whose folder is missing are looked for
	// (DefaultRearm when 0).
	Rearm time.Duration
}

// Change is one coalesced burst of changes.
type Change struct {
	Paths     []string // the changed paths, sorted, at most 32
	Truncated bool     // more paths changed than Paths lists
	Events    int      // the fsnotify events coalesced into it
}

// Stats counts what a Watcher does.
type Stats struct {
	Changes   uint64 // Changes put on the channel (a merged one counts again)
	Merged    uint64 // Changes merged into one the daemon had not taken yet
	Events    uint64 // relevant fsnotify events
	Errors    uint64 // fsnotify errors and failed watches
	Watches   int    // folders watched now
	Missing   int    // folders that do not exist now (looked for every Rearm)
	LastError string
}

// Watcher watches the configuration's paths.
type Watcher struct {
	opt     Options
	fsw     *fsnotify.Watcher
	targets []string
	c       chan Change

	// Owned by Run's goroutine (and New before it).
	watched map[string]bool // folders added to fsw
	missing map[string]bool // folders wanted but absent

	mu    sync.Mutex
	stats Stats
}

// New watches the folders of opt.Paths that exist.
func New(opt Options) (*Watcher, error) {
	if opt.Quiet <= 0 {
		opt.Quiet = DefaultQuiet
	}
	if opt.MaxWait <= 0 {
		opt.MaxWait = DefaultMaxWait
	}
	if opt.Rearm <= 0 {
		opt.Rearm = DefaultRearm
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	w := &Watcher{opt: opt, fsw: fsw, c: make(chan Change, 1), watched: map[string]bool{}, missing: map[string]bool{}}
	seen := map[string]bool{}
	for _, p := range opt.Paths {
		if p == "" {
			continue
		}
		p, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if !seen[p] {
			seen[p] = true
			w.targets = append(w.targets, p)
		}
	}
	w.arm()
	return w, nil
}

// C delivers the Changes. Take them promptly; a Change not taken absorbs
// the next ones.
func (w *Watcher) C() <-chan Change { return w.c }

// Close releases the watches; call it after Run has returned.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Stats returns the counters; safe from any goroutine.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	rearm := time.NewTicker(w.opt.Rearm)
	defer rearm.Stop()
	var (
		burst   *Change
		started time.Time
		paths   = map[string]bool{}
	)
	note := func(path string) {
		now := time.Now()
		if burst == nil {
			burst, started = &Change{}, now
			clear(paths)
		}
		burst.Events++
		paths[path] = true
		quiet.Reset(min(w.opt.Quiet, max(started.Add(w.opt.MaxWait).Sub(now), 0)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			if w.watched[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// A watched folder went away: inotify dropped its watch
				// (or, renamed, it watches the folder under its new name).
				// Look for it again every Rearm.
				_ = w.fsw.Remove(name)
				delete(w.watched, name)
				w.missing[name] = true
				w.count(func(s *Stats) { s.Watches, s.Missing = len(w.watched), len(w.missing) })
			}
			if !w.relevant(name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				w.arm() // a watched folder re-created: watch it again at once
			}
			w.count(func(s *Stats) { s.Events++ })
			note(name)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.count(func(s *Stats) { s.Errors++; s.LastError = err.Error() })
		case <-rearm.C:
			if len(w.missing) > 0 {
				for _, p := range w.arm() {
					note(p)
				}
			}
		case <-quiet.C:
			if burst == nil {
				continue
			}
			for p := range paths {
				if len(burst.Paths) == maxPaths {
					burst.Truncated = true
					break
				}
				burst.Paths = append(burst.Paths, p)
			}
			w.send(*burst)
			burst = nil
		}
	}
}

// send hands a Change over without blocking: when the last one has not
// been taken, it is replaced by the merge of both. It counts the Change
// before handing it over, so a receiver's Stats include it. (Run is the
// only sender and the channel holds one Change: once emptied here, the
// send cannot block.)
func (w *Watcher) send(c Change) {
	sort.Strings(c.Paths)
	select {
	case old := <-w.c:
		c = merge(old, c)
		w.count(func(s *Stats) { s.Merged++ })
	default:
	}
	w.count(func(s *Stats) { s.Changes++ })
	w.c <- c
}

func merge(a, b Change) Change {
	set := map[string]bool{}
	for _, p := range a.Paths {
		set[p] = true
	}
	for _, p := range b.Paths {
		set[p] = true
	}
	out := Change{Events: a.Events + b.Events, Truncated: a.Truncated || b.Truncated}
	for p := range set {
		out.Paths = append(out.Paths, p)
	}
	sort.Strings(out.Paths)
	if len(out.Paths) > maxPaths {
		out.Paths, out.Truncated = out.Paths[:maxPaths], true
	}
	return out
}

// relevant reports whether a change of name concerns a target: the target
// itself, or an entry of a target folder that is not a hidden or backup
// file.
func (w *Watcher) relevant(name string) bool {
	for _, t := range w.targets {
		if name == t {
			return true
		}
		if filepath.Dir(name) == t {
			b := filepath.Base(name)
			return !strings.HasPrefix(b, ".") && !strings.HasSuffix(b, "~")
		}
	}
	return false
}

// arm adds the watches that are missing: each target's folder, and each
// target that is a folder. It returns the targets that became watched
// folders after having been missing (their contents may have changed
// unseen).
func (w *Watcher) arm() (appeared []string) {
	want := map[string]bool{}
	for _, t := range w.targets {
		want[filepath.Dir(t)] = true
		if fi, err := os.Stat(t); err == nil && fi.IsDir() {
			want[t] = true
		}
	}
	dirs := make([]string, 0, len(want))
	for d := range want {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if w.watched[d] {
			continue
		}
		if err := w.fsw.Add(d); err != nil {
			if !w.missing[d] {
				w.missing[d] = true
				if !os.IsNotExist(err) {
					w.count(func(s *Stats) { s.Errors++; s.LastError = err.Error() })
				}
			}
			continue
		}
		w.watched[d] = true
		if w.missing[d] {
			delete(w.missing, d)
			appeared = append(appeared, d)
		}
	}
	w.mu.Lock()
	w.stats.Watches, w.stats.Missing = len(w.watched), len(w.missing)
	w.mu.Unlock()
	return appeared
}

func (w *Watcher) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}
