package ecs

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, accepts only valid JSON,
// and that, when it succeeds, AppendJSON writes valid JSON and valid UTF-8 that decodes again to the
// same encoding: AppendJSON → Decode → AppendJSON is a fixed point.
// The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		var e Event
		if err := Decode(line, &e); err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(line) {
			t.Fatalf("Decode accepted invalid JSON: %q", line)
		}
		out := e.AppendJSON(nil)
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("AppendJSON wrote invalid JSON or UTF-8: %q", out)
		}
		var again Event
		if err := Decode(out, &again); err != nil {
			t.Fatalf("AppendJSON output does not decode: %v\n%q", err, out)
		}
		if out2 := again.AppendJSON(nil); !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%q\n%q", out, out2)
		}
	})
}
