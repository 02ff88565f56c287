package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate fails when sensor/ecs/fields_gen.go is not what the
// generator writes from the current declaration: run `go generate
// ./sensor/ecs` and commit the result.
func TestGeneratedUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..")
	want, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, Output))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./sensor/ecs", Output)
	}
}

// TestRejects checks the declarations the generator refuses, each with the
// reason in its error.
func TestRejects(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"type Event struct { A string `ecs:\"a\"`; B string `ecs:\"a\"` }", "declared twice"},
		{"type Event struct { A string `ecs:\"a\"`; B string `ecs:\"a.b\"` }", "both a field and a prefix"},
		{"type Event struct { A float64 `ecs:\"a\"` }", "not a struct of the package"},
		{"type Event struct { A []int `ecs:\"a\"` }", "only slice type"},
		{"type Event struct { A string `ecs:\"a,time\"` }", "time needs int64"},
		{"type Event struct { A string `ecs:\"a,has=A\"` }", "without a presence bit"},
		{"type Event struct { A int64 `ecs:\"a,bogus\"` }", "unknown ecs tag option"},
		{"type Event struct { A, B string `ecs:\"a\"` }", "exactly one field name"},
		{"type Event struct { A string `ecs:\"a..b\"` }", "bad ecs path segment"},
		{"type Event struct { A int64 `ecs:\"a,has=X\"`; B bool `ecs:\"b,has=X\"` }", "presence bit HasX twice"},
		{"type Event struct { E E `ecs:\"e\"` }; type E struct { E2 Event `ecs:\"x\"` }", "holds itself"},
		{"type Event struct { A string }", ""}, // untagged: no typed field, no error
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "event.go"), []byte("package ecs\n"+c.src+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := generate(dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.src, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.src, err, c.want)
		}
	}
}
