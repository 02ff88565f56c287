//go:build unix

package rootfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the owner of the files an attacker plants.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the checks refuse files not owned by uid 0 and the test chowns files to another user")
	}
}

// write creates path with data, mode perm and owner uid.
func write(t *testing.T, path, data string, perm os.FileMode, uid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask-proof
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

func rootDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func wantUnsafe(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), what) {
		t.Errorf("err = %v, want an ErrUnsafe refusal saying %q", err, what)
	}
}

func TestReadRefusals(t *testing.T) {
	needRoot(t)
	d := rootDir(t)
	good := filepath.Join(d, "good.toml")
	write(t, good, "good", 0o644, 0)
	if b, err := Read(good, Options{}); err != nil || string(b) != "good" {
		t.Fatalf("root's file: %q, %v", b, err)
	}

	other := filepath.Join(d, "other.toml")
	write(t, other, "evil", 0o644, nobody)
	_, err := Read(other, Options{})
	wantUnsafe(t, err, "owned by uid 65534, not root")
	if b, err := Read(other, Options{AnyOwner: true}); err != nil || string(b) != "evil" {
		t.Errorf("AnyOwner: %q, %v", b, err)
	}

	gw := filepath.Join(d, "gw.toml")
	write(t, gw, "x", 0o664, 0)
	_, err = Read(gw, Options{})
	wantUnsafe(t, err, "writable by group or others (mode 0664")

	link := filepath.Join(d, "link.toml")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	_, err = Read(link, Options{})
	wantUnsafe(t, err, "is a symbolic link")

	fifo := filepath.Join(d, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Read(fifo, Options{}) // O_NONBLOCK: refused, not blocked
	wantUnsafe(t, err, "not a regular file")

	_, err = Read(d, Options{})
	wantUnsafe(t, err, "not a regular file")

	if _, err := Read(filepath.Join(d, "absent.toml"), Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent: %v, want fs.ErrNotExist", err)
	}

	big := filepath.Join(d, "big.toml")
	write(t, big, strings.Repeat("x", 101), 0o644, 0)
	if _, err := Read(big, Options{MaxSize: 100}); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("over MaxSize: %v", err)
	}
	if b, err := Read(big, Options{MaxSize: 101}); err != nil || len(b) != 101 {
		t.Errorf("at MaxSize: %d bytes, %v", len(b), err)
	}
}

// The attack a check-then-read loses to: the path passes the check, then
// an attacker renames their own file over it before the read. Read reads
// the descriptor it checked, so it returns what root wrote, and the next
// Read (which opens the path again) refuses the attacker's file.
func TestSwapBetweenCheckAndRead(t *testing.T) {
	needRoot(t)
	d := rootDir(t)
	path := filepath.Join(d, "macsensor.toml")
	write(t, path, "root's settings", 0o644, 0)
	planted := filepath.Join(d, "planted")
	write(t, planted, "attacker's settings", 0o644, nobody)

	swapped := 0
	testHookChecked = func(p string) {
		if p != path || swapped > 0 {
			return
		}
		swapped++
		if err := os.Rename(planted, path); err != nil {
			t.Errorf("swap: %v", err)
		}
	}
	defer func() { testHookChecked = nil }()

	b, err := Read(path, Options{})
	if swapped != 1 {
		t.Fatalf("the hook swapped %d times", swapped)
	}
	if err != nil || string(b) != "root's settings" {
		t.Fatalf("read %q, %v; want the checked file's contents", b, err)
	}
	// The path now names the attacker's file: refused.
	_, err = Read(path, Options{})
	wantUnsafe(t, err, "owned by uid 65534, not root")

	// Swapped for a symbolic link to a root-owned file the attacker
	// chose: refused by O_NOFOLLOW.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(d, "shadow")
	write(t, target, "not a configuration", 0o600, 0)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	_, err = Read(path, Options{})
	wantUnsafe(t, err, "is a symbolic link")
}

func TestReadPathFolder(t *testing.T) {
	needRoot(t)
	d := rootDir(t)
	write(t, filepath.Join(d, "a.toml"), "a", 0o644, 0)
	write(t, filepath.Join(d, "c.toml"), "c", 0o600, 0)
	write(t, filepath.Join(d, "b.toml"), "b", 0o644, nobody)
	write(t, filepath.Join(d, "notes.txt"), "n", 0o644, 0)
	if err := os.Symlink(filepath.Join(d, "a.toml"), filepath.Join(d, "d.toml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "sub.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := ReadPath(d, ".toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		s := filepath.Base(f.Path) + "="
		if f.Err != nil {
			if !errors.Is(f.Err, ErrUnsafe) {
				t.Errorf("%s: %v does not wrap ErrUnsafe", f.Path, f.Err)
			}
			s += "refused"
		} else {
			s += string(f.Data)
		}
		got = append(got, s)
	}
	if want := "a.toml=a b.toml=refused c.toml=c d.toml=refused"; strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
	if files[1].Err == nil || !strings.Contains(files[1].Err.Error(), "owned by uid 65534") ||
		files[3].Err == nil || !strings.Contains(files[3].Err.Error(), "is a symbolic link") {
		t.Errorf("errors: %v / %v", files[1].Err, files[3].Err)
	}

	// A single file through ReadPath.
	one, err := ReadPath(filepath.Join(d, "a.toml"), ".toml", Options{})
	if err != nil || len(one) != 1 || string(one[0].Data) != "a" {
		t.Errorf("file path: %+v, %v", one, err)
	}

	// The folder itself is checked.
	if err := os.Chmod(d, 0o775); err != nil {
		t.Fatal(err)
	}
	_, err = ReadPath(d, ".toml", Options{})
	wantUnsafe(t, err, "writable by group or others (mode 0775")
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, nobody, -1); err != nil {
		t.Fatal(err)
	}
	_, err = ReadPath(d, ".toml", Options{})
	wantUnsafe(t, err, "owned by uid 65534")
	if err := os.Chown(d, 0, -1); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(d), "rules-link")
	if err := os.Symlink(d, link); err != nil {
		t.Fatal(err)
	}
	_, err = ReadPath(link, ".toml", Options{})
	wantUnsafe(t, err, "is a symbolic link")
}

// The rules folder is swapped for the attacker's after it was opened and
// checked: the remaining entries are still read from the checked folder.
func TestFolderSwappedAfterCheck(t *testing.T) {
	needRoot(t)
	d := rootDir(t)
	write(t, filepath.Join(d, "a.toml"), "root a", 0o644, 0)
	write(t, filepath.Join(d, "b.toml"), "root b", 0o644, 0)
	evil := filepath.Join(filepath.Dir(d), "evil")
	if err := os.Mkdir(evil, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(evil, "a.toml"), "evil a", 0o644, 0)
	write(t, filepath.Join(evil, "b.toml"), "evil b", 0o644, 0)
	moved := filepath.Join(filepath.Dir(d), "moved")
	testHookChecked = func(p string) {
		if filepath.Base(p) != "a.toml" {
			return
		}
		if err := os.Rename(d, moved); err != nil {
			t.Errorf("swap: %v", err)
		}
		if err := os.Symlink(evil, d); err != nil {
			t.Errorf("swap: %v", err)
		}
	}
	defer func() { testHookChecked = nil }()
	files, err := ReadPath(d, ".toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || string(files[0].Data) != "root a" || string(files[1].Data) != "root b" {
		t.Errorf("read %+v, want root's two files", files)
	}
	testHookChecked = nil
	_, err = ReadPath(d, ".toml", Options{})
	wantUnsafe(t, err, "is a symbolic link")
}
