package doctor

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleReport is a report with every kind of row, including values and
// reasons longer than a line.
func sampleReport() *Report {
	r := &Report{
		Tool: "macsensor doctor", Version: "0.1.0-test",
		Started:  time.Date(2026, 12, 3, 13, 47, 58, 0, time.UTC),
		Finished: time.Date(2026, 12, 3, 13, 47, 59, 0, time.UTC),
		System: System{GOOS: "darwin", GOARCH: "arm64", OSType: "macos", OSName: "macOS", OSVersion: "14.5",
			Kernel: "23.5.0", Architecture: "arm64", UID: 0, Root: true},
		Checks: []Result{
			{Name: "workdir", Status: Pass, Value: "/private/var/folders/xy/T/macsensor-doctor-1"},
			{Name: "host.identity", Status: Pass, Value: "host.id 4C4C4544-0042-3510-8052-B4C04F4A3732, macOS 14.5 (23.5.0), arm64, booted 2026-12-01T08:00:00Z"},
			{Name: "capture.open", Status: Fail, Reason: "cannot open packet capture on lo0: capture: open /dev/bpf0: resource busy",
				Next: "macOS: check that /dev/bpf0 ... exist and are readable by root (ls -l /dev/bpf*); send the bundle"},
			{Name: "capture.syn", Status: Skip, Reason: "needs capture.open, which did not pass"},
			{Name: "process.poll", Status: Fail, Value: "pid 812 \"automator\"",
				Reason: "process.executable \"/private/var/folders/xy/T/macsensor-doctor-1/bin/automator\", want \"/var/folders/xy/T/macsensor-doctor-1/bin/automator\"",
				Next:   nextBundle},
			{Name: "a.check.with.a.very.long.name.indeed", Status: Skip, Reason: "needs root: run it with sudo"},
		},
		Facts: Facts{DoctorPID: 800, Automator: &ProcessFact{Seen: true, PID: 812, PPID: 800, Name: "automator",
			Executable: "/private/var/folders/xy/T/macsensor-doctor-1/bin/automator",
			Args:       []string{"/private/var/folders/xy/T/macsensor-doctor-1/bin/automator", "doctor", "child", "hold", "nonce-1"}, Start: 1796305678123456000}},
	}
	r.summarize()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-update rewrites it):\ngot:\n%s\nwant:\n%s", p, got, want)
	}
}

func TestTableGoldenAndWidth(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if len(l) > TableWidth {
			t.Errorf("line %d is %d columns, more than %d: %q", i+1, len(l), TableWidth, l)
		}
	}
	golden(t, "table.golden", b.Bytes())
}

func TestReportJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary != (Summary{Passed: 2, Failed: 2, Skipped: 2, OK: false}) {
		t.Errorf("summary %+v", back.Summary)
	}
	golden(t, "report.golden.json", b.Bytes())
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"", 10, nil},
		{"one two three", 7, []string{"one two", "three"}},
		{"abcdefghijkl xy", 5, []string{"abcde", "fghij", "kl xy"}},
		{"a\nb c", 10, []string{"a", "b c"}},
	} {
		got := wrap(c.in, c.width)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}
