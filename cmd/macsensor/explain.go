package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/macsensor/macsensor/detect"
)

// rulesExplain prints how the engine's plan indexes rules: for each
// RULE_ID given, the category table of each of its parts, the index keys
// under which it runs and the conditions left to test; with no RULE_ID, a
// summary of the whole plan (tables, indexed fields, key counts).
func rulesExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor rules explain [--no-builtin] [--rules PATH]... [RULE_ID]...")
		fs.PrintDefaults()
	}
	var paths pathList
	fs.Var(&paths, "rules", "rule file or folder to load (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out the built-in seed rule")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	set, errs := detect.LoadRuleSet(ruleSetOptions(nil, paths, !*noBuiltin, "", false))
	rules := set.Rules
	for _, e := range errs {
		fmt.Fprintln(stderr, "macsensor rules:", e.Error())
	}
	eng, err := detect.NewEngine(rules, nil, detect.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "macsensor rules explain:", err)
		return 1
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stdout, eng.PlanSummary())
		return 0
	}
	code := 0
	for _, id := range fs.Args() {
		text, ok := eng.Explain(id)
		if !ok {
			fmt.Fprintf(stderr, "macsensor rules explain: no rule with rule_id %s\n", id)
			code = 1
			continue
		}
		fmt.Fprint(stdout, text)
	}
	return code
}
