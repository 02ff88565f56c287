//go:build unix

package workflow

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadHostileFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, buildDocument(shellAction), 0o600); err != nil {
		t.Fatal(err)
	}
	// A bundle that is a symbolic link to another bundle.
	real := writeBundle(t, dir, "real", buildDocument(shellAction))
	if err := os.Symlink(real, filepath.Join(dir, "link.workflow")); err != nil {
		t.Fatal(err)
	}
	// A document that is a symbolic link out of the bundle.
	docLink := filepath.Join(dir, "doclink.workflow")
	os.MkdirAll(filepath.Join(docLink, "Contents"), 0o755)
	if err := os.Symlink(secret, filepath.Join(docLink, "Contents", documentName)); err != nil {
		t.Fatal(err)
	}
	// A document that is a symbolic link to a file inside the bundle:
	// os.Root follows it, inside the bundle (checked below).
	inLink := writeBundle(t, dir, "inlink", buildDocument(shellAction))
	os.Rename(filepath.Join(inLink, "Contents", documentName), filepath.Join(inLink, "Contents", "other"))
	if err := os.Symlink("other", filepath.Join(inLink, "Contents", documentName)); err != nil {
		t.Fatal(err)
	}
	// A Contents folder that is a symbolic link out of the bundle.
	contLink := filepath.Join(dir, "contlink.workflow")
	os.MkdirAll(contLink, 0o755)
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, documentName), buildDocument(shellAction), 0o600)
	if err := os.Symlink(outside, filepath.Join(contLink, "Contents")); err != nil {
		t.Fatal(err)
	}
	// A FIFO in place of the document: must not block.
	fifo := filepath.Join(dir, "fifo.workflow")
	os.MkdirAll(filepath.Join(fifo, "Contents"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(fifo, "Contents", documentName), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory in place of the document; a bundle that is a file.
	dirDoc := filepath.Join(dir, "dirdoc.workflow")
	os.MkdirAll(filepath.Join(dirDoc, "Contents", documentName), 0o755)
	fileBundle := filepath.Join(dir, "file.workflow")
	os.WriteFile(fileBundle, nil, 0o644)
	// A document hard-linked to a file elsewhere (macOS lets anyone link
	// to a file they cannot read).
	hard := filepath.Join(dir, "hard.workflow")
	os.MkdirAll(filepath.Join(hard, "Contents"), 0o755)
	if err := os.Link(secret, filepath.Join(hard, "Contents", documentName)); err != nil {
		t.Fatal(err)
	}
	// A bare document that is a symbolic link.
	bare := filepath.Join(dir, "bare")
	os.MkdirAll(bare, 0o755)
	os.Symlink(secret, filepath.Join(bare, documentName))

	cases := []struct {
		bundle, doc string
		want        string // in Error
	}{
		{filepath.Join(dir, "link.workflow"), "", "is a symbolic link: not followed"},
		{docLink, "", "path escapes from parent"},
		{hard, "", "has 2 hard links"},
		{contLink, "", "path escapes from parent"},
		{fifo, "", "is not a regular file"},
		{dirDoc, "", "is not a regular file"},
		{fileBundle, "", "is not a bundle"},
		{filepath.Join(dir, "missing.workflow"), "", "no such file or directory"},
		{"", filepath.Join(bare, documentName), "too many levels of symbolic links"},
	}
	for _, c := range cases {
		tg := Target{Bundle: c.bundle, Document: c.doc}
		if c.doc == "" {
			tg.Document = filepath.Join(c.bundle, "Contents", documentName)
		}
		w := Read(tg, DefaultLimits)
		if !strings.Contains(w.Error, c.want) || len(w.Actions) != 0 || w.SHA256 != "" {
			t.Errorf("Read(%s) = error %q, %d actions, hash %q; want an error with %q and nothing read",
				tg.Document, w.Error, len(w.Actions), w.SHA256, c.want)
		}
		if !bytes.Contains(w.AppendJSON(nil), []byte(`"error":`)) {
			t.Errorf("Read(%s): no error in the JSON", tg.Document)
		}
	}

	w := Read(Target{Bundle: inLink, Document: filepath.Join(inLink, "Contents", documentName)}, DefaultLimits)
	if w.Error != "" || w.ActionsCount != 1 {
		t.Errorf("Read(link inside the bundle) = %d actions, error %q; want 1, none", w.ActionsCount, w.Error)
	}
}
