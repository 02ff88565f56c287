package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCollected(t *testing.T) {
	out := "==4242== Callgrind, a call-graph generating cache profiler\n==4242== \n==4242== Events    : Ir\n==4242== Collected : 521926167\n==4242== \n==4242== I   refs:      521,926,167\n"
	if n, err := collected([]byte(out)); err != nil || n != 521926167 {
		t.Fatalf("collected = %d, %v; want 521926167", n, err)
	}
	if _, err := collected([]byte("valgrind: no such tool\n")); err == nil {
		t.Fatal("no summary line: want an error")
	}
}

func TestPerUnit(t *testing.T) {
	if got := perUnit([2]uint64{1000, 21000}, 100); got != 200 {
		t.Fatalf("perUnit = %d, want 200", got)
	}
}

func TestFirstLines(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 10000) // longer than bufio's buffer
	src := filepath.Join(dir, "in")
	if err := os.WriteFile(src, []byte("a\n"+long+"\nc\nd"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{{1, "a\n"}, {2, "a\n" + long + "\n"}, {3, "a\n" + long + "\nc\n"}, {4, "a\n" + long + "\nc\nd"}} {
		dst := filepath.Join(dir, "out")
		if err := firstLines(src, dst, tc.n); err != nil {
			t.Fatalf("n=%d: %v", tc.n, err)
		}
		if got, _ := os.ReadFile(dst); string(got) != tc.want {
			t.Errorf("n=%d: got %d bytes %q…, want %d bytes", tc.n, len(got), got[:min(len(got), 20)], len(tc.want))
		}
	}
	if err := firstLines(src, filepath.Join(dir, "out"), 5); err == nil || !strings.Contains(err.Error(), "4 lines, 5 needed") {
		t.Fatalf("5 of 4 lines: err = %v", err)
	}
}
