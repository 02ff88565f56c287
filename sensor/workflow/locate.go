package workflow

import (
	"path"
	"strings"
)

// documentName is the file inside a workflow bundle that holds its actions.
const documentName = "document.wflow"

// Target is where a process's workflow lives on disk, as named by the
// process's arguments.
type Target struct {
	// Bundle is the .workflow bundle ("" when the process named only a
	// document.wflow outside a bundle's Contents folder).
	Bundle string
	// Document is the document.wflow to read.
	Document string
	// Err says why a named workflow cannot be located (a relative path
	// without a working directory); Bundle and Document are then "".
	Err string
}

// Locate finds the workflow named by a process's arguments: the
// positional argument of automator(1) ("automator [-v] [-i input]
// [-D name=value]... workflow"), or any argument naming a .workflow
// bundle or a document.wflow file. args is process.args (args[0] is the
// program), executable is process.executable and cwd is
// process.working_directory ("" when unknown): a relative path is joined
// to it, or reported in Target.Err when there is none. ok is false when
// no argument names a workflow.
func Locate(args []string, executable, cwd string) (t Target, ok bool) {
	if len(args) < 2 {
		return Target{}, false
	}
	if isAutomator(executable) || isAutomator(args[0]) {
		ops := automatorOperands(args[1:])
		for _, p := range ops {
			if namesWorkflow(p) {
				return target(p, cwd), true
			}
		}
		if len(ops) > 0 {
			return target(ops[0], cwd), true
		}
	}
	for _, a := range args[1:] {
		if i := strings.LastIndexByte(a, '='); i >= 0 && strings.HasPrefix(a, "-") {
			a = a[i+1:] // --workflow=/path/X.workflow
		}
		if namesWorkflow(a) {
			return target(a, cwd), true
		}
	}
	return Target{}, false
}

// isAutomator reports whether p is automator(1): /usr/bin/automator, or a
// copy under that name.
func isAutomator(p string) bool { return path.Base(p) == "automator" }

// automatorOperands returns the operands of automator's arguments: those
// that are not options or option values. -i and -D take a value (the next
// argument, or the rest of the same argument: "-Dname=value"); -v and -s
// take none. automator(1) runs its one operand; the first operand naming a
// .workflow or a document.wflow is preferred, then the first operand.
func automatorOperands(args []string) []string {
	var ops []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(ops, args[i+1:]...)
		case a == "-i" || a == "-D":
			i++ // the option's value
		case len(a) > 1 && a[0] == '-':
			// -v, -s, -iVALUE, -Dname=value: nothing more to skip.
		case a != "":
			ops = append(ops, a)
		}
	}
	return ops
}

// namesWorkflow reports whether an argument names a .workflow bundle or a
// document.wflow.
func namesWorkflow(a string) bool {
	a = strings.TrimRight(a, "/")
	return strings.HasSuffix(a, ".workflow") || path.Base(a) == documentName ||
		strings.Contains(a, ".workflow/")
}

// target turns a path argument into a Target.
func target(p, cwd string) Target {
	if !path.IsAbs(p) {
		if cwd == "" || !path.IsAbs(cwd) {
			return Target{Err: "workflow: relative path " + quote(p) + " and no absolute process.working_directory"}
		}
		p = path.Join(cwd, p)
	}
	p = path.Clean(p)
	// A path inside a bundle (X.workflow/Contents/document.wflow, or
	// X.workflow/Contents) names the bundle.
	if i := strings.Index(p, ".workflow/"); i >= 0 {
		b := p[:i+len(".workflow")]
		return Target{Bundle: b, Document: path.Join(b, "Contents", documentName)}
	}
	if path.Base(p) == documentName {
		if dir := path.Dir(p); path.Base(dir) == "Contents" {
			return Target{Bundle: path.Dir(dir), Document: p}
		}
		return Target{Document: p}
	}
	return Target{Bundle: p, Document: path.Join(p, "Contents", documentName)}
}

// quote quotes s for an error message, cut to 256 bytes.
func quote(s string) string {
	if len(s) > 256 {
		s = cutUTF8(s, 256) + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
