package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// Workflow is what an alert says about the workflow a process ran.
type Workflow struct {
	Path     string // the .workflow bundle ("" when only a document was named)
	Document string // the document.wflow read
	Size     int64  // its size in bytes (HasFile)
	SHA256   string // the SHA-256 of its bytes, lower-case hex ("" when not hashed)
	HasFile  bool   // the document was opened and its size is known

	Actions      []Action // at most Limits.MaxActions
	ActionsCount int      // the number of actions in the document

	// Error says what went wrong, "" when nothing did. Actions read before
	// a malformed entry are kept.
	Error string
}

// Read reads and parses the document of t. It never fails: what goes
// wrong is in Workflow.Error.
func Read(t Target, lim Limits) Workflow {
	w := Workflow{Path: t.Bundle, Document: t.Document}
	if t.Err != "" {
		w.Error = t.Err
		return w
	}
	f, err := openDocument(t)
	if err != nil {
		w.Error = err.Error()
		return w
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		w.Error = fmt.Sprintf("workflow: %s: %v", t.Document, err)
		return w
	}
	if !fi.Mode().IsRegular() {
		w.Error = fmt.Sprintf("workflow: %s is not a regular file (%s)", t.Document, fi.Mode().Type())
		return w
	}
	if n := links(fi); n > 1 {
		w.Error = fmt.Sprintf("workflow: %s has %d hard links: not read", t.Document, n)
		return w
	}
	w.Size, w.HasFile = fi.Size(), true

	// Read up to the parse cap, hashing as we go; hash the rest of a larger
	// file up to the hash cap without keeping it.
	h := sha256.New()
	data, err := io.ReadAll(io.TeeReader(io.LimitReader(f, lim.MaxBytes+1), h))
	if err != nil {
		w.Error = fmt.Sprintf("workflow: %s: %v", t.Document, err)
		return w
	}
	over := int64(len(data)) > lim.MaxBytes
	if over {
		n, err := io.Copy(h, io.LimitReader(f, lim.MaxHashBytes-int64(len(data))+1))
		total := int64(len(data)) + n
		switch {
		case err != nil:
			w.Error = fmt.Sprintf("workflow: %s: %v", t.Document, err)
			return w
		case total > lim.MaxHashBytes:
			w.Error = fmt.Sprintf("workflow: %s is over %d bytes: neither hashed nor parsed", t.Document, lim.MaxHashBytes)
			return w
		}
		w.Size = total
		w.SHA256 = hex.EncodeToString(h.Sum(nil))
		w.Error = fmt.Sprintf("workflow: %s is %d bytes, over the %d-byte cap: not parsed", t.Document, total, lim.MaxBytes)
		return w
	}
	w.Size = int64(len(data)) // what was read, if the file changed since fstat
	w.SHA256 = hex.EncodeToString(h.Sum(nil))
	w.Actions, w.ActionsCount, err = Parse(data, lim)
	if err != nil {
		w.Error = err.Error()
	}
	return w
}

// openDocument opens t's document without following links out of the
// bundle: the bundle itself must be a real directory (not a symbolic
// link) and the document is opened through an os.Root on it, which
// follows a link only while it stays inside the bundle. A document named
// outside any bundle is opened with O_NOFOLLOW. O_NONBLOCK keeps a FIFO
// planted under the name from blocking the daemon. Read then refuses a
// document with more than one hard link: on macOS anyone may hard-link a
// file they cannot read (no protected_hardlinks), and the daemon reads as
// root.
func openDocument(t Target) (*os.File, error) {
	if t.Bundle == "" {
		f, err := os.OpenFile(t.Document, os.O_RDONLY|openFlags, 0)
		if err != nil {
			return nil, fmt.Errorf("workflow: %w", err)
		}
		return f, nil
	}
	fi, err := os.Lstat(t.Bundle)
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("workflow: %s is a symbolic link: not followed", t.Bundle)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("workflow: %s is not a bundle (a directory)", t.Bundle)
	}
	root, err := os.OpenRoot(t.Bundle)
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	defer root.Close()
	rel := path.Join("Contents", documentName)
	if t.Document != path.Join(t.Bundle, rel) {
		return nil, errors.New("workflow: document outside its bundle")
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("workflow: %s: %w", t.Document, err)
	}
	return f, nil
}
