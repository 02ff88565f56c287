package files

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Defaults of Options.
const (
	DefaultMaxDescriptors = 512
	DefaultSettle         = 100 * time.Millisecond
	DefaultRescan         = 10 * time.Second
)

// KqueueCost reports whether this OS's fsnotify backend is kqueue, which
// costs one descriptor per entry of a watched folder (Options.CountEntries).
var KqueueCost = runtime.GOOS == "darwin" || strings.HasSuffix(runtime.GOOS, "bsd") || runtime.GOOS == "dragonfly"

// Options configure a Watcher.
type Options struct {
	// Paths are the folders to watch, most important first: the
	// descriptor cap leaves out the last ones.
	Paths []string
	// MaxDescriptors caps the descriptors (kqueue) or watches (inotify) the
	// folders may cost; DefaultMaxDescriptors when 0.
	MaxDescriptors int
	// CountEntries makes a folder cost 1 + its entries, as kqueue does
	// (set it to KqueueCost); otherwise a folder costs 1.
	CountEntries bool
	// Settle is how long an entry must be quiet before its event is sent:
	// a burst (create, write, chmod) is one event. DefaultSettle when 0.
	Settle time.Duration
	// Rescan is how often missing folders are looked for and the costs
	// re-counted. DefaultRescan when 0.
	Rescan time.Duration
	// HeaderBytes is the length of file.Ext.header_bytes; HeaderBytes when
	// 0, none when negative.
	HeaderBytes int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Stats counts what a Watcher does.
type Stats struct {
	Folders     int    // folders configured
	Watched     int    // folders watched now
	Missing     int    // folders that do not exist (or are not folders) now
	NotWatched  int    // folders left out by the descriptor cap now
	Descriptors int    // what the watched folders cost (kqueue: 1 + entries each, at the last count)
	Events      uint64 // events emitted
	Errors      uint64 // errors from fsnotify or while adding a folder
	Overflows   uint64 // kernel queue overflows: events were lost
	Capped      uint64 // times a folder was left out or dropped by the cap
	LastError   string
}

// Folder is the state of one configured folder, for the status file.
type Folder struct {
	Path    string `json:"path"`
	Real    string `json:"real,omitempty"` // with symbolic links resolved
	Watched bool   `json:"watched"`
	Cost    int    `json:"descriptors,omitempty"`
	Reason  string `json:"reason,omitempty"` // why it is not watched
}

// Watcher emits file events for the entries of a list of folders.
type Watcher struct {
	opt Options
	fsw *fsnotify.Watcher

	// Owned by the goroutine that calls New, then by Run's.
	folders []*folder
	byReal  map[string]*folder
	pending map[string]*pend
	renames []rename
	timer   *time.Timer
	emit    func(*ecs.Event)
	gone    string // the subfolder whose deletion was just reported
	goneAt  time.Time

	mu    sync.Mutex
	stats Stats
	snap  []Folder
}

type folder struct {
	path    string // as configured, without a trailing "/*"
	real    string // "" until watched
	watched bool
	cost    int
	reason  string
	nested  bool        // configured as "path/*": its subfolders are watched too
	parent  *folder     // the "dir/*" folder of a subfolder
	info    os.FileInfo // of real when watched (os.SameFile)
}

// pend is an entry whose burst of operations is not over.
type pend struct {
	first   int64 // @timestamp: the first operation, Unix ns
	due     time.Time
	created bool
	from    string // the old path of a rename into this entry
}

// rename is an entry renamed away, waiting for the create of its new name.
type rename struct {
	path string
	at   int64
	due  time.Time
}

// New starts watching the folders of opt that exist, within the cap. Their
// current entries are not reported; later changes are, once Run runs.
func New(opt Options) (*Watcher, error) {
	if opt.MaxDescriptors <= 0 {
		opt.MaxDescriptors = DefaultMaxDescriptors
	}
	if opt.Settle <= 0 {
		opt.Settle = DefaultSettle
	}
	if opt.Rescan <= 0 {
		opt.Rescan = DefaultRescan
	}
	if opt.HeaderBytes == 0 {
		opt.HeaderBytes = HeaderBytes
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	w := &Watcher{opt: opt, fsw: fsw, byReal: map[string]*folder{}, pending: map[string]*pend{}}
	seen := map[string]bool{}
	for _, p := range opt.Paths {
		nested := strings.HasSuffix(p, "/*")
		p = filepath.Clean(strings.TrimSuffix(p, "/*"))
		if seen[p] {
			continue
		}
		seen[p] = true
		w.folders = append(w.folders, &folder{path: p, nested: nested})
	}
	w.scan(false)
	return w, nil
}

// Close stops watching and releases the descriptors. Call it after Run
// has returned.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Stats returns the counters; safe from any goroutine.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Folders returns the state of every configured folder; safe from any
// goroutine.
func (w *Watcher) Folders() []Folder {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Folder(nil), w.snap...)
}

// Run emits events until ctx is done. emit must not block (hand the event
// over to a bounded queue); it owns the event.
func (w *Watcher) Run(ctx context.Context, emit func(*ecs.Event)) {
	w.emit = emit
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	defer w.timer.Stop()
	rescan := time.NewTicker(w.opt.Rescan)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			w.flush(time.Time{}) // hand over what is waiting
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.fail(err)
		case <-w.timer.C:
			w.flush(w.opt.Now())
		case <-rescan.C:
			w.scan(true)
		}
	}
}

func (w *Watcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.stats.Overflows++
	}
	w.stats.Errors++
	w.stats.LastError = err.Error()
}

// handle takes one fsnotify event.
func (w *Watcher) handle(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	now := w.opt.Now()
	if f := w.byReal[name]; f != nil && !(ev.Has(fsnotify.Create) && f.parent != nil) {
		// The folder itself: deleted or renamed away. Stop watching it
		// (inotify keeps a renamed folder's watch) and look for it again
		// at every rescan. (The create of a subfolder a rescan found
		// first is an entry's create below: it may be the new name of a
		// rename.)
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			w.flush(time.Time{})
			w.unwatch(f, "deleted")
			if f.parent == nil {
				w.publish()
				return
			}
			// A subfolder: forget it and report it as an entry of its
			// folder. Its own watch and its folder's may both report the
			// change (inotify's IN_MOVED_FROM, then IN_MOVE_SELF): the
			// first one is taken, a second within the settle time skipped.
			for i, g := range w.folders {
				if g == f {
					w.folders = append(w.folders[:i], w.folders[i+1:]...)
					break
				}
			}
			w.publish()
			if ev.Has(fsnotify.Remove) {
				w.send(NewEvent(name, Deleted, now.UnixNano(), Entry{}))
			} else {
				w.renames = append(w.renames, rename{path: name, at: now.UnixNano(), due: now.Add(w.opt.Settle)})
				w.arm()
			}
			w.gone, w.goneAt = name, now
		}
		return
	}
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && name == w.gone && now.Sub(w.goneAt) < w.opt.Settle {
		w.gone = ""
		return // taken with the subfolder's other event
	}
	if w.byReal[filepath.Dir(name)] == nil {
		return // an entry's own watch outside our folders
	}
	switch {
	case ev.Has(fsnotify.Remove):
		w.flushOne(name)
		w.send(NewEvent(name, Deleted, now.UnixNano(), Entry{}))
	case ev.Has(fsnotify.Rename):
		at := now.UnixNano()
		if p := w.pending[name]; p != nil {
			// Written and renamed within the settle time (an editor's or
			// MDM's write-then-rename): one event, the rename, from the
			// first write.
			delete(w.pending, name)
			at = p.first
		}
		w.renames = append(w.renames, rename{path: name, at: at, due: now.Add(w.opt.Settle)})
		w.arm()
	case ev.Has(fsnotify.Create), ev.Has(fsnotify.Write):
		p := w.pending[name]
		if p == nil {
			p = &pend{first: now.UnixNano()}
			w.pending[name] = p
		}
		p.due = now.Add(w.opt.Settle)
		if ev.Has(fsnotify.Create) {
			if parent := w.byReal[filepath.Dir(name)]; parent.nested && isDir(name) {
				used := w.used()
				w.child(parent, name, &used, true)
				w.publish()
			}
			p.created = true
			if len(w.renames) > 0 && p.from == "" {
				// The new name of the entry renamed last (fsnotify does not
				// pair renames on kqueue; the create of the new name follows
				// the rename of the old within the settle time).
				r := w.renames[len(w.renames)-1]
				w.renames = w.renames[:len(w.renames)-1]
				p.from, p.first = r.path, r.at
			}
		}
		w.arm()
	}
	// A chmod alone is no event: Defend has none, and inotify sends one
	// with every delete.
}

// arm sets the timer to the earliest due time.
func (w *Watcher) arm() {
	var next time.Time
	for _, p := range w.pending {
		if next.IsZero() || p.due.Before(next) {
			next = p.due
		}
	}
	for _, r := range w.renames {
		if next.IsZero() || r.due.Before(next) {
			next = r.due
		}
	}
	if next.IsZero() || w.timer == nil {
		return
	}
	w.timer.Stop()
	w.timer.Reset(max(next.Sub(w.opt.Now()), 0))
}

// flush sends the entries due by now (all of them when now is zero), in
// the order of their first operation.
func (w *Watcher) flush(now time.Time) {
	var due []string
	for name, p := range w.pending {
		if now.IsZero() || !p.due.After(now) {
			due = append(due, name)
		}
	}
	sort.Slice(due, func(i, j int) bool { return w.pending[due[i]].first < w.pending[due[j]].first })
	kept := w.renames[:0]
	for _, r := range w.renames {
		if now.IsZero() || !r.due.After(now) {
			// Renamed out of the watched folders (or its new name was
			// never seen): the old path is all there is.
			w.send(NewEvent(r.path, Renamed, r.at, Entry{Original: r.path}))
			continue
		}
		kept = append(kept, r)
	}
	w.renames = kept
	for _, name := range due {
		w.flushOne(name)
	}
	if w.timer != nil {
		w.arm()
	}
}

// flushOne sends the pending event of one entry, if any, with the entry's
// state now.
func (w *Watcher) flushOne(name string) {
	p := w.pending[name]
	if p == nil {
		return
	}
	delete(w.pending, name)
	op := Changed
	if p.created {
		op = Created
	}
	if p.from != "" {
		op = Renamed
	}
	w.send(w.entryEvent(name, op, p.first, p.from))
}

// entryEvent builds the event of an entry from its state now.
func (w *Watcher) entryEvent(name string, op Op, ts int64, from string) *ecs.Event {
	fi, err := os.Lstat(name)
	if err != nil {
		fi = nil
	}
	var header []byte
	if fi != nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		header = readHeader(name, w.opt.HeaderBytes)
	}
	return NewEvent(name, op, ts, entryOf(fi, header, from))
}

func (w *Watcher) send(ev *ecs.Event) {
	w.mu.Lock()
	w.stats.Events++
	w.mu.Unlock()
	if w.emit != nil {
		w.emit(ev)
	}
}

// scan adds the folders not watched yet, within the cap, and re-counts the
// cost of the watched ones. With report, the entries of a folder that
// appeared are sent as created.
func (w *Watcher) scan(report bool) {
	used := 0
	for _, f := range w.folders {
		if !f.watched {
			continue
		}
		f.cost = w.cost(f.real)
		used += f.cost
	}
	// Over the cap (files were created since): drop the last-added.
	for i := len(w.folders) - 1; i >= 0 && used > w.opt.MaxDescriptors; i-- {
		if f := w.folders[i]; f.watched {
			used -= f.cost
			w.unwatch(f, "descriptor cap")
			w.count(func(s *Stats) { s.Capped++ })
		}
	}
	// Subfolders whose folder is gone, or which are gone, are forgotten.
	kept := w.folders[:0]
	for _, f := range w.folders {
		if f.parent != nil && (!f.parent.watched || !f.watched && !isDir(f.path)) {
			w.unwatch(f, "")
			continue
		}
		kept = append(kept, f)
	}
	clear(w.folders[len(kept):])
	w.folders = kept
	for _, f := range w.folders {
		if !f.watched && f.parent == nil {
			w.add(f, &used, report)
		}
	}
	// The subfolders of "dir/*" folders, one level down.
	for _, f := range w.folders {
		if !f.nested || !f.watched {
			continue
		}
		ents, err := os.ReadDir(f.real)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if sub := filepath.Join(f.real, e.Name()); e.IsDir() && !w.inFlight(f, sub) {
				w.child(f, sub, &used, report)
			}
		}
	}
	w.publish()
}

// inFlight reports whether sub is a watched subfolder of f under its new
// name, its rename's events not handled yet: watching it now would give
// its inode a second path (inotify answers with the same watch, which
// removing the old path then removes), and the create of the new name
// would find it watched. The events watch it.
func (w *Watcher) inFlight(f *folder, sub string) bool {
	fi, err := os.Stat(sub)
	if err != nil {
		return false
	}
	for _, g := range w.folders {
		if g.parent == f && g.watched && g.real != sub && g.info != nil && os.SameFile(g.info, fi) {
			return true
		}
	}
	return false
}

// child watches sub, a subfolder of the "dir/*" folder f, unless it is
// watched already or left out.
func (w *Watcher) child(f *folder, sub string, used *int, report bool) {
	for _, g := range w.folders {
		if g.parent == f && g.path == sub {
			if !g.watched {
				w.add(g, used, report)
			}
			return
		}
	}
	g := &folder{path: sub, parent: f}
	w.folders = append(w.folders, g)
	w.add(g, used, report)
}

// add watches f if it exists and fits under the cap.
func (w *Watcher) add(f *folder, used *int, report bool) {
	real, err := filepath.EvalSymlinks(f.path)
	if err != nil {
		f.reason = "missing"
		return
	}
	info, err := os.Stat(real)
	if err != nil || !info.IsDir() {
		f.reason = "not a folder"
		return
	}
	if g := w.byReal[real]; g != nil && g != f {
		f.reason = "same folder as " + g.path
		return
	}
	cost := w.cost(real)
	if *used+cost > w.opt.MaxDescriptors {
		if f.reason != "descriptor cap" {
			w.count(func(s *Stats) { s.Capped++ })
		}
		f.reason = "descriptor cap"
		return
	}
	if err := w.fsw.Add(real); err != nil {
		f.reason = err.Error()
		w.fail(fmt.Errorf("files: watch %s: %w", real, err))
		return
	}
	f.real, f.watched, f.cost, f.reason, f.info = real, true, cost, "", info
	w.byReal[real] = f
	*used += cost
	if report {
		w.reportEntries(real)
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// reportEntries sends the entries of a folder that appeared as created:
// they were written while nothing watched.
func (w *Watcher) reportEntries(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	now := w.opt.Now()
	for _, e := range ents {
		// Pending, not sent: the watch may already have seen the entry
		// being written; the two make one event.
		name := filepath.Join(dir, e.Name())
		p := w.pending[name]
		if p == nil {
			p = &pend{first: now.UnixNano()}
			w.pending[name] = p
		}
		p.created, p.due = true, now.Add(w.opt.Settle)
	}
	w.arm()
}

// cost is what watching dir costs: 1, plus 1 per entry that fsnotify's
// kqueue backend opens (everything but sockets and FIFOs).
func (w *Watcher) cost(dir string) int {
	if !w.opt.CountEntries {
		return 1
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 1
	}
	n := 1
	for _, e := range ents {
		if t := e.Type(); t&(os.ModeSocket|os.ModeNamedPipe) == 0 {
			n++
		}
	}
	return n
}

// used is what the watched folders cost now.
func (w *Watcher) used() int {
	n := 0
	for _, f := range w.folders {
		if f.watched {
			n += f.cost
		}
	}
	return n
}

func (w *Watcher) unwatch(f *folder, reason string) {
	if f.watched {
		_ = w.fsw.Remove(f.real) // gone already when the folder was deleted
		delete(w.byReal, f.real)
	}
	f.watched, f.real, f.cost, f.reason, f.info = false, "", 0, reason, nil
}

func (w *Watcher) count(fn func(*Stats)) {
	w.mu.Lock()
	fn(&w.stats)
	w.mu.Unlock()
}

// publish recomputes the folder counts for Stats and Folders.
func (w *Watcher) publish() {
	snap := make([]Folder, len(w.folders))
	var st Stats
	for i, f := range w.folders {
		snap[i] = Folder{Path: f.path, Real: f.real, Watched: f.watched, Cost: f.cost, Reason: f.reason}
		switch {
		case f.watched:
			st.Watched++
			st.Descriptors += f.cost
		case f.reason == "descriptor cap":
			st.NotWatched++
		default:
			st.Missing++
		}
	}
	w.mu.Lock()
	w.stats.Folders = len(w.folders)
	w.stats.Watched, w.stats.Missing, w.stats.NotWatched, w.stats.Descriptors = st.Watched, st.Missing, st.NotWatched, st.Descriptors
	w.snap = snap
	w.mu.Unlock()
}
