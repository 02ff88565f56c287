package detect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/detect/eql"
)

func TestSeedRule(t *testing.T) {
	r := seedRule(t)
	if r.ID != "5d9f8cfc-0d03-443e-a167-2b0597ce0965" || r.Version != "107" ||
		r.Name != "Suspicious Automator Workflows Execution" || r.Severity != "medium" || r.RiskScore != 47 ||
		r.Language != "eql" || r.Type != "eql" || r.Maturity != "production" || r.License != "Elastic License v2" ||
		r.From != "now-9m" || r.File != "" || r.maxSignals() != DefaultMaxSignals {
		t.Errorf("seed rule metadata: %+v", r)
	}
	if len(r.Threat) != 1 || r.Threat[0].Tactic.ID != "TA0002" || len(r.Threat[0].Technique) != 1 || r.Threat[0].Technique[0].ID != "T1059" {
		t.Errorf("seed threat: %+v", r.Threat)
	}
	if len(r.Author) != 1 || r.Author[0] != "Elastic" || len(r.References) != 1 || len(r.Tags) != 6 {
		t.Errorf("seed author/references/tags: %v %v %v", r.Author, r.References, r.Tags)
	}
	if !r.IsSequence() || len(r.spec.seq.stages) != 2 || r.spec.seq.maxSpan != int64(30*time.Second) || r.spec.seq.until != nil {
		t.Errorf("seed query compiled to %+v", r.spec.seq)
	}
	seq := r.Parsed().Sequence
	if len(seq.By) != 1 || seq.By[0].Path != "host.id" {
		t.Errorf("seed joins by %v, want host.id", seq.By)
	}
	if !strings.Contains(string(SeedRuleTOML()), "\nversion = 107\n") {
		t.Error("embedded seed rule lacks version = 107")
	}
	// The embedded text is the published rule plus the version line.
	shared := filepath.Join("..", "..", "shared", "rules", "seed", "execution_script_via_automator_workflows@ab89dfb98d_2025-02-05.toml")
	if orig, err := os.ReadFile(shared); err == nil {
		if got := strings.Replace(string(SeedRuleTOML()), "version = 107\n", "", 1); got != string(orig) {
			t.Error("embedded seed rule differs from the published one by more than the version line")
		}
	}
}

func TestLoadElasticMacOSRules(t *testing.T) {
	dir := filepath.Join("testdata", "rules", "elastic-macos")
	rules, errs := LoadRules(dir)
	for _, e := range errs {
		t.Errorf("%v", e)
	}
	if len(rules) != 143 {
		t.Errorf("loaded %d rules, want 143", len(rules))
	}
	var seqs, found int
	for _, r := range rules {
		if r.IsSequence() {
			seqs++
		}
		if r.ID == "5d9f8cfc-0d03-443e-a167-2b0597ce0965" {
			found++
			// Today's version joins by host.id, process.entity_id.
			if by := r.Parsed().Sequence.By; len(by) != 2 || by[1].Path != "process.entity_id" {
				t.Errorf("today's automator rule joins by %v", by)
			}
		}
	}
	if found != 1 {
		t.Errorf("today's automator rule found %d times", found)
	}
	t.Logf("loaded %d rules (%d sequences, %d event queries)", len(rules), seqs, len(rules)-seqs)
	// The engine takes them all.
	if _, err := NewEngine(rules, nil, Options{}); err != nil {
		t.Error(err)
	}
}

const goodRule = `[metadata]
maturity = "production"

[rule]
author = ["Test"]
description = "test"
language = "eql"
license = "Elastic License v2"
name = "Test rule %s"
risk_score = 21
rule_id = "%s"
severity = "low"
type = "eql"
query = '''
process where process.name == "a"
'''
`

func writeRule(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRulesErrors(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "a_good.toml", strings.ReplaceAll(strings.Replace(goodRule, "%s", "A", 1), "%s", "id-a"))
	writeRule(t, dir, "b_dup.toml", strings.ReplaceAll(strings.Replace(goodRule, "%s", "B", 1), "%s", "id-a"))
	writeRule(t, dir, "c_toml.toml", "[rule]\nname = \"x\"\nrule_id = \"unterminated\n")
	writeRule(t, dir, "d_eql.toml", `[rule]
rule_id = "id-d"
language = "eql"
type = "eql"
query = '''
process where
  process.name == "a" and )
'''
`)
	writeRule(t, dir, "e_kuery.toml", "[rule]\nrule_id = \"id-e\"\nlanguage = \"kuery\"\ntype = \"query\"\nquery = \"process.name : a\"\n")
	writeRule(t, dir, "f_oneline.toml", "[rule]\nrule_id = \"id-f\"\nlanguage = \"eql\"\ntype = \"eql\"\nquery   =  \"process where )\"\n")
	writeRule(t, dir, "g_noid.toml", "[rule]\nlanguage = \"eql\"\ntype = \"eql\"\nquery = \"process where true\"\n")
	writeRule(t, dir, "h_inline.toml", "[rule]\nrule_id = \"id-h\"\nlanguage = \"eql\"\ntype = \"eql\"\nquery = '''process where\n   true and )'''\n")
	writeRule(t, dir, "not_a_rule.txt", "ignored")

	rules, errs := LoadRules(dir, filepath.Join(dir, "missing.toml"))
	if len(rules) != 1 || rules[0].ID != "id-a" || rules[0].Name != "Test rule A" || rules[0].File != filepath.Join(dir, "a_good.toml") {
		t.Errorf("rules = %+v", rules)
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), "")
	}
	want := []string{
		"missing.toml: detect: stat missing.toml: no such file or directory",
		"b_dup.toml: detect: duplicate rule_id id-a (first loaded from a_good.toml, kept)",
		"c_toml.toml:3:24: detect: toml: strings cannot contain newlines",
		"d_eql.toml:7:27: eql: expected an expression, found \")\"",
		`e_kuery.toml: skipped: detect: not an EQL rule (language "kuery", type "query")`,
		"f_oneline.toml:5:27: eql: expected an expression, found \")\"",
		"g_noid.toml: detect: rule.rule_id is missing",
		"h_inline.toml:6:13: eql: expected an expression, found \")\"",
	}
	// The missing path comes first (paths are checked before files load),
	// the rest in file order.
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("error %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
	if !errs[4].Skipped || !errors.Is(errs[4], ErrNotEQL) {
		t.Errorf("kuery rule: Skipped=%v, Is(ErrNotEQL)=%v", errs[4].Skipped, errors.Is(errs[4], ErrNotEQL))
	}
	var qe *eql.Error
	if !errors.As(errs[3], &qe) || qe.Pos.Line != 2 {
		t.Errorf("eql error not unwrappable with its query position: %v", errs[3])
	}
}

func TestQueryPosInFile(t *testing.T) {
	file := []byte("[metadata]\nquery = 'not this one'\n\n[rule]\nname = \"x\"\n  query = '''\nline one\nline two\n'''\n")
	for _, tc := range []struct {
		p         eql.Pos
		line, col int
	}{
		{eql.Pos{Line: 1, Col: 1}, 7, 1},
		{eql.Pos{Line: 2, Col: 6}, 8, 6},
	} {
		if l, c := queryPosInFile(file, tc.p); l != tc.line || c != tc.col {
			t.Errorf("%+v → %d:%d, want %d:%d", tc.p, l, c, tc.line, tc.col)
		}
	}
	if l, c := queryPosInFile([]byte("[rule]\nname = \"x\"\n"), eql.Pos{Line: 1, Col: 1}); l != 1 || c != 1 {
		t.Errorf("no query key: %d:%d, want the [rule] header 1:1", l, c)
	}
}

func TestQueryRule(t *testing.T) {
	r, err := QueryRule(`sequence by host.id [process where true] [network where true] | head 3`)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsSequence() || len(r.Parsed().Pipes) != 1 || r.ID != "query" {
		t.Errorf("QueryRule = %+v", r)
	}
	if _, err := QueryRule(`process where (`); err == nil {
		t.Error("no error for a broken query")
	}
}

// FuzzParseRule: rule files are operator input; no input may panic.
func FuzzParseRule(f *testing.F) {
	f.Add(SeedRuleTOML())
	f.Add([]byte(strings.ReplaceAll(goodRule, "%s", "x")))
	f.Add([]byte("[rule]\nrule_id = \"x\"\nlanguage = \"eql\"\ntype = \"eql\"\nquery = '''sequence [process where true] [network where true] until [any where true]'''\nversion = \"1.0.3\"\n"))
	f.Add([]byte("[rule]\nquery = '''\n)\n'''\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, lerr := ParseRule("fuzz.toml", data)
		if (r == nil) == (lerr == nil) {
			t.Fatalf("rule %v and error %v", r, lerr)
		}
		if lerr != nil {
			_ = lerr.Error()
		}
	})
}

func TestRuleActions(t *testing.T) {
	base := string(SeedRuleTOML())
	r, lerr := ParseRule("a.toml", []byte(base+"\n[macsensor]\nactions = [\"kill_process\", \"kill_process\"]\n"))
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(r.Actions) != 1 || r.Actions[0] != "kill_process" {
		t.Errorf("Actions = %q", r.Actions)
	}
	if r, _ := ParseRule("b.toml", SeedRuleTOML()); len(r.Actions) != 0 {
		t.Errorf("a rule without [macsensor] has actions %q", r.Actions)
	}
	text := base + "\n[macsensor]\nactions = [\"kill_process\", \"isolate_host\"]\n"
	_, lerr = ParseRule("c.toml", []byte(text))
	if lerr == nil {
		t.Fatal("an unknown action loaded")
	}
	line := strings.Count(base, "\n") + 3
	want := fmt.Sprintf(`c.toml:%d:28: detect: [macsensor] actions: unknown action "isolate_host" (known: kill_process)`, line)
	if lerr.Error() != want {
		t.Errorf("error %q, want %q", lerr.Error(), want)
	}
}
