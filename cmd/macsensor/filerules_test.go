package main

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/files"
)

// TestFileRulesCoverage runs Elastic's macOS file rules (verbatim copies in
// testdata/filerules) over the file events the persistence watcher makes
// for a Mac's paths, without process attribution: the rules docs/FILES.md
// lists as running on the default watch list fire, each once; the ones it
// lists as needing the process or a launch_daemon event do not.
func TestFileRulesCoverage(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("testdata", "filerules", "*.toml"))
	var rules []*detect.Rule
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		r, lerr := detect.ParseRule(n, data)
		if lerr != nil {
			t.Fatalf("%s: %v", n, lerr)
		}
		rules = append(rules, r)
	}
	if len(rules) != 10 {
		t.Fatalf("%d rules in testdata/filerules, want 10", len(rules))
	}
	fired := map[string]int{}
	eng, err := detect.NewEngine(rules, nil, detect.Options{OnAlert: func(a *detect.Alert) {
		fired[filepath.Base(a.Rule.File)]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	events := []struct {
		path string
		op   files.Op
	}{
		{"/Library/DirectoryServices/PlugIns/Evil.dsplug", files.Created},
		{"/private/etc/emond.d/rules/evil.plist", files.Created},
		{"/private/etc/periodic/daily/999.local", files.Changed},
		{"/Library/Security/SecurityAgentPlugins/Evil.bundle", files.Created},
		{"/Users/alice/Library/LaunchAgents/.hidden.plist", files.Created},
		{"/private/var/at/tabs/root", files.Changed},
		{"/Library/StartupItems/Evil/StartupParameters.plist", files.Created},
		// Deletions fire nothing here.
		{"/Library/LaunchDaemons/com.gone.plist", files.Deleted},
	}
	for i, e := range events {
		ev := files.NewEvent(e.path, e.op, int64(i+1)*1e9, files.Entry{})
		ev.Host = ecs.Host{ID: "H", OS: ecs.OS{Type: "macos"}}
		ev.Event.Sequence = int64(i + 1)
		ev.Has |= ecs.HasSequence
		eng.Process(ev)
	}
	eng.Flush()
	var got []string
	for r, n := range fired {
		if n != 1 {
			t.Errorf("%s fired %d times, want once", r, n)
		}
		got = append(got, r)
	}
	sort.Strings(got)
	want := []string{
		"persistence_credential_access_authorization_plugin_creation.toml",
		"persistence_directory_services_plugins_modification.toml",
		"persistence_emond_rules_file_creation.toml",
		"persistence_hidden_plist_filename.toml",
		"persistence_periodic_tasks_file_modify.toml",
		"persistence_startup_item_plist_creation.toml",
		"privilege_escalation_root_crontab_filemod.toml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules fired:\n%q\nwant\n%q", got, want)
	}
}
