package eql

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
)

// ruleFile is the part of a detection-rules TOML file these tests read.
type ruleFile struct {
	Rule struct {
		Name     string `toml:"name"`
		Language string `toml:"language"`
		Query    string `toml:"query"`
	} `toml:"rule"`
}

// compileQuery compiles every event query of q (sequence stages and until
// included) and every join key.
func compileQuery(q *Query) error {
	if q.Event != nil {
		_, err := Compile(q.Event)
		return err
	}
	s := q.Sequence
	stages := s.Stages
	if s.Until != nil {
		stages = append(stages[:len(stages):len(stages)], *s.Until)
	}
	for i := range stages {
		if _, err := Compile(&stages[i].Query); err != nil {
			return err
		}
		keys := append(append([]*Field(nil), s.By...), stages[i].By...)
		if _, err := CompileKey(keys); err != nil {
			return err
		}
	}
	return nil
}

// TestRules parses and compiles the query of every rule in testdata/rules:
// Elastic's 143 macOS rules and the seed rule.
func TestRules(t *testing.T) {
	files, err := filepath.Glob("testdata/rules/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 143+1 {
		t.Fatalf("found %d rule files, want 144", len(files))
	}
	var sequences, events int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if _, err := toml.Decode(string(data), &rf); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		q, err := Parse(rf.Rule.Query)
		if err != nil {
			t.Errorf("%s: parse: %v", filepath.Base(f), err)
			continue
		}
		if err := compileQuery(q); err != nil {
			t.Errorf("%s: compile: %v", filepath.Base(f), err)
			continue
		}
		if q.Sequence != nil {
			sequences++
		} else {
			events++
		}
	}
	t.Logf("%d event queries, %d sequences", events, sequences)
}
