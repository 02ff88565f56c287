package eql

import (
	"errors"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// FuzzParse parses arbitrary text, compiles what parses and runs the
// matchers and key functions on two events: nothing may panic, and every
// error must be an *Error.
func FuzzParse(f *testing.F) {
	f.Add(seedQuery)
	f.Add(`process where process.name : ("a*", "?b") and not x in~ ("c") | head 3`)
	events := []func() *ecs.Event{matchProcess, genericNetwork}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %T is not *Error: %v", err, err)
			}
			return
		}
		var queries []*EventQuery
		var keys [][]*Field
		if q.Event != nil {
			queries = append(queries, q.Event)
		} else {
			s := q.Sequence
			for i := range s.Stages {
				queries = append(queries, &s.Stages[i].Query)
				keys = append(keys, append(append([]*Field(nil), s.By...), s.Stages[i].By...))
			}
			if s.Until != nil {
				queries = append(queries, &s.Until.Query)
			}
		}
		for _, eq := range queries {
			m, err := Compile(eq)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Compile error %T is not *Error: %v", err, err)
				}
				continue
			}
			for _, ev := range events {
				m(ev())
			}
		}
		for _, fs := range keys {
			k, err := CompileKey(fs)
			if err != nil {
				continue
			}
			for _, ev := range events {
				k(nil, ev())
			}
		}
	})
}
