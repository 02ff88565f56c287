package workflow

import "github.com/macsensor/macsensor/sensor/ecs"

// LocateEvents finds the workflow named by an alert's events: the first
// event, in order, whose process (or, failing that, whose parent process)
// runs automator on a workflow or names a .workflow bundle or a
// document.wflow in its arguments. The seed rule's first event is the
// automator process start; its second, the runner's network event, names
// no workflow.
//
// When an event's process is automator but no argument names a workflow
// (its arguments could not be read, or it read the workflow from standard
// input), the Target carries only an Err saying so: the alert still says
// that the workflow is unknown.
func LocateEvents(events []*ecs.Event) (Target, bool) {
	automator := false
	for _, e := range events {
		p := &e.Process
		if t, ok := Locate(p.Args, p.Executable, p.WorkingDirectory); ok {
			return t, true
		}
		if t, ok := Locate(p.Parent.Args, p.Parent.Executable, ""); ok {
			return t, true
		}
		automator = automator || p.Name == "automator" || isAutomator(p.Executable)
	}
	if automator {
		return Target{Err: "workflow: automator's arguments name no workflow"}, true
	}
	return Target{}, false
}
