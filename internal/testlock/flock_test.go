//go:build linux || darwin

package testlock

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// held reports whether another open file description holds path's lock.
func held(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

func TestAcquireRelease(t *testing.T) {
	name := fmt.Sprintf("macsensor-testlock-%d", os.Getpid())
	path := Path(name)
	t.Cleanup(func() { os.Remove(path) })
	release, err := Acquire(name)
	if err != nil {
		t.Fatal(err)
	}
	if !held(t, path) {
		t.Fatal("lock not held after Acquire")
	}
	// A second acquirer waits for the first to release.
	got := make(chan func(), 1)
	go func() {
		r, err := Acquire(name)
		if err != nil {
			t.Error(err)
			r = func() {}
		}
		got <- r
	}()
	release()
	(<-got)()
	if held(t, path) {
		t.Fatal("lock held after both released")
	}
}

func TestHold(t *testing.T) {
	name := fmt.Sprintf("macsensor-testlock-hold-%d", os.Getpid())
	path := Path(name)
	t.Cleanup(func() { os.Remove(path) })
	t.Run("sub", func(t *testing.T) {
		Hold(t, name)
		if !held(t, path) {
			t.Fatal("lock not held inside the test")
		}
	})
	if held(t, path) {
		t.Fatal("lock held after the test ended")
	}
}

func TestAcquireRefusesSymlink(t *testing.T) {
	name := fmt.Sprintf("macsensor-testlock-link-%d", os.Getpid())
	path := Path(name)
	target := t.TempDir() + "/target"
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if _, err := Acquire(name); err == nil {
		t.Fatal("Acquire followed a symlink")
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("symlink target created: %v", err)
	}
}
