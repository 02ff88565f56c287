package detect

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodExceptions = `
[[exception]]
rule_id = "*"
description = "lab network"
where = 'destination.ip == "203.0.113.99"'
`

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func errStrings(errs []*LoadError) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func TestLoadRuleSetFromFiles(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	// The seed rule's own TOML in a file replaces the built-in copy.
	writeFile(t, filepath.Join(rules, "a-seed.toml"), string(SeedRuleTOML()))
	writeFile(t, filepath.Join(rules, "b-bad.toml"), "[rule\n")
	writeFile(t, filepath.Join(rules, "notes.txt"), "not a rule")
	exc := filepath.Join(dir, "exceptions.toml")
	writeFile(t, exc, goodExceptions)

	set, errs := LoadRuleSet(RuleSetOptions{
		Paths:      []string{rules},
		Optional:   []string{filepath.Join(dir, "absent")},
		Builtin:    true,
		Exceptions: exc,
	})
	if len(set.Rules) != 1 || set.Rules[0].File != filepath.Join(rules, "a-seed.toml") {
		t.Errorf("rules = %v, want the file's copy of the seed rule only", set.Rules)
	}
	if len(errs) != 1 || errs[0].File != filepath.Join(rules, "b-bad.toml") || errs[0].Line != 2 {
		t.Errorf("errs = %s, want b-bad.toml at line 2", errStrings(errs))
	}
	if len(set.Exceptions) != 1 || set.ExceptionsFailed {
		t.Errorf("exceptions = %d, failed %v", len(set.Exceptions), set.ExceptionsFailed)
	}

	// A missing path that is not optional is an error; so is a missing
	// exceptions file, which marks the exceptions failed.
	set, errs = LoadRuleSet(RuleSetOptions{
		Paths:      []string{filepath.Join(dir, "absent")},
		Builtin:    true,
		Exceptions: filepath.Join(dir, "absent.toml"),
	})
	if len(set.Rules) != 1 || set.Rules[0].File != "" {
		t.Errorf("rules = %v, want the built-in seed rule", set.Rules)
	}
	if len(errs) != 2 || !errors.Is(errs[0], fs.ErrNotExist) || !errors.Is(errs[1], fs.ErrNotExist) || !set.ExceptionsFailed {
		t.Errorf("errs = %s, failed %v", errStrings(errs), set.ExceptionsFailed)
	}

	// An exceptions entry that does not compile: the others load, the
	// set says the exceptions failed.
	writeFile(t, exc, goodExceptions+"\n[[exception]]\nrule_id = \"*\"\nwhere = 'process.name =='\n")
	set, errs = LoadRuleSet(RuleSetOptions{Builtin: true, Exceptions: exc})
	if len(set.Exceptions) != 1 || !set.ExceptionsFailed || len(errs) != 1 || errs[0].File != exc || errs[0].Line != 9 {
		t.Errorf("exceptions %d failed %v errs %s", len(set.Exceptions), set.ExceptionsFailed, errStrings(errs))
	}
}

// memFiles is a Read function over files held in memory: LoadRuleSet
// reads rules and exceptions through it alone.
type memFiles struct {
	files map[string]string
	calls []string
}

func (m *memFiles) read(path string) ([]SourceFile, error) {
	m.calls = append(m.calls, path)
	if path == "/rules" {
		var out []SourceFile
		for _, n := range []string{"/rules/a.toml"} {
			out = append(out, SourceFile{Path: n, Data: []byte(m.files[n])})
		}
		out = append(out, SourceFile{Path: "/rules/refused.toml", Err: errors.New("refused: not root's")})
		return out, nil
	}
	d, ok := m.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []SourceFile{{Path: path, Data: []byte(d)}}, nil
}

func TestLoadRuleSetReadsThroughRead(t *testing.T) {
	m := &memFiles{files: map[string]string{
		"/rules/a.toml":        string(SeedRuleTOML()),
		"/etc/exceptions.toml": goodExceptions,
	}}
	opt := RuleSetOptions{Paths: []string{"/rules"}, Optional: []string{"/nowhere"}, Builtin: true,
		Exceptions: "/etc/exceptions.toml", Read: m.read}
	set, errs := LoadRuleSet(opt)
	if got := strings.Join(m.calls, " "); got != "/nowhere /rules /etc/exceptions.toml" {
		t.Errorf("Read called for %q", got)
	}
	if len(set.Rules) != 1 || set.Rules[0].File != "/rules/a.toml" || len(set.Exceptions) != 1 {
		t.Errorf("rules %v exceptions %d", set.Rules, len(set.Exceptions))
	}
	if len(errs) != 1 || errs[0].Error() != "/rules/refused.toml: refused: not root's" {
		t.Errorf("errs = %s", errStrings(errs))
	}

	// The fingerprint follows the bytes loaded.
	fp := set.Fingerprint
	if again, _ := LoadRuleSet(opt); again.Fingerprint != fp {
		t.Error("same files, different fingerprint")
	}
	m.files["/etc/exceptions.toml"] = goodExceptions + "\n"
	if changed, _ := LoadRuleSet(opt); changed.Fingerprint == fp {
		t.Error("exceptions changed, same fingerprint")
	}
	m.files["/etc/exceptions.toml"] = goodExceptions
	m.files["/rules/a.toml"] = string(SeedRuleTOML()) + "\n# edited\n"
	if changed, _ := LoadRuleSet(opt); changed.Fingerprint == fp {
		t.Error("rule file changed, same fingerprint")
	}
	// An exceptions path that names a folder is refused.
	opt.Exceptions = "/rules"
	if set, errs := LoadRuleSet(opt); !set.ExceptionsFailed || len(errs) != 2 || !strings.Contains(errs[1].Error(), "not a file") {
		t.Errorf("folder as exceptions: failed %v errs %s", set.ExceptionsFailed, errStrings(errs))
	}
}
