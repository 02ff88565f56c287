package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// sink collects emitted events.
type sink struct {
	mu  sync.Mutex
	evs []*ecs.Event
}

func (s *sink) put(ev *ecs.Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

// wait returns the events once cond holds for them, failing after a
// deadline.
func (s *sink) wait(t *testing.T, what string, cond func([]*ecs.Event) bool) []*ecs.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		evs := append([]*ecs.Event(nil), s.evs...)
		s.mu.Unlock()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s; events:\n%s", what, dump(evs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *sink) reset() {
	s.mu.Lock()
	s.evs = nil
	s.mu.Unlock()
}

func dump(evs []*ecs.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.Write(e.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.String()
}

func str(e *ecs.Event, path string) string { return e.Fields.Get(path).Str }

// find returns the events for path with the given action.
func find(evs []*ecs.Event, path, action string) []*ecs.Event {
	var out []*ecs.Event
	for _, e := range evs {
		if str(e, "file.path") == path && e.Event.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func has(path, action string) func([]*ecs.Event) bool {
	return func(evs []*ecs.Event) bool { return len(find(evs, path, action)) > 0 }
}

// start runs a Watcher on opt and stops it at the end of the test.
func start(t *testing.T, opt Options) (*Watcher, *sink) {
	t.Helper()
	if opt.Settle == 0 {
		opt.Settle = 30 * time.Millisecond
	}
	w, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx, s.put) }()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	return w, s
}

func TestWatcherEvents(t *testing.T) {
	dir := t.TempDir()
	agents := filepath.Join(dir, "LaunchAgents")
	os.Mkdir(agents, 0o755)
	old := filepath.Join(agents, "com.old.plist")
	os.WriteFile(old, []byte("old"), 0o644)
	_, s := start(t, Options{Paths: []string{agents}})

	// A new Mach-O written in several writes: one event, a creation.
	p := filepath.Join(agents, "com.evil.agent.plist")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01})
	f.Write([]byte("0123456789abcdef"))
	f.Close()
	os.Chmod(p, 0o600)
	evs := s.wait(t, "creation of "+p, has(p, ActionModification))
	if n := len(find(evs, p, ActionModification)); n != 1 {
		t.Errorf("%d modification events for one burst, want 1:\n%s", n, dump(evs))
	}
	e := find(evs, p, ActionModification)[0]
	if got := strings.Join(e.Event.Type, ","); got != "creation" {
		t.Errorf("event.type = %s, want creation", got)
	}
	checks := map[string]string{
		"file.name":             "com.evil.agent.plist",
		"file.extension":        "plist",
		"file.directory":        agents,
		"file.Ext.header_bytes": "cffaedfe0c0000013031323334353637",
	}
	for k, want := range checks {
		if got := str(e, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if v := e.Fields.Get("file.size"); v.Kind != ecs.KindInt || v.Int != 24 {
		t.Errorf("file.size = %+v, want 24", v)
	}
	if e.Event.Category[0] != "file" || e.Event.Kind != "event" || e.Event.Dataset != "endpoint.events.file" || e.Process.PID != 0 {
		t.Errorf("event = %+v", e.Event)
	}

	// A write to an existing file: a change.
	s.reset()
	os.WriteFile(old, []byte("new contents"), 0o644)
	evs = s.wait(t, "change of "+old, has(old, ActionModification))
	if got := find(evs, old, ActionModification)[0].Event.Type[0]; got != "change" {
		t.Errorf("write to an existing file: event.type %s, want change", got)
	}

	// A rename inside the folder: one rename event with the old path.
	s.reset()
	renamed := filepath.Join(agents, "com.renamed.plist")
	if err := os.Rename(old, renamed); err != nil {
		t.Fatal(err)
	}
	evs = s.wait(t, "rename to "+renamed, has(renamed, ActionRename))
	if got := str(find(evs, renamed, ActionRename)[0], "file.Ext.original.path"); got != old {
		t.Errorf("file.Ext.original.path = %q, want %q", got, old)
	}

	// An editor's save: write a temporary file, rename it over the target.
	s.reset()
	tmp := filepath.Join(agents, ".com.renamed.plist.swp")
	os.WriteFile(tmp, []byte("saved"), 0o644)
	os.Rename(tmp, renamed)
	evs = s.wait(t, "save of "+renamed, has(renamed, ActionRename))
	if len(find(evs, tmp, ActionModification)) != 0 {
		t.Errorf("the temporary file of a save was reported:\n%s", dump(evs))
	}

	// A delete.
	s.reset()
	os.Remove(p)
	evs = s.wait(t, "deletion of "+p, has(p, ActionDeletion))
	if e := find(evs, p, ActionDeletion)[0]; e.Event.Type[0] != "deletion" || e.Fields.Get("file.size").Kind != ecs.KindNull {
		t.Errorf("deletion event = %s", e.AppendJSON(nil))
	}

	// Moved out of the watched folder: a rename with only the old path.
	s.reset()
	os.Rename(renamed, filepath.Join(dir, "elsewhere.plist"))
	s.wait(t, "rename out of "+renamed, has(renamed, ActionRename))
}

func TestWatcherFolderDeletedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	agents := filepath.Join(dir, "LaunchAgents")
	os.Mkdir(agents, 0o755)
	w, s := start(t, Options{Paths: []string{agents}, Rescan: 20 * time.Millisecond})
	if st := w.Stats(); st.Watched != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if err := os.RemoveAll(agents); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Watched != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the deleted folder is still watched: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Re-created with a file in it before the next rescan can see it.
	os.MkdirAll(agents+".new", 0o755)
	first := filepath.Join(agents, "com.first.plist")
	os.WriteFile(filepath.Join(agents+".new", "com.first.plist"), []byte("<plist/>"), 0o644)
	os.Rename(agents+".new", agents)
	evs := s.wait(t, "the file found in the re-created folder", has(first, ActionModification))
	if got := find(evs, first, ActionModification)[0].Event.Type[0]; got != "creation" {
		t.Errorf("file in a re-created folder: event.type %s, want creation", got)
	}
	// And watched again.
	second := filepath.Join(agents, "com.second.plist")
	os.WriteFile(second, []byte("x"), 0o644)
	s.wait(t, "a file written in the re-created folder", has(second, ActionModification))
}

func TestWatcherMissingFolderAppears(t *testing.T) {
	dir := t.TempDir()
	later := filepath.Join(dir, "Library", "StartupItems")
	w, s := start(t, Options{Paths: []string{later}, Rescan: 20 * time.Millisecond})
	if st := w.Stats(); st.Missing != 1 || st.Watched != 0 {
		t.Fatalf("stats = %+v, want 1 missing", st)
	}
	item := filepath.Join(later, "Evil")
	os.MkdirAll(item, 0o755)
	s.wait(t, "the item in the folder that appeared", has(item, ActionModification))
	if st := w.Stats(); st.Missing != 0 || st.Watched != 1 {
		t.Errorf("stats = %+v, want 1 watched", st)
	}
}

func TestWatcherDescriptorCap(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	for _, n := range []string{"1", "2", "3"} {
		os.WriteFile(filepath.Join(a, n), nil, 0o644)
	}
	for _, n := range []string{"1", "2"} {
		os.WriteFile(filepath.Join(b, n), nil, 0o644)
	}
	// kqueue's cost: a = 4, b = 3; a cap of 5 keeps a only.
	w, err := New(Options{Paths: []string{a, b}, CountEntries: true, MaxDescriptors: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st := w.Stats()
	if st.Watched != 1 || st.NotWatched != 1 || st.Descriptors != 4 || st.Capped != 1 {
		t.Errorf("stats = %+v, want a watched (4 descriptors), b not watched", st)
	}
	fs := w.Folders()
	if !fs[0].Watched || fs[1].Watched || fs[1].Reason != "descriptor cap" {
		t.Errorf("folders = %+v", fs)
	}
	// Files created in a since: a costs 6 now, over the cap; the rescan
	// drops a and takes b (3).
	os.WriteFile(filepath.Join(a, "4"), nil, 0o644)
	os.WriteFile(filepath.Join(a, "5"), nil, 0o644)
	w.scan(false)
	st = w.Stats()
	if st.Watched != 1 || st.NotWatched != 1 || st.Descriptors != 3 || st.Capped != 2 {
		t.Errorf("after growth: stats = %+v, want b watched (3 descriptors), a not watched", st)
	}
	// inotify's cost: one watch per folder whatever it holds.
	w2, err := New(Options{Paths: []string{a, b}, MaxDescriptors: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if st := w2.Stats(); st.Watched != 2 || st.Descriptors != 2 {
		t.Errorf("inotify cost: stats = %+v, want 2 watched, 2 watches", st)
	}
}

func TestWatcherSameFolderTwice(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "private", "tabs")
	os.MkdirAll(real, 0o755)
	os.Symlink(filepath.Join(dir, "private"), filepath.Join(dir, "link"))
	w, s := start(t, Options{Paths: []string{filepath.Join(dir, "link", "tabs"), real, real + "/"}})
	fs := w.Folders()
	if len(fs) != 2 || !fs[0].Watched || fs[0].Real != real || fs[1].Watched || !strings.HasPrefix(fs[1].Reason, "same folder as") {
		t.Errorf("folders = %+v", fs)
	}
	// Events carry the resolved path, as Endpoint Security reports it.
	p := filepath.Join(real, "root")
	os.WriteFile(p, []byte("* * * * * id\n"), 0o600)
	s.wait(t, "the crontab under its resolved path", has(p, ActionModification))
}

func TestWatcherNestedFolders(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, "StartupItems")
	os.MkdirAll(filepath.Join(items, "Old"), 0o755)
	w, s := start(t, Options{Paths: []string{items + "/*"}, Rescan: 20 * time.Millisecond})
	if st := w.Stats(); st.Watched != 2 {
		t.Fatalf("stats = %+v, want the folder and its subfolder watched", st)
	}
	// A new startup item: its folder, then its plist one level down.
	evil := filepath.Join(items, "Evil")
	os.Mkdir(evil, 0o755)
	params := filepath.Join(evil, "StartupParameters.plist")
	os.WriteFile(params, []byte("<plist/>"), 0o644)
	evs := s.wait(t, "the startup item and its plist", func(evs []*ecs.Event) bool {
		return has(params, ActionModification)(evs) && has(evil, ActionModification)(evs)
	})
	if len(find(evs, evil, ActionModification)) != 1 {
		t.Errorf("the item folder's creation: %d events, want 1:\n%s", len(find(evs, evil, ActionModification)), dump(evs))
	}
	if n := len(find(evs, params, ActionModification)); n != 1 {
		t.Errorf("%d events for the plist, want 1:\n%s", n, dump(evs))
	}
	if st := w.Stats(); st.Watched != 3 {
		t.Errorf("stats = %+v, want 3 folders watched", st)
	}
	// The item renamed: one rename, its plist reported under its new path
	// (a folder that comes into a "dir/*" folder, as one built in /tmp and
	// moved in does, has its entries reported as created), and the new
	// folder watched.
	s.reset()
	renamed := filepath.Join(items, "Evil2")
	if err := os.Rename(evil, renamed); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "the item's rename", has(renamed, ActionRename))
	marker0 := filepath.Join(renamed, "marker0")
	os.WriteFile(marker0, nil, 0o644)
	evs = s.wait(t, "a file in the renamed item", has(marker0, ActionModification))
	if n := len(evs); n != 3 || len(find(evs, filepath.Join(renamed, "StartupParameters.plist"), ActionModification)) != 1 {
		t.Errorf("%d events for a rename and a file, want 3 (the rename, the plist, the file):\n%s", n, dump(evs))
	}
	if st := w.Stats(); st.Watched != 3 || st.Folders != 3 {
		t.Errorf("stats = %+v, want 3 folders watched", st)
	}
	os.Remove(marker0)
	os.Rename(renamed, evil)
	s.wait(t, "the item renamed back", has(evil, ActionRename))
	// The item removed: one deletion for its plist, one for its folder, and
	// the folder forgotten.
	s.reset()
	os.RemoveAll(evil)
	marker := filepath.Join(items, "marker")
	s.wait(t, "the item's deletion", has(evil, ActionDeletion))
	os.WriteFile(marker, nil, 0o644)
	evs = s.wait(t, "the marker", has(marker, ActionModification))
	if n := len(find(evs, evil, ActionDeletion)); n != 1 {
		t.Errorf("%d deletions of the item folder, want 1:\n%s", n, dump(evs))
	}
	if n := len(find(evs, params, ActionDeletion)); n != 1 {
		t.Errorf("%d deletions of the plist, want 1:\n%s", n, dump(evs))
	}
	if st := w.Stats(); st.Watched != 2 || st.Folders != 2 {
		t.Errorf("stats = %+v, want 2 folders, both watched", st)
	}
}

func TestWatcherMacTree(t *testing.T) {
	root := t.TempDir()
	entries := macTree(t, root)
	users, _ := ReadUsers(filepath.Join(root, DSLocalUsers))
	w, err := New(Options{Paths: DefaultPaths(root, users), CountEntries: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st := w.Stats()
	// 16 folders listed; 12 exist (StartupItems, emondClients and the
	// Services of root and bob do not); plus periodic's daily, weekly and
	// monthly: 15 watched. kqueue's cost: one per watched folder, one per
	// entry (the files, and periodic's three folders as entries of
	// /etc/periodic).
	if st.Folders != 19 || st.Watched != 15 || st.Missing != 4 || st.NotWatched != 0 || st.Descriptors != 15+entries+3 {
		t.Errorf("stats = %+v; want 19 folders, 15 watched, 4 missing, %d descriptors", st, 15+entries+3)
	}
	for _, f := range w.Folders() {
		if strings.Contains(f.Path, "/etc/periodic") && !strings.HasPrefix(f.Real, filepath.Join(root, "private/etc/periodic")) {
			t.Errorf("folder %+v: want its resolved path under /private/etc", f)
		}
	}
}

// byHand returns a watcher of path that a test drives itself (scan,
// handle, flush: no Run, no timers) and the events it emitted.
func byHand(t *testing.T, path string) (*Watcher, *[]*ecs.Event) {
	t.Helper()
	w, err := New(Options{Paths: []string{path}, Settle: time.Hour, Rescan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	evs := new([]*ecs.Event)
	w.emit = func(ev *ecs.Event) { *evs = append(*evs, ev) }
	return w, evs
}

// TestWatcherRescanBeforeRenameEvents drives the watcher by hand in the
// order that made TestWatcherNestedFolders flaky: a subfolder of a "dir/*"
// folder is renamed, and a rescan runs before the rename's events are
// handled. The rescan must leave the new name to the events (its inode is
// watched under the old name), and the create of the new name must pair
// with the rename: one rename event, from the old path to the new.
func TestWatcherRescanBeforeRenameEvents(t *testing.T) {
	for _, rescanFirst := range []bool{true, false} {
		dir := t.TempDir()
		items := filepath.Join(dir, "StartupItems")
		old, renamed := filepath.Join(items, "Evil"), filepath.Join(items, "Evil2")
		os.MkdirAll(old, 0o755)
		w, evs := byHand(t, items+"/*")
		if st := w.Stats(); st.Watched != 2 {
			t.Fatalf("stats = %+v, want the folder and its subfolder watched", st)
		}
		if err := os.Rename(old, renamed); err != nil {
			t.Fatal(err)
		}
		if rescanFirst {
			w.scan(true)
			if w.byReal[renamed] != nil {
				t.Errorf("the rescan watched %s, whose rename's events are not handled yet", renamed)
			}
		}
		// inotify's order: MOVED_FROM on the folder, MOVED_TO, then
		// MOVE_SELF on the subfolder's own watch.
		w.handle(fsnotify.Event{Name: old, Op: fsnotify.Rename})
		w.handle(fsnotify.Event{Name: renamed, Op: fsnotify.Create})
		w.handle(fsnotify.Event{Name: old, Op: fsnotify.Rename})
		w.flush(time.Time{})
		got := find(*evs, renamed, ActionRename)
		if len(got) != 1 || len(*evs) != 1 || got[0].Fields.Get("file.Ext.original.path").Str != old {
			t.Errorf("rescan first %v: events:\n%s\nwant one rename from %s to %s", rescanFirst, dump(*evs), old, renamed)
		}
		if w.byReal[renamed] == nil || w.byReal[old] != nil {
			t.Errorf("rescan first %v: watched %v, want %s and not %s", rescanFirst, w.Folders(), renamed, old)
		}
	}
}

// TestWatcherRescanBeforeCreateEvent: a new subfolder of a "dir/*" folder
// that a rescan watches before its create event is handled is still
// reported created, once (the event is its folder's entry's, not the
// subfolder's own).
func TestWatcherRescanBeforeCreateEvent(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, "StartupItems")
	os.MkdirAll(items, 0o755)
	w, evs := byHand(t, items+"/*")
	evil := filepath.Join(items, "Evil")
	os.Mkdir(evil, 0o755)
	w.scan(true)
	if w.byReal[evil] == nil {
		t.Fatalf("the rescan did not watch %s", evil)
	}
	w.handle(fsnotify.Event{Name: evil, Op: fsnotify.Create})
	w.flush(time.Time{})
	if len(*evs) != 1 || len(find(*evs, evil, ActionModification)) != 1 {
		t.Errorf("events:\n%s\nwant the creation of %s", dump(*evs), evil)
	}
}
