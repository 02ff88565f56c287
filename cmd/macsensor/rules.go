package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/internal/rootfile"
)

func init() {
	register("rules", "rules validate PATH... | rules list [--rules PATH]...: check or list detection rules", cmdRules)
}

// pathList is a repeatable string flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// ruleSetOptions is what run, replay and `rules list` load: the
// configured rules folders (optional: an absent one is empty), the paths
// given with --rules (required), the built-in seed rule, and an exceptions
// file. trusted reads every file through the root-only reader of the
// daemon's real paths (internal/rootfile): a file or folder anyone but
// root could have written is reported and skipped.
func ruleSetOptions(folders, paths []string, builtin bool, exceptions string, trusted bool) detect.RuleSetOptions {
	opt := detect.RuleSetOptions{Optional: folders, Paths: paths, Builtin: builtin, Exceptions: exceptions}
	if trusted {
		opt.Read = readTrustedRules
	}
	return opt
}

// readTrustedRules is detect.RuleSetOptions.Read over rootfile.ReadPath.
func readTrustedRules(path string) ([]detect.SourceFile, error) {
	files, err := rootfile.ReadPath(path, ".toml", rootfile.Options{})
	if err != nil {
		return nil, err
	}
	out := make([]detect.SourceFile, len(files))
	for i, f := range files {
		out[i] = detect.SourceFile{Path: f.Path, Data: f.Data, Err: f.Err}
	}
	return out, nil
}

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: macsensor rules validate PATH... | macsensor rules list [--no-builtin] [--rules PATH]...")
		return 2
	}
	switch args[0] {
	case "validate":
		return rulesValidate(args[1:], stdout, stderr)
	case "list":
		return rulesList(args[1:], stdout, stderr)
	case "explain":
		return rulesExplain(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "macsensor rules: unknown subcommand %q (validate, list, explain)\n", args[0])
	return 2
}

// rulesValidate prints one line per rule file that does not load
// (file:line:col: reason) and a last line "N rules: M ok, K failed".
func rulesValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: macsensor rules validate PATH...   (files or folders of detection-rules TOML)")
		return 2
	}
	rules, errs := detect.LoadRules(args...)
	for _, e := range errs {
		fmt.Fprintln(stdout, e.Error())
	}
	fmt.Fprintf(stdout, "%d rules: %d ok, %d failed\n", len(rules)+len(errs), len(rules), len(errs))
	if len(errs) > 0 {
		return 1
	}
	return 0
}

func rulesList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var paths pathList
	fs.Var(&paths, "rules", "rule file or folder to load (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out the built-in seed rule")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	set, errs := detect.LoadRuleSet(ruleSetOptions(nil, paths, !*noBuiltin, "", false))
	rules := set.Rules
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE_ID\tVERSION\tSEVERITY\tKIND\tNAME\tSOURCE")
	for _, r := range rules {
		kind, src, ver := "event", r.File, r.Version
		if r.IsSequence() {
			kind = "sequence"
		}
		if src == "" {
			src = "built-in"
		}
		if ver == "" {
			ver = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, ver, r.Severity, kind, r.Name, src)
	}
	tw.Flush()
	for _, e := range errs {
		fmt.Fprintln(stderr, "macsensor rules:", e.Error())
	}
	fmt.Fprintf(stderr, "%d rules loaded, %d failed\n", len(rules), len(errs))
	return 0
}
