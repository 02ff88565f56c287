package workflow

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>.golden.json, rewriting it under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden.json")
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", file, got, want)
	}
}

// readJSON reads the bundle and returns its JSON with dir replaced by $DIR.
func readJSON(t *testing.T, dir, bundle string, lim Limits) []byte {
	t.Helper()
	tg, ok := Locate([]string{"automator", bundle}, "/usr/bin/automator", "")
	if !ok {
		t.Fatalf("Locate(%q) found nothing", bundle)
	}
	w := Read(tg, lim)
	return bytes.ReplaceAll(w.AppendJSON(nil), []byte(dir), []byte("$DIR"))
}

func TestReadGolden(t *testing.T) {
	deep := `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>actions</key>` +
		strings.Repeat("<array>", 200) + strings.Repeat("</array>", 200) + `</dict></plist>`
	broken := buildDocument(shellAction)
	broken = broken[:len(broken)/2]
	tiny := DefaultLimits
	tiny.MaxActions, tiny.MaxSource, tiny.MaxSourceTotal = 2, 10, 15
	small := DefaultLimits
	small.MaxBytes = 512
	cases := []struct {
		name string
		doc  []byte
		lim  Limits
	}{
		{"shell", buildDocument(shellAction), DefaultLimits},
		{"applescript", buildDocument(copyAction, appleScriptAction), DefaultLimits},
		{"jxa", buildDocument(jxaAction), DefaultLimits},
		{"old-keys", buildDocument(testAction{bundleID: shellAction.bundleID, name: shellAction.name, params: shellAction.params, old: true}), DefaultLimits},
		{"truncated", buildDocument(shellAction, appleScriptAction, jxaAction, copyAction), tiny},
		{"broken", broken, DefaultLimits},
		{"oversize", buildDocument(shellAction), small},
		{"deep", []byte(deep), DefaultLimits},
		{"binary", []byte("bplist00\xd1\x01\x02Q"), DefaultLimits},
		{"binary-shell", binaryDocument(t, buildDocument(shellAction)), DefaultLimits},
		{"not-plist", []byte("#!/bin/sh\nid\n"), DefaultLimits},
		{"top-array", []byte(`<?xml version="1.0"?><plist version="1.0"><array/></plist>`), DefaultLimits},
		{"actions-string", []byte(`<plist version="1.0"><dict><key>actions</key><string>x</string></dict></plist>`), DefaultLimits},
		{"no-actions", []byte(`<plist version="1.0"><dict/></plist>`), DefaultLimits},
		{"bad-entry", bytes.Replace(buildDocument(shellAction, jxaAction), []byte("<array>\n\t\t<dict>"), []byte("<array>\n\t\t<string>odd</string>\n\t\t<dict>"), 1), DefaultLimits},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b := writeBundle(t, dir, c.name, c.doc)
			golden(t, c.name, readJSON(t, dir, b, c.lim))
		})
	}
}

func TestReadCounts(t *testing.T) {
	dir := t.TempDir()
	b := writeBundle(t, dir, "four", buildDocument(shellAction, appleScriptAction, jxaAction, copyAction))
	w := Read(Target{Bundle: b, Document: filepath.Join(b, "Contents", documentName)}, DefaultLimits)
	if w.Error != "" || w.ActionsCount != 4 || len(w.Actions) != 4 {
		t.Fatalf("Read = %d of %d actions, error %q; want 4 of 4", len(w.Actions), w.ActionsCount, w.Error)
	}
	langs := []string{"shell", "applescript", "javascript", ""}
	for i, a := range w.Actions {
		got := ""
		if a.Script != nil {
			got = a.Script.Language
		}
		if got != langs[i] {
			t.Errorf("action %d (%s): language %q, want %q", i, a.BundleID, got, langs[i])
		}
	}
	if s := w.Actions[0].Script; s.Source != shellAction.params[0][1] || s.Interpreter != "/bin/zsh" || s.Truncated {
		t.Errorf("shell script = %+v", s)
	}
}
