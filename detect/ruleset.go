package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// SourceFile is one rule or exceptions file as a RuleSetOptions.Read
// function returns it: its contents, or why it could not be read.
type SourceFile struct {
	Path string
	Data []byte
	Err  error
}

// RuleSetOptions say what LoadRuleSet loads.
type RuleSetOptions struct {
	// Paths are rule files and folders (their *.toml files, not
	// recursive, in name order). A missing one is an error.
	Paths []string
	// Optional are rule folders where a missing one is empty: the
	// configured rules folder of a fresh install.
	Optional []string
	// Builtin adds the built-in seed rule first, unless a loaded file
	// holds a rule with its rule_id (a newer version of the same rule).
	Builtin bool
	// Exceptions is the exceptions file ("": none).
	Exceptions string
	// Read returns the file a path names, or a folder's *.toml files in
	// name order, each with its own Err; a missing path is an error that
	// wraps fs.ErrNotExist. The daemon passes a reader that refuses files
	// anyone but root could have written. nil: ReadPath (plain reads, no
	// trust checks).
	Read func(path string) ([]SourceFile, error)
}

// RuleSet is a loaded set of rules and exceptions.
type RuleSet struct {
	Rules      []*Rule
	Exceptions []*Exception
	// ExceptionsFailed: the exceptions file could not be read, or one of
	// its entries did not compile. Running without an exception raises
	// the alerts it exists to silence; the caller decides whether that is
	// acceptable.
	ExceptionsFailed bool
	// Fingerprint identifies what was loaded (every rule's identity,
	// query and limits, and the exceptions file's bytes): a reload with
	// the same fingerprint changes nothing.
	Fingerprint string
}

// LoadRuleSet loads rule files, folders, the built-in seed rule and an
// exceptions file into one RuleSet, and returns one LoadError per rule file
// that did not load (Skipped for valid non-EQL rules) and per exceptions
// entry that did not compile (or one for an unreadable exceptions file).
// Every caller (the daemon, replay, `rules list`) loads through it, so a
// rule set means the same thing everywhere.
func LoadRuleSet(opt RuleSetOptions) (*RuleSet, []*LoadError) {
	read := opt.Read
	if read == nil {
		read = ReadPath
	}
	var files []SourceFile
	var errs []*LoadError
	add := func(p string, optional bool) {
		fs, err := read(p)
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				return
			}
			errs = append(errs, &LoadError{File: p, Err: err})
			return
		}
		files = append(files, fs...)
	}
	for _, p := range opt.Optional {
		add(p, true)
	}
	for _, p := range opt.Paths {
		add(p, false)
	}
	rules, lerrs := parseRuleFiles(files)
	errs = append(errs, lerrs...)
	if opt.Builtin {
		rules, errs = withSeed(rules, errs)
	}
	set := &RuleSet{Rules: rules}
	var excData []byte
	if opt.Exceptions != "" {
		xf, err := read(opt.Exceptions)
		switch {
		case err != nil:
		case len(xf) != 1 || xf[0].Path != opt.Exceptions:
			err = fmt.Errorf("detect: %s: not a file", opt.Exceptions)
		default:
			err = xf[0].Err
		}
		if err != nil {
			set.ExceptionsFailed = true
			errs = append(errs, &LoadError{File: opt.Exceptions, Err: err})
		} else {
			excData = xf[0].Data
			var xerrs []*LoadError
			set.Exceptions, xerrs = ParseExceptions(opt.Exceptions, excData)
			set.ExceptionsFailed = len(xerrs) > 0
			errs = append(errs, xerrs...)
		}
	}
	set.Fingerprint = fingerprint(files, opt.Builtin, opt.Exceptions, excData)
	return set, errs
}

// withSeed puts the built-in seed rule first unless rules hold its
// rule_id.
func withSeed(rules []*Rule, errs []*LoadError) ([]*Rule, []*LoadError) {
	seed, err := SeedRule()
	if err != nil {
		return rules, append(errs, &LoadError{File: "built-in seed rule", Err: err})
	}
	for _, r := range rules {
		if r.ID == seed.ID {
			return rules, errs
		}
	}
	return append([]*Rule{seed}, rules...), errs
}

// parseRuleFiles parses files, on every core (a rule parses on its own),
// and reports them in order; a rule_id seen before is an error (the first
// one is kept).
func parseRuleFiles(files []SourceFile) ([]*Rule, []*LoadError) {
	type parsed struct {
		r   *Rule
		err *LoadError
	}
	out := make([]parsed, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				if f := files[i]; f.Err == nil {
					out[i].r, out[i].err = ParseRule(f.Path, f.Data)
				}
			}
		})
	}
	wg.Wait()
	var rules []*Rule
	var errs []*LoadError
	seen := make(map[string]string)
	for i, f := range files {
		if f.Err != nil {
			errs = append(errs, &LoadError{File: f.Path, Err: f.Err})
			continue
		}
		r, lerr := out[i].r, out[i].err
		if lerr != nil {
			errs = append(errs, lerr)
			continue
		}
		if first, dup := seen[r.ID]; dup {
			errs = append(errs, &LoadError{File: f.Path, RuleID: r.ID,
				Err: fmt.Errorf("detect: duplicate rule_id %s (first loaded from %s, kept)", r.ID, first)})
			continue
		}
		seen[r.ID] = f.Path
		rules = append(rules, r)
	}
	return rules, errs
}

// ReadPath is the plain reader of RuleSetOptions.Read: the file at path, or
// the *.toml files of the folder at path in name order, read with the os
// package and no trust checks.
func ReadPath(path string) ([]SourceFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		return []SourceFile{{Path: path, Data: data}}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".toml") {
			names = append(names, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(names)
	out := make([]SourceFile, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			err = fmt.Errorf("detect: %w", err)
		}
		out = append(out, SourceFile{Path: n, Data: data, Err: err})
	}
	return out, nil
}

// fingerprint identifies a rule set by the bytes it was loaded from: the
// rule files, whether the seed rule was asked for, and the exceptions
// file.
func fingerprint(files []SourceFile, builtin bool, excPath string, exceptions []byte) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%t\x00", f.Path, len(f.Data), f.Err == nil)
		h.Write(f.Data)
	}
	fmt.Fprintf(h, "\x01%t\x01%s\x00%d\x00", builtin, excPath, len(exceptions))
	h.Write(exceptions)
	return hex.EncodeToString(h.Sum(nil))
}
