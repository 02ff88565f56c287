package logfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteBatchAppendsLines(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path}, defaultFS)
	if err := w.WriteBatch(lines(0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBatch(lines(3, 5)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 5))
	st := w.Stats()
	var bytesWant int64
	for _, l := range lines(0, 5) {
		bytesWant += int64(len(l) + 1)
	}
	if st.Lines != 5 || st.Bytes != bytesWant || st.Batches != 2 || st.Queued != 0 || st.LastError != "" {
		t.Fatalf("stats %+v", st)
	}
	if err := w.WriteBatch(lines(5, 6)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// One write(2) per line: the fault FS counts the calls.
func TestOneWritePerLine(t *testing.T) {
	fs := newFaultFS()
	w := mustOpen(t, Options{Path: tempLog(t)}, fs)
	defer w.Close()
	if err := w.WriteBatch(lines(0, 100)); err != nil {
		t.Fatal(err)
	}
	if fs.writes != 100 {
		t.Fatalf("%d write calls for 100 lines", fs.writes)
	}
}

func TestAppendsToExistingFile(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path}, defaultFS)
	w.WriteBatch(lines(0, 2))
	w.Close()
	w = mustOpen(t, Options{Path: path}, defaultFS)
	w.WriteBatch(lines(2, 4))
	w.Close()
	wantSeqs(t, readAll(t, path, 0), seqRange(0, 4))
	if st := w.Stats(); st.Repaired != 0 {
		t.Fatalf("repaired a clean file: %+v", st)
	}
}

func TestLineTooLongRefusedOthersWritten(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path, MaxLine: 100}, defaultFS)
	defer w.Close()
	long := bytes.Repeat([]byte{'a'}, 101)
	exact := append([]byte(`{"seq":1,"pad":"`), bytes.Repeat([]byte{'b'}, 100-len(`{"seq":1,"pad":"`)-2)...)
	exact = append(exact, '"', '}')
	if len(exact) != 100 {
		t.Fatalf("fixture length %d", len(exact))
	}
	err := w.WriteBatch([][]byte{line(0), long, exact, long, line(2)})
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	if !strings.Contains(err.Error(), "2 line(s) over 100 bytes") {
		t.Fatalf("err = %v", err)
	}
	got := readAll(t, path, 0)
	if len(got) != 3 || !bytes.Equal(got[0], line(0)) || !bytes.Equal(got[1], exact) || !bytes.Equal(got[2], line(2)) {
		t.Fatalf("file holds %q", got)
	}
	st := w.Stats()
	if st.TooLong != 2 || st.Lines != 3 || st.LastError != err.Error() {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvalidLinesRefused(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path}, defaultFS)
	defer w.Close()
	err := w.WriteBatch([][]byte{line(0), {}, []byte("{\"a\":1}\n{\"b\":2}"), line(1)})
	if !errors.Is(err, ErrInvalidLine) {
		t.Fatalf("err = %v", err)
	}
	wantSeqs(t, readAll(t, path, 0), []int{0, 1})
	if st := w.Stats(); st.Invalid != 2 || st.Lines != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOptionsValidated(t *testing.T) {
	dir := t.TempDir()
	for _, opt := range []Options{
		{},
		{Path: filepath.Join(dir, "a"), Mode: 0o666},
		{Path: filepath.Join(dir, "a"), Mode: os.ModeSetuid | 0o640},
		{Path: filepath.Join(dir, "a"), Keep: -1},
		{Path: filepath.Join(dir, "a"), MaxLine: -1},
		{Path: filepath.Join(dir, "a"), MaxLine: 1000, QueueBytes: 1000},
	} {
		if w, err := open(opt, defaultFS); err == nil {
			w.Close()
			t.Errorf("Open(%+v) accepted", opt)
		}
	}
}

// setUmask sets the process umask for the test and restores it after.
func setUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// Mode 0640 on create, after rotation and on an existing file, whatever
// the umask; a created directory is 0750.
func TestModeEnforced(t *testing.T) {
	for _, mask := range []int{0, 0o077} {
		setUmask(t, mask)
		dir := filepath.Join(t.TempDir(), "var", "log", "macsensor")
		path := filepath.Join(dir, "alerts.ndjson")
		w := mustOpen(t, Options{Path: path, MaxSize: 200, Keep: 3}, defaultFS)
		if got := perm(t, path); got != 0o640 {
			t.Fatalf("umask %#o: created %#o", mask, got)
		}
		for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
			if got := perm(t, d); got != 0o750 {
				t.Fatalf("umask %#o: directory %s is %#o", mask, d, got)
			}
		}
		if err := w.WriteBatch(lines(0, 20)); err != nil {
			t.Fatal(err)
		}
		if w.Stats().Rotations == 0 {
			t.Fatal("no rotation")
		}
		for _, name := range []string{path, path + ".1"} {
			if got := perm(t, name); got != 0o640 {
				t.Fatalf("umask %#o: %s is %#o after rotation", mask, name, got)
			}
		}
		w.Close()
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		w = mustOpen(t, Options{Path: path}, defaultFS)
		if got := perm(t, path); got != 0o640 {
			t.Fatalf("umask %#o: existing file left %#o", mask, got)
		}
		w.Close()
	}
}

// An existing parent directory keeps its mode.
func TestExistingDirectoryUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := mustOpen(t, Options{Path: filepath.Join(dir, "alerts.ndjson")}, defaultFS)
	w.Close()
	if got := perm(t, dir); got != 0o755 {
		t.Fatalf("directory changed to %#o", got)
	}
}

func TestUnsafePathsRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	symlink := filepath.Join(dir, "symlink.ndjson")
	if err := os.Symlink(target, symlink); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.ndjson")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "dir.ndjson")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.ndjson")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	hardlink := filepath.Join(dir, "hardlink.ndjson")
	if err := os.Link(target, hardlink); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, msg string }{
		{symlink, "is a symbolic link"},
		{dangling, "is a symbolic link"},
		{subdir, "is a directory"},
		{fifo, "is a special file"},
		{hardlink, "has 2 hard links"},
	} {
		w, err := open(Options{Path: tc.path}, defaultFS)
		if err == nil {
			w.Close()
			t.Fatalf("%s: opened", tc.path)
		}
		if !errors.Is(err, ErrUnsafeFile) || !strings.Contains(err.Error(), tc.msg) {
			t.Fatalf("%s: err = %v, want %q", tc.path, err, tc.msg)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("target changed: %q", b)
	}
	if got := perm(t, target); got != 0o600 {
		t.Fatalf("target mode changed to %#o", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !os.IsNotExist(err) {
		t.Fatalf("dangling symlink's target created: %v", err)
	}
}

// The O_NOFOLLOW open alone refuses a symlink: the race where one appears
// between the lstat check and the open.
func TestOpenNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	f, err := defaultFS.openAppend(link, 0o640)
	if err == nil {
		f.Close()
		t.Fatal("opened through a symlink")
	}
	if !isSymlinkErr(err) {
		t.Fatalf("err = %v, want ELOOP", err)
	}
}

// Fixture: two complete lines and a torn third (a crash mid-write).
func TestRepairAtOpen(t *testing.T) {
	fixture, err := os.ReadFile("testdata/torn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.LastIndexByte(fixture, '\n') + 1
	if cut == len(fixture) || cut == 0 {
		t.Fatal("fixture does not end in a torn line")
	}
	path := tempLog(t)
	if err := os.WriteFile(path, fixture, 0o640); err != nil {
		t.Fatal(err)
	}
	w := mustOpen(t, Options{Path: path}, defaultFS)
	st := w.Stats()
	if st.Repaired != 1 || st.RepairedBytes != int64(len(fixture)-cut) {
		t.Fatalf("stats %+v, want 1 line, %d bytes repaired", st, len(fixture)-cut)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Equal(b, fixture[:cut]) {
		t.Fatalf("after repair: %q", b)
	}
	if err := w.WriteBatch([][]byte{line(7)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ = os.ReadFile(path)
	want := append(append([]byte{}, fixture[:cut]...), line(7)...)
	want = append(want, '\n')
	if !bytes.Equal(b, want) {
		t.Fatalf("next line not on a clean line:\n%q\nwant\n%q", b, want)
	}
}

func TestRepairCases(t *testing.T) {
	for _, tc := range []struct {
		name, in, out string
		cut           int64
	}{
		{"empty", "", "", 0},
		{"clean", "a\nb\n", "a\nb\n", 0},
		{"only fragment", `{"seq":1,"p`, "", 11},
		{"zero fill after power loss", "a\n\x00\x00\x00\x00", "a\n", 4},
		{"blank last line kept", "a\n\n", "a\n\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempLog(t)
			os.WriteFile(path, []byte(tc.in), 0o640)
			w := mustOpen(t, Options{Path: path}, defaultFS)
			w.Close()
			b, _ := os.ReadFile(path)
			if string(b) != tc.out {
				t.Fatalf("got %q, want %q", b, tc.out)
			}
			wantRepaired := int64(0)
			if tc.cut > 0 {
				wantRepaired = 1
			}
			if st := w.Stats(); st.Repaired != wantRepaired || st.RepairedBytes != tc.cut {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A tail without '\n' longer than any line this package writes is not
// ours: refused, not cut.
func TestRepairRefusesForeignTail(t *testing.T) {
	path := tempLog(t)
	data := append([]byte("a\n"), bytes.Repeat([]byte{'z'}, repairWindow+1)...)
	os.WriteFile(path, data, 0o640)
	w, err := open(Options{Path: path}, defaultFS)
	if err == nil {
		w.Close()
		t.Fatal("opened")
	}
	if !errors.Is(err, ErrUnsafeFile) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
		t.Fatal("file changed")
	}
}

func TestReopenAfterExternalRotation(t *testing.T) {
	path := tempLog(t)
	w := mustOpen(t, Options{Path: path}, defaultFS)
	defer w.Close()
	w.WriteBatch(lines(0, 3))
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	w.WriteBatch(lines(3, 4)) // still the renamed file: no Reopen yet
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.WriteBatch(lines(4, 6))
	wantSeqs(t, readAll(t, path+".old", 0), seqRange(0, 4))
	wantSeqs(t, readAll(t, path, 0), seqRange(4, 6))
	if got := perm(t, path); got != 0o640 {
		t.Fatalf("reopened file %#o", got)
	}
}
