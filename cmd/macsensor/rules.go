package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/macsensor/macsensor/detect"
)

func init() {
	register("rules", "rules validate PATH... | rules list [--rules PATH]...: check or list detection rules", cmdRules)
}

// pathList is a repeatable string flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// loadRuleSet returns the built-in seed rule (unless builtin is false)
// followed by the rules of paths. A file rule with the seed rule's rule_id
// replaces the built-in one: it is a newer version of the same rule.
// trusted turns on the root-only ownership checks of the daemon's real
// paths: an untrusted file is reported and skipped.
func loadRuleSet(paths []string, builtin, trusted bool) ([]*detect.Rule, []*detect.LoadError) {
	var errs []*detect.LoadError
	if trusted {
		paths, errs = trustedRuleFiles(paths)
	}
	var rules []*detect.Rule
	if len(paths) > 0 {
		var lerrs []*detect.LoadError
		rules, lerrs = detect.LoadRules(paths...)
		errs = append(errs, lerrs...)
	}
	if builtin {
		seed, err := detect.SeedRule()
		if err != nil {
			errs = append(errs, &detect.LoadError{File: "built-in seed rule", Err: err})
			return rules, errs
		}
		for _, r := range rules {
			if r.ID == seed.ID {
				return rules, errs
			}
		}
		rules = append([]*detect.Rule{seed}, rules...)
	}
	return rules, errs
}

// trustedRuleFiles expands folders into their *.toml files and keeps the
// ones root alone can write (checkRootOnly on the folder and each file).
func trustedRuleFiles(paths []string) ([]string, []*detect.LoadError) {
	var out []string
	var errs []*detect.LoadError
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // an absent rules folder is an empty one
			}
			errs = append(errs, &detect.LoadError{File: p, Err: err})
			continue
		}
		if err := checkRootOnly(p); err != nil {
			errs = append(errs, &detect.LoadError{File: p, Err: err})
			continue
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		files, _ := filepath.Glob(filepath.Join(p, "*.toml"))
		sort.Strings(files)
		for _, f := range files {
			if err := checkRootOnly(f); err != nil {
				errs = append(errs, &detect.LoadError{File: f, Err: err})
				continue
			}
			out = append(out, f)
		}
	}
	return out, errs
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
	rules, errs := loadRuleSet(paths, !*noBuiltin, false)
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
