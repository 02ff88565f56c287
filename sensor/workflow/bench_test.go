package workflow

import (
	"path/filepath"
	"testing"
)

// BenchmarkRead is the cost an alert pays for its workflow: open, hash,
// depth scan, plist decode and extraction of a four-action document.
func BenchmarkRead(b *testing.B) {
	doc := buildDocument(shellAction, appleScriptAction, jxaAction, copyAction)
	dir := b.TempDir()
	bundle := writeBundle(b, dir, "bench", doc)
	t := Target{Bundle: bundle, Document: filepath.Join(bundle, "Contents", documentName)}
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	var buf []byte
	for b.Loop() {
		w := Read(t, DefaultLimits)
		if w.Error != "" || w.ActionsCount != 4 {
			b.Fatal(w.Error)
		}
		buf = w.AppendJSON(buf[:0])
	}
}
