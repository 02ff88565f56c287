package ecs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
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

// FuzzDecodeWarm checks that what a decoder carries from one line to the
// next (member predictions, shapes, a Reader's shared memory) never
// changes a result: line b decoded after line a, over rounds in which the
// decoder learns the shapes of both (and so decodes b by a's shape, by
// b's, and by switching from one to the other), gives exactly what a fresh
// decoder gives, error included. The seed corpus is in
// testdata/fuzz/FuzzDecodeWarm.
func FuzzDecodeWarm(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b []byte) {
		a, b = bytes.Clone(a), bytes.Clone(b) // decode keeps them; the fuzzer reuses its buffers
		fresh := decoder{shared: true}
		var want Event
		wantErr := fresh.decodeGeneral(b, &want)

		warm := decoder{shared: true}
		for round := range 3 {
			var ea, got Event
			warm.learnGap, warm.misses = 0, 0 // learn every shape
			warm.decode(a, &ea)
			warm.learnGap, warm.misses = 0, 0
			err := warm.decode(b, &got)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("round %d: error %v, fresh decoder: %v", round, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: after %q:\n%s\nfresh decoder:\n%s", round, a, got.AppendJSON(nil), want.AppendJSON(nil))
			}
		}
	})
}
