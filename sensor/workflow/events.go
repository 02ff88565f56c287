package workflow

import "github.com/macsensor/macsensor/sensor/ecs"

// LocateEvents finds the workflow named by an alert's events: the first
// event, in order, whose process (or, failing that, whose parent process)
// runs automator on a workflow or names a .workflow bundle or a
// document.wflow in its arguments. The seed rule's first event is the
// automator process start; its second, the runner's network event, names
// no workflow.
func LocateEvents(events []*ecs.Event) (Target, bool) {
	for _, e := range events {
		p := &e.Process
		if t, ok := Locate(p.Args, p.Executable, p.WorkingDirectory); ok {
			return t, true
		}
		if t, ok := Locate(p.Parent.Args, p.Parent.Executable, ""); ok {
			return t, true
		}
	}
	return Target{}, false
}
