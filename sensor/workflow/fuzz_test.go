package workflow

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse: it must not panic, must keep
// within its limits, and must keep script sources valid UTF-8 prefixes.
func FuzzParse(f *testing.F) {
	f.Add(buildDocument(shellAction))
	f.Add(buildDocument(appleScriptAction, jxaAction, copyAction))
	f.Add(buildDocument(testAction{bundleID: "com.apple.RunShellScript", name: "x", params: [][2]string{{"COMMAND_STRING", "é"}}, old: true}))
	f.Add([]byte(`<plist><dict><key>actions</key><array><dict><key>action</key><string/></dict></array></dict></plist>`))
	f.Add([]byte("bplist00"))
	f.Add(binaryDocument(f, buildDocument(shellAction, jxaAction)))
	f.Add([]byte(`<plist>` + strings.Repeat("<array>", 40)))
	lim := DefaultLimits
	lim.MaxActions, lim.MaxSource, lim.MaxSourceTotal = 3, 7, 10
	f.Fuzz(func(t *testing.T, data []byte) {
		actions, count, _ := Parse(data, lim)
		if len(actions) > lim.MaxActions || len(actions) > count {
			t.Fatalf("%d actions listed of %d, cap %d", len(actions), count, lim.MaxActions)
		}
		total := 0
		for _, a := range actions {
			if s := a.Script; s != nil {
				if len(s.Source) > lim.MaxSource || !utf8.ValidString(s.Source) && utf8.ValidString(s.Source+"x") {
					t.Fatalf("source %q over the cap or cut inside a rune", s.Source)
				}
				if s.Truncated != (len(s.Source) < s.Length) {
					t.Fatalf("truncated %v, %d of %d bytes", s.Truncated, len(s.Source), s.Length)
				}
				total += len(s.Source)
			}
		}
		if total > lim.MaxSourceTotal {
			t.Fatalf("%d bytes of source, budget %d", total, lim.MaxSourceTotal)
		}
		w := Workflow{Actions: actions, ActionsCount: count}
		if out := w.AppendJSON(nil); !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 in %q", out)
		}
	})
}
