package workflow

import (
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func TestLocate(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		exe, cwd string
		want     Target
		wantOK   bool
	}{
		{"automator operand", []string{"automator", "/Users/a/x.workflow"}, "/usr/bin/automator", "",
			Target{Bundle: "/Users/a/x.workflow", Document: "/Users/a/x.workflow/Contents/document.wflow"}, true},
		{"automator options", []string{"/usr/bin/automator", "-v", "-i", "/tmp/in.workflow", "-D", "X=y.workflow", "-s", "/w/run.workflow/"}, "", "",
			Target{Bundle: "/w/run.workflow", Document: "/w/run.workflow/Contents/document.wflow"}, true},
		{"automator joined options", []string{"automator", "-iinput", "-DA=b", "/w/a b.workflow"}, "/usr/bin/automator", "",
			Target{Bundle: "/w/a b.workflow", Document: "/w/a b.workflow/Contents/document.wflow"}, true},
		{"automator double dash", []string{"automator", "--", "-odd.workflow"}, "/usr/bin/automator", "/Users/a",
			Target{Bundle: "/Users/a/-odd.workflow", Document: "/Users/a/-odd.workflow/Contents/document.wflow"}, true},
		{"automator relative with cwd", []string{"automator", "x.workflow"}, "/usr/bin/automator", "/Users/a/Desktop",
			Target{Bundle: "/Users/a/Desktop/x.workflow", Document: "/Users/a/Desktop/x.workflow/Contents/document.wflow"}, true},
		{"automator relative without cwd", []string{"automator", "x.workflow"}, "/usr/bin/automator", "",
			Target{Err: `workflow: relative path "x.workflow" and no absolute process.working_directory`}, true},
		{"automator operand without suffix", []string{"automator", "/tmp/payload"}, "/usr/bin/automator", "",
			Target{Bundle: "/tmp/payload", Document: "/tmp/payload/Contents/document.wflow"}, true},
		{"automator operands, one a workflow", []string{"automator", "wait", "/w/x.workflow"}, "/usr/bin/automator", "",
			Target{Bundle: "/w/x.workflow", Document: "/w/x.workflow/Contents/document.wflow"}, true},
		{"automator no operand", []string{"automator", "-v"}, "/usr/bin/automator", "", Target{}, false},
		{"document inside a bundle", []string{"runner", "/x/y.workflow/Contents/document.wflow"}, "/bin/runner", "",
			Target{Bundle: "/x/y.workflow", Document: "/x/y.workflow/Contents/document.wflow"}, true},
		{"document outside a bundle", []string{"runner", "/tmp/document.wflow"}, "/bin/runner", "",
			Target{Document: "/tmp/document.wflow"}, true},
		{"document in a Contents folder", []string{"runner", "/tmp/Q/Contents/document.wflow"}, "/bin/runner", "",
			Target{Bundle: "/tmp/Q", Document: "/tmp/Q/Contents/document.wflow"}, true},
		{"option with value", []string{"open", "--workflow=/x/z.workflow"}, "/usr/bin/open", "",
			Target{Bundle: "/x/z.workflow", Document: "/x/z.workflow/Contents/document.wflow"}, true},
		{"open -a Automator", []string{"open", "/Users/a/Library/Services/s.workflow"}, "/usr/bin/open", "",
			Target{Bundle: "/Users/a/Library/Services/s.workflow", Document: "/Users/a/Library/Services/s.workflow/Contents/document.wflow"}, true},
		{"dot-dot cleaned", []string{"automator", "/a/b/../c.workflow"}, "/usr/bin/automator", "",
			Target{Bundle: "/a/c.workflow", Document: "/a/c.workflow/Contents/document.wflow"}, true},
		{"no workflow", []string{"curl", "-o", "/tmp/x", "https://example.invalid"}, "/usr/bin/curl", "", Target{}, false},
		{"no args", []string{"automator"}, "/usr/bin/automator", "", Target{}, false},
		{"nil args", nil, "", "", Target{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Locate(c.args, c.exe, c.cwd)
			if ok != c.wantOK || got != c.want {
				t.Errorf("Locate(%q, %q, %q) = %+v, %v; want %+v, %v", c.args, c.exe, c.cwd, got, ok, c.want, c.wantOK)
			}
		})
	}
}

func TestLocateEvents(t *testing.T) {
	start := &ecs.Event{Process: ecs.Process{Name: "automator", Executable: "/usr/bin/automator",
		Args: []string{"automator", "-i", "x", "/Users/a/Library/Services/s.workflow"}}}
	netw := &ecs.Event{Process: ecs.Process{Name: "com.apple.automator.runner"}}
	child := &ecs.Event{Process: ecs.Process{Name: "sh", Args: []string{"/bin/sh", "-c", "id"},
		Parent: ecs.Parent{Executable: "/usr/bin/automator", Args: []string{"automator", "/w/p.workflow"}}}}
	want := Target{Bundle: "/Users/a/Library/Services/s.workflow", Document: "/Users/a/Library/Services/s.workflow/Contents/document.wflow"}
	if got, ok := LocateEvents([]*ecs.Event{netw, start}); !ok || got != want {
		t.Errorf("LocateEvents(network, start) = %+v, %v; want %+v", got, ok, want)
	}
	want = Target{Bundle: "/w/p.workflow", Document: "/w/p.workflow/Contents/document.wflow"}
	if got, ok := LocateEvents([]*ecs.Event{child, start}); !ok || got != want {
		t.Errorf("LocateEvents(child, start) = %+v, %v; want %+v", got, ok, want)
	}
	if got, ok := LocateEvents([]*ecs.Event{netw}); ok {
		t.Errorf("LocateEvents(network) = %+v, want none", got)
	}
	bare := &ecs.Event{Process: ecs.Process{Name: "automator", Args: []string{"automator", "-i", "-"}}}
	want = Target{Err: "workflow: automator's arguments name no workflow"}
	if got, ok := LocateEvents([]*ecs.Event{bare, netw}); !ok || got != want {
		t.Errorf("LocateEvents(automator without a workflow) = %+v, %v; want %+v", got, ok, want)
	}
}
