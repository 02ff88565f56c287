package reload

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// run starts a Watcher and stops it at the end of the test.
func run(t *testing.T, opt Options) *Watcher {
	t.Helper()
	if opt.Quiet == 0 {
		opt.Quiet = 150 * time.Millisecond
	}
	if opt.Rearm == 0 {
		opt.Rearm = 20 * time.Millisecond
	}
	w, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; w.Close() })
	return w
}

// next waits for the next Change.
func next(t *testing.T, w *Watcher, what string) Change {
	t.Helper()
	select {
	case c := <-w.C():
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no change for %s within 10s; stats %+v", what, w.Stats())
		return Change{}
	}
}

// save writes a file the way editors and MDM agents do: a temporary file,
// a rename over the target, a chmod.
func save(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBurstIsOneChange(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "macsensor.toml")
	exc := filepath.Join(dir, "exceptions.toml")
	os.WriteFile(cfg, []byte("a"), 0o644)
	w := run(t, Options{Paths: []string{cfg, exc}})
	for i := 0; i < 3; i++ {
		save(t, cfg, "b")
	}
	// Files in the same folder that are not configuration: no reload.
	os.WriteFile(filepath.Join(dir, "status.json"), []byte("{}"), 0o644)
	c := next(t, w, "three saves")
	if !reflect.DeepEqual(c.Paths, []string{cfg}) || c.Events < 3 {
		t.Errorf("change = %+v, want one change of %s from ≥ 3 events", c, cfg)
	}
	// A marker: the next change is the exceptions file alone, so the burst
	// above was not split.
	save(t, exc, "x")
	if c := next(t, w, "the exceptions file"); !reflect.DeepEqual(c.Paths, []string{exc}) {
		t.Errorf("change = %+v, want %s alone", c, exc)
	}
	if st := w.Stats(); st.Changes != 2 || st.Merged != 0 {
		t.Errorf("stats = %+v, want 2 changes", st)
	}
}

func TestRulesFolderDeletedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.d")
	os.Mkdir(rules, 0o755)
	w := run(t, Options{Paths: []string{rules}})
	if st := w.Stats(); st.Watches != 2 {
		t.Fatalf("stats = %+v, want the folder and its parent watched", st)
	}
	r1 := filepath.Join(rules, "one.toml")
	save(t, r1, "rule")
	if c := next(t, w, "a rule dropped in"); !reflect.DeepEqual(c.Paths, []string{r1}) {
		t.Errorf("change = %+v", c)
	}
	os.RemoveAll(rules)
	next(t, w, "the folder deleted")
	os.Mkdir(rules, 0o755)
	os.WriteFile(filepath.Join(rules, "two.toml"), []byte("rule"), 0o644)
	next(t, w, "the folder re-created")
	// The re-created folder is watched again.
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Watches != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("re-created folder not watched: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	r3 := filepath.Join(rules, "three.toml")
	os.WriteFile(r3, []byte("rule"), 0o644)
	if c := next(t, w, "a rule in the re-created folder"); !reflect.DeepEqual(c.Paths, []string{r3}) {
		t.Errorf("change = %+v", c)
	}
	// Editor leftovers are not rules.
	os.WriteFile(filepath.Join(rules, ".three.toml.swp"), nil, 0o644)
	os.WriteFile(filepath.Join(rules, "three.toml~"), nil, 0o644)
	r4 := filepath.Join(rules, "four.toml")
	os.WriteFile(r4, []byte("rule"), 0o644)
	if c := next(t, w, "the marker"); !reflect.DeepEqual(c.Paths, []string{r4}) {
		t.Errorf("change = %+v, want %s alone (swap and backup files ignored)", c, r4)
	}
}

func TestManagedPreferencesAppear(t *testing.T) {
	dir := t.TempDir()
	prefs := filepath.Join(dir, "Managed Preferences", "com.macsensor.daemon.plist")
	w := run(t, Options{Paths: []string{prefs}})
	if st := w.Stats(); st.Missing != 1 || st.Watches != 0 {
		t.Fatalf("stats = %+v, want its folder missing", st)
	}
	os.MkdirAll(filepath.Dir(prefs), 0o755)
	os.WriteFile(prefs, []byte("<plist/>"), 0o644)
	next(t, w, "the managed preferences folder and plist appearing")
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Watches != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("folder not watched: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	save(t, prefs, "<plist><dict/></plist>")
	if c := next(t, w, "the plist rewritten"); !reflect.DeepEqual(c.Paths, []string{prefs}) {
		t.Errorf("change = %+v", c)
	}
}

func TestChangesMergeWhenNotTaken(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	w := run(t, Options{Paths: []string{a, b}, Quiet: 20 * time.Millisecond})
	os.WriteFile(a, []byte("1"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Changes != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no first change: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.WriteFile(b, []byte("1"), 0o644)
	for w.Stats().Merged != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no merge: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c := next(t, w, "the merged change"); !reflect.DeepEqual(c.Paths, []string{a, b}) {
		t.Errorf("merged change = %+v, want both paths", c)
	}
	select {
	case c := <-w.C():
		t.Errorf("a second change %+v after the merge", c)
	default:
	}
}

func TestMerge(t *testing.T) {
	var a, b Change
	for i := 0; i < 20; i++ {
		a.Paths = append(a.Paths, filepath.Join("/a", string(rune('a'+i))))
		b.Paths = append(b.Paths, filepath.Join("/b", string(rune('a'+i))))
	}
	a.Events, b.Events = 20, 20
	m := merge(a, b)
	if len(m.Paths) != maxPaths || !m.Truncated || m.Events != 40 || m.Paths[0] != "/a/a" {
		t.Errorf("merge = %d paths, truncated %v, %d events", len(m.Paths), m.Truncated, m.Events)
	}
}
