package doctor

import (
	"os"
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// TestJudgeCodesign runs the codesign check's logic on Linux with real
// binaries: Go's linker output for darwin/arm64 (ad-hoc signed, the state
// of a development build) and gofmt from Go's darwin toolchain (Developer ID
// Google LLC: trusted, but not Apple's own software, so it must not pass
// as /bin/ls).
func TestJudgeCodesign(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// This test binary is not a Mach-O: on Linux that is a pass.
	if v, err := judgeCodesign("linux", self, "/bin/ls"); err != nil || !strings.Contains(v, "not a Mach-O") {
		t.Errorf("linux, ELF self: %q %v", v, err)
	}
	adhoc := fixture.BuildGo(t, "arm64", "macsensor")
	// A Mach-O where the host runs ELF: the reader must not call it a
	// foreign format.
	if _, err := judgeCodesign("linux", adhoc, "/bin/ls"); err == nil {
		t.Error("linux, Mach-O self: passed")
	}
	// macOS, an unsigned self (darwin/amd64 linker output) fails.
	unsigned := fixture.BuildGo(t, "amd64", "macsensor")
	if v, err := judgeCodesign("darwin", unsigned, adhoc); err == nil {
		t.Errorf("darwin, unsigned self: passed (%s)", v)
	}
	gofmt := fixture.Gofmt(t)
	v, err := judgeCodesign("darwin", adhoc, gofmt)
	if err == nil || !strings.Contains(v, "self: ad-hoc signed") || !strings.Contains(err.Error(), "not read as Apple-signed") {
		t.Errorf("darwin, ad-hoc self, Developer ID ls: %q %v", v, err)
	}
	if !strings.Contains(v, "trusted (developer_id") {
		t.Errorf("value %q does not describe gofmt's Developer ID signature", v)
	}
}
