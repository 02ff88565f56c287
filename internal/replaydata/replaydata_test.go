package replaydata

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteHosts pins the generated file: docs/PERFORMANCE.md compares
// runs over these files across many commits, which holds only while the
// bytes stay the same.
func TestWriteHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	pairs, err := WriteHosts(path, 100_002, 3)
	if err != nil {
		t.Fatal(err)
	}
	if pairs != 1 {
		t.Errorf("pairs = %d, want 1", pairs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 100_002 {
		t.Fatalf("%d lines, want 100,002", len(lines))
	}
	// Events 50,000 and 50,001: the automator and its runner, on host
	// (50,000/2) mod 3 = 1 (mac-02).
	for i, want := range map[int]string{50000: `"name":"automator"`, 50001: `"name":"com.apple.automator.runner"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `"name":"mac-02"`) {
			t.Errorf("line %d: %s, want %s on mac-02", i+1, lines[i], want)
		}
	}
	sum := sha256.Sum256(data)
	if got, want := hex.EncodeToString(sum[:]), "a55fb6462bdf7dca645402c8bc8b73128f7a5957127263fc4573277ceaed0230"; got != want {
		t.Errorf("sha256 = %s, want %s: the generated events changed", got, want)
	}
}
