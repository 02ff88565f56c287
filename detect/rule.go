package detect

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/macsensor/macsensor/detect/eql"
)

// Rule is one detection rule: the metadata of an Elastic detection-rules
// TOML file and its compiled EQL query.
type Rule struct {
	ID          string   // rule.rule_id
	Name        string   // rule.name
	Description string   // rule.description
	Severity    string   // rule.severity: low, medium, high, critical
	RiskScore   int      // rule.risk_score
	Version     string   // rule.version ("" when the file has none)
	Author      []string // rule.author
	License     string   // rule.license
	References  []string // rule.references
	Tags        []string // rule.tags
	MaxSignals  int      // rule.max_signals; 0: DefaultMaxSignals
	Threat      []Threat // rule.threat
	Language    string   // rule.language (eql)
	Type        string   // rule.type (eql)
	Interval    string   // rule.interval (informational: the engine runs on every event)
	From        string   // rule.from (informational)
	Maturity    string   // metadata.maturity (production, development, ...)
	Query       string   // rule.query, the EQL text
	File        string   // the file it came from; "" for built-in and ad-hoc rules
	Builtin     bool     // compiled into the binary (the seed rule)
	// Actions are the response actions the rule asks for when it fires
	// (the rule file's [macsensor] actions, e.g. "kill_process"). The
	// daemon carries them out; replay never does.
	Actions []string

	parsed *eql.Query
	spec   querySpec
}

// DefaultMaxSignals is the alert budget per rule and throttle window when a
// rule sets no max_signals (Kibana's default).
const DefaultMaxSignals = 100

// Threat is one MITRE ATT&CK mapping of a rule.
type Threat struct {
	Framework string      `toml:"framework"`
	Tactic    Tactic      `toml:"tactic"`
	Technique []Technique `toml:"technique"`
}

// Tactic is a MITRE ATT&CK tactic.
type Tactic struct {
	ID        string `toml:"id"`
	Name      string `toml:"name"`
	Reference string `toml:"reference"`
}

// Technique is a MITRE ATT&CK technique and its subtechniques.
type Technique struct {
	ID           string         `toml:"id"`
	Name         string         `toml:"name"`
	Reference    string         `toml:"reference"`
	Subtechnique []Subtechnique `toml:"subtechnique"`
}

// Subtechnique is a MITRE ATT&CK subtechnique.
type Subtechnique struct {
	ID        string `toml:"id"`
	Name      string `toml:"name"`
	Reference string `toml:"reference"`
}

// Parsed returns the rule's parsed query.
func (r *Rule) Parsed() *eql.Query { return r.parsed }

// IsSequence reports whether the rule is a sequence.
func (r *Rule) IsSequence() bool { return r.spec.seq != nil }

// maxSignals is the rule's alert budget per throttle window.
func (r *Rule) maxSignals() int {
	if r.MaxSignals > 0 {
		return r.MaxSignals
	}
	return DefaultMaxSignals
}

// LoadError is a rule file that did not load.
type LoadError struct {
	File    string
	Line    int // 1-based, in the file; 0 when unknown
	Col     int // 1-based, in the file; 0 when unknown
	RuleID  string
	Skipped bool // the file is valid but not an EQL rule (not an error in the file)
	Err     error
}

// Error is "file:line:col: reason" (without :line:col when unknown).
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, max(e.Col, 1))
	}
	b.WriteString(": ")
	if e.Skipped {
		b.WriteString("skipped: ")
	}
	var qe *eql.Error
	if e.Line > 0 && errors.As(e.Err, &qe) {
		// The position is the file's now; the query-relative one would
		// only confuse.
		b.WriteString("eql: ")
		b.WriteString(qe.Msg)
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause (an *eql.Error for a query error).
func (e *LoadError) Unwrap() error { return e.Err }

// ErrNotEQL is the cause of a LoadError for a rule that is not an EQL rule.
var ErrNotEQL = errors.New("detect: not an EQL rule")

// LoadRules loads detection-rules TOML files. Each path is a file or a
// folder (its *.toml files, not recursive, in name order). It returns the
// rules that loaded and one LoadError per file that did not: non-EQL rules
// (Skipped), TOML errors and EQL errors (with the line and column in the
// file), duplicate rule_ids (the first one is kept) and unreadable paths.
func LoadRules(paths ...string) ([]*Rule, []*LoadError) {
	var files []SourceFile
	var errs []*LoadError
	for _, p := range paths {
		fs, err := ReadPath(p)
		if err != nil {
			errs = append(errs, &LoadError{File: p, Err: err})
			continue
		}
		files = append(files, fs...)
	}
	rules, lerrs := parseRuleFiles(files)
	return rules, append(errs, lerrs...)
}

// ruleFile is the part of a detection-rules TOML file the engine reads.
// Unknown keys are ignored.
type ruleFile struct {
	Metadata struct {
		Maturity string `toml:"maturity"`
	} `toml:"metadata"`
	Macsensor struct {
		Actions []string `toml:"actions"`
	} `toml:"macsensor"`
	Rule struct {
		RuleID      string    `toml:"rule_id"`
		Name        string    `toml:"name"`
		Description string    `toml:"description"`
		Severity    string    `toml:"severity"`
		RiskScore   int       `toml:"risk_score"`
		Version     tomlText  `toml:"version"`
		Author      tomlTexts `toml:"author"`
		License     string    `toml:"license"`
		References  tomlTexts `toml:"references"`
		Tags        tomlTexts `toml:"tags"`
		MaxSignals  int       `toml:"max_signals"`
		Threat      []Threat  `toml:"threat"`
		Language    string    `toml:"language"`
		Type        string    `toml:"type"`
		Interval    string    `toml:"interval"`
		From        string    `toml:"from"`
		Query       string    `toml:"query"`
	} `toml:"rule"`
}

// tomlText is a TOML string or number, kept as text (rule.version is an
// integer in detection-rules and a dotted string in protections-artifacts).
type tomlText string

// UnmarshalTOML implements toml.Unmarshaler.
func (t *tomlText) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		*t = tomlText(x)
	case int64:
		*t = tomlText(strconv.FormatInt(x, 10))
	case float64:
		*t = tomlText(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		return fmt.Errorf("detect: want a string or a number, got %T", v)
	}
	return nil
}

// tomlTexts is a TOML array of strings, or a single string.
type tomlTexts []string

// UnmarshalTOML implements toml.Unmarshaler.
func (t *tomlTexts) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		*t = []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("detect: want an array of strings, got a %T element", e)
			}
			out = append(out, s)
		}
		*t = out
	default:
		return fmt.Errorf("detect: want an array of strings, got %T", v)
	}
	return nil
}

// ParseRule parses and compiles one detection-rules TOML file; name is used
// in errors.
func ParseRule(name string, data []byte) (*Rule, *LoadError) {
	var f ruleFile
	if _, err := toml.Decode(string(data), &f); err != nil {
		le := &LoadError{File: name, Err: fmt.Errorf("detect: %w", err)}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			le.Line, le.Col = pe.Position.Line, pe.Position.Col
			le.Err = fmt.Errorf("detect: toml: %s", pe.Message)
		}
		return nil, le
	}
	rf := &f.Rule
	r := &Rule{
		ID:          rf.RuleID,
		Name:        rf.Name,
		Description: rf.Description,
		Severity:    rf.Severity,
		RiskScore:   rf.RiskScore,
		Version:     string(rf.Version),
		Author:      rf.Author,
		License:     rf.License,
		References:  rf.References,
		Tags:        rf.Tags,
		MaxSignals:  rf.MaxSignals,
		Threat:      rf.Threat,
		Language:    rf.Language,
		Type:        rf.Type,
		Interval:    rf.Interval,
		From:        rf.From,
		Maturity:    f.Metadata.Maturity,
		Query:       rf.Query,
		File:        name,
	}
	for _, a := range f.Macsensor.Actions {
		if !slices.Contains(KnownActions, a) {
			le := &LoadError{File: name, RuleID: r.ID,
				Err: fmt.Errorf("detect: [macsensor] actions: unknown action %q (known: %s)", a, strings.Join(KnownActions, ", "))}
			le.Line, le.Col = actionPos(data, a)
			return nil, le
		}
		if !slices.Contains(r.Actions, a) {
			r.Actions = append(r.Actions, a)
		}
	}
	if r.Language != "eql" || r.Type != "eql" {
		return nil, &LoadError{File: name, RuleID: r.ID, Skipped: true,
			Err: fmt.Errorf("%w (language %q, type %q)", ErrNotEQL, r.Language, r.Type)}
	}
	if r.ID == "" {
		return nil, &LoadError{File: name, Err: errors.New("detect: rule.rule_id is missing")}
	}
	if strings.TrimSpace(r.Query) == "" {
		return nil, &LoadError{File: name, RuleID: r.ID, Err: errors.New("detect: rule.query is missing")}
	}
	if err := r.compile(); err != nil {
		le := &LoadError{File: name, RuleID: r.ID, Err: err}
		var qe *eql.Error
		if errors.As(err, &qe) {
			le.Line, le.Col = queryPosInFile(data, qe.Pos)
		}
		return nil, le
	}
	return r, nil
}

// QueryRule makes an ad-hoc rule from a bare EQL query (`replay --query`).
// Its ID and name are "query".
func QueryRule(query string) (*Rule, error) {
	r := &Rule{ID: "query", Name: "query", Severity: "low", Language: "eql", Type: "eql", Query: query}
	if err := r.compile(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rule) compile() error {
	q, err := eql.Parse(r.Query)
	if err != nil {
		return err
	}
	spec, err := compileQuery(q)
	if err != nil {
		return err
	}
	r.parsed = q
	r.spec = spec
	return nil
}

// queryPosInFile translates a position inside rule.query to the file: it
// finds the `query =` line of the [rule] table and the opening quotes. The
// translation is exact for literal strings ('…' and ”'…”', what
// detection-rules uses) and for basic strings without escapes.
func queryPosInFile(data []byte, p eql.Pos) (line, col int) {
	return keyPosInBlock(data, "[rule]", 0, "query", p)
}

// Ruleset is the alert's rule.ruleset: where the rule came from. Elastic
// Defend writes "production" for its production behavior rules; a
// macsensor rule is not one, so it says "macsensor-builtin" for a rule
// compiled into the binary, "file:" and the path for a rule loaded from a
// file (a detection-rules query rule included), and "macsensor-query" for
// an ad-hoc query.
func (r *Rule) Ruleset() string {
	switch {
	case r.Builtin:
		return RulesetBuiltin
	case r.File != "":
		return RulesetFile + r.File
	}
	return RulesetQuery
}

// stageOfEvents maps the n events of a sequence alert to the stages they
// matched (a stage `with runs=N` matches N events in a row); nil for an
// event query, or when n does not fit the stages.
func (r *Rule) stageOfEvents(n int) []int {
	if r.parsed == nil || r.parsed.Sequence == nil {
		return nil
	}
	out := make([]int, 0, n)
	for k, st := range r.parsed.Sequence.Stages {
		for range max(st.Runs, 1) {
			out = append(out, k)
		}
	}
	if len(out) != n {
		return nil
	}
	return out
}

// KnownActions are the response actions a rule's [macsensor] actions may
// name.
var KnownActions = []string{"kill_process"}

// actionPos is the line and column of the quoted action a in the
// [macsensor] table's actions (0, 0 when not found).
func actionPos(data []byte, a string) (line, col int) {
	in := false
	quoted := []byte(strconv.Quote(a))
	for i, l := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if bytes.HasPrefix(t, []byte("[")) && !bytes.HasPrefix(t, []byte("[\"")) {
			in = string(t) == "[macsensor]"
			continue
		}
		if !in {
			continue
		}
		if k := bytes.Index(l, quoted); k >= 0 {
			return i + 1, k + 1
		}
		if k := bytes.Index(l, []byte("'"+a+"'")); k >= 0 {
			return i + 1, k + 1
		}
	}
	return 0, 0
}
