package detect

import (
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func TestParseExceptionsErrors(t *testing.T) {
	data := []byte(`# exceptions
[[exception]]
rule_id = "r1"
where = 'user.name == "ok"'

[[exception]]
rule_id = "r2"
description = "broken condition"
where = 'user.name == )'

[[exception]]
description = "no rule"
where = 'user.name == "x"'

[[exception]]
rule_id = "*"
where = 'user.name == "x"'
stage = -1

[[exception]]
rule_id = "*"
where = '''
user.name == "x" and
  process.name == )
'''
`)
	excs, errs := ParseExceptions("exc.toml", data)
	if len(excs) != 1 || excs[0].RuleID != "r1" {
		t.Errorf("exceptions = %+v", excs)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`exc.toml:9:23: eql: expected an expression, found ")"`,
		`exc.toml:11:1: detect: exception: rule_id is missing (use "*" for every rule)`,
		`exc.toml:15:1: detect: exception: stage -1: want 1 or more`,
		`exc.toml:24:19: eql: expected an expression, found ")"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, errs := ParseExceptions("bad.toml", []byte("[[exception]\n")); len(errs) != 1 || errs[0].Line == 0 {
		t.Errorf("TOML error: %v", errs)
	}
}

func TestExceptionSuppresses(t *testing.T) {
	x, err := NewException("*", "", `process.name == "b"`, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := mk("a", "h", 1, 1), mk("b", "h", 2, 2)
	if !x.Suppresses([]*ecs.Event{a, b}) || x.Suppresses([]*ecs.Event{a, a}) {
		t.Error("any-event exception")
	}
	x1, err := NewException("*", "", `process.name == "b"`, 1)
	if err != nil {
		t.Fatal(err)
	}
	if x1.Suppresses([]*ecs.Event{a, b}) || !x1.Suppresses([]*ecs.Event{b, a}) {
		t.Error("stage = 1 exception")
	}
	x3, err := NewException("*", "", `process.name == "b"`, 3)
	if err != nil {
		t.Fatal(err)
	}
	if x3.Suppresses([]*ecs.Event{b, b}) {
		t.Error("stage beyond the match suppressed it")
	}
	if _, err := NewException("r", "", `process where true`, 0); err == nil {
		t.Error("a query was accepted as a condition")
	}
	if !x.appliesTo("anything") {
		t.Error(`"*" does not apply to every rule`)
	}
}
