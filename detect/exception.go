package detect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/macsensor/macsensor/detect/eql"
	"github.com/macsensor/macsensor/sensor/ecs"
)

// Exception suppresses a rule's matches (a known false positive). A file
// holds any number of them:
//
//	[[exception]]
//	rule_id     = "5d9f8cfc-0d03-443e-a167-2b0597ce0965"  # or "*": every rule
//	description = "the inventory workflow IT runs"
//	where       = 'process.executable == "/usr/local/bin/inventory" and user.name == "itadmin"'
//	stage       = 2  # optional: test only the 2nd event of the match
//
// where is an EQL condition, compiled as `any where <cond>`. A match is
// suppressed when any of its events satisfies it, or, with stage = N
// (1-based), when its N-th event does.
type Exception struct {
	RuleID      string
	Description string
	Where       string
	Stage       int // 1-based; 0: any event

	match matchFunc
}

// AllRules is the rule_id of an exception that applies to every rule.
const AllRules = "*"

// Suppresses reports whether the exception suppresses a match.
func (x *Exception) Suppresses(events []*ecs.Event) bool {
	if x.Stage > 0 {
		return x.Stage <= len(events) && x.match(events[x.Stage-1])
	}
	for _, e := range events {
		if x.match(e) {
			return true
		}
	}
	return false
}

func (x *Exception) appliesTo(ruleID string) bool {
	return x.RuleID == AllRules || x.RuleID == ruleID
}

// NewException compiles one exception.
func NewException(ruleID, description, where string, stage int) (*Exception, error) {
	x := &Exception{RuleID: ruleID, Description: description, Where: where, Stage: stage}
	if err := x.compile(); err != nil {
		return nil, err
	}
	return x, nil
}

const exceptionPrefix = "any where "

func (x *Exception) compile() error {
	switch {
	case x.RuleID == "":
		return errors.New("detect: exception: rule_id is missing (use \"*\" for every rule)")
	case strings.TrimSpace(x.Where) == "":
		return errors.New("detect: exception: where is missing")
	case x.Stage < 0:
		return fmt.Errorf("detect: exception: stage %d: want 1 or more", x.Stage)
	}
	q, err := eql.Parse(exceptionPrefix + x.Where)
	if err != nil {
		return err
	}
	if q.Event == nil || len(q.Pipes) > 0 {
		return errors.New("detect: exception: where must be a condition, not a query")
	}
	m, err := eql.Compile(q.Event)
	if err != nil {
		return err
	}
	x.match = m
	return nil
}

// LoadExceptions reads an exceptions file. It returns the exceptions that
// compiled and one LoadError per entry that did not, with the line and
// column in the file.
func LoadExceptions(path string) ([]*Exception, []*LoadError) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []*LoadError{{File: path, Err: fmt.Errorf("detect: %w", err)}}
	}
	return ParseExceptions(path, data)
}

// ParseExceptions parses an exceptions file's contents; name is used in
// errors.
func ParseExceptions(name string, data []byte) ([]*Exception, []*LoadError) {
	var f struct {
		Exception []struct {
			RuleID      string `toml:"rule_id"`
			Description string `toml:"description"`
			Where       string `toml:"where"`
			Stage       int    `toml:"stage"`
		} `toml:"exception"`
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		le := &LoadError{File: name, Err: fmt.Errorf("detect: %w", err)}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			le.Line, le.Col = pe.Position.Line, pe.Position.Col
			le.Err = fmt.Errorf("detect: toml: %s", pe.Message)
		}
		return nil, []*LoadError{le}
	}
	var out []*Exception
	var errs []*LoadError
	for i, e := range f.Exception {
		x := &Exception{RuleID: e.RuleID, Description: e.Description, Where: e.Where, Stage: e.Stage}
		if err := x.compile(); err != nil {
			le := &LoadError{File: name, RuleID: e.RuleID, Err: err}
			var qe *eql.Error
			if errors.As(err, &qe) {
				p := qe.Pos
				if p.Line <= 1 {
					p.Col -= len(exceptionPrefix)
				}
				le.Line, le.Col = keyPosInBlock(data, "[[exception]]", i, "where", p)
			} else {
				le.Line, le.Col = keyPosInBlock(data, "[[exception]]", i, "", eql.Pos{})
			}
			errs = append(errs, le)
			continue
		}
		out = append(out, x)
	}
	return out, errs
}

// keyPosInBlock finds the n-th (0-based) table header in a TOML file and,
// when key is set, the line of `key =` within it, and maps a position in
// that key's string value to the file as queryPosInFile does. Without key,
// or when the key is not found, it returns the header's line.
func keyPosInBlock(data []byte, header string, n int, key string, p eql.Pos) (line, col int) {
	lines := bytes.Split(data, []byte("\n"))
	seen := -1
	for i, l := range lines {
		t := bytes.TrimSpace(l)
		if bytes.HasPrefix(t, []byte("[")) {
			if string(t) == header {
				seen++
				if seen == n {
					line, col = i+1, 1
					if key == "" {
						return line, col
					}
				}
			} else if seen == n {
				return line, col
			}
			continue
		}
		if seen != n || key == "" {
			continue
		}
		if l2, c2 := valuePos(lines, i, key, p); l2 > 0 {
			return l2, c2
		}
	}
	return line, col
}

// valuePos maps a position inside the string value of `key = ...` on line i
// to the file, or returns 0, 0 when line i does not assign key.
func valuePos(lines [][]byte, i int, key string, p eql.Pos) (line, col int) {
	l := lines[i]
	t := bytes.TrimSpace(l)
	if !bytes.HasPrefix(t, []byte(key)) || !bytes.HasPrefix(bytes.TrimSpace(t[len(key):]), []byte("=")) {
		return 0, 0
	}
	eq := bytes.IndexByte(l, '=')
	v := l[eq+1:]
	ws := len(v) - len(bytes.TrimLeft(v, " \t"))
	v = v[ws:]
	openCol := eq + 1 + ws + 1
	var startLine, startCol int
	switch {
	case bytes.HasPrefix(v, []byte("'''")), bytes.HasPrefix(v, []byte(`"""`)):
		if len(bytes.TrimRight(v[3:], "\r")) == 0 {
			// A newline right after the delimiter is not part of the
			// string (TOML spec).
			startLine, startCol = i+2, 1
		} else {
			startLine, startCol = i+1, openCol+3
		}
	default:
		startLine, startCol = i+1, openCol+1
	}
	if p.Line <= 1 {
		return startLine, startCol + max(p.Col, 1) - 1
	}
	return startLine + p.Line - 1, max(p.Col, 1)
}
