package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormatUUID(t *testing.T) {
	tests := []struct {
		in   [16]byte
		want string
	}{
		{
			// The host.id of an Elastic Agent sample document
			// (elastic/integrations, logstash package README).
			[16]byte{0xaa, 0x42, 0x15, 0xf6, 0x99, 0x4f, 0x5c, 0xce, 0xb6, 0xf2, 0xb6, 0xae, 0xd7, 0x5a, 0xe1, 0x25},
			"AA4215F6-994F-5CCE-B6F2-B6AED75AE125",
		},
		{[16]byte{}, "00000000-0000-0000-0000-000000000000"},
		{
			[16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10},
			"01234567-89AB-CDEF-FEDC-BA9876543210",
		},
	}
	for _, tt := range tests {
		if got := formatUUID(tt.in); got != tt.want {
			t.Errorf("formatUUID(% x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMachineID(t *testing.T) {
	tests := map[string]string{ // file → id, "" for an error
		"systemd.txt":          "b08dfa6083e7567a1921a715000001fb",
		"no_newline_upper.txt": "3D1219C7C4C5404AAA1F6D2A48ADFDA4",
		"uninitialized.txt":    "",
		"short.txt":            "",
		"not_hex.txt":          "",
		"zero.txt":             "",
		"empty.txt":            "",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "machine-id", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%d fixtures, %d expectations", len(files), len(tests))
	}
	for _, file := range files {
		want, ok := tests[filepath.Base(file)]
		if !ok {
			t.Errorf("no expectation for %s", file)
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseMachineID(b)
		if want == "" {
			if err == nil || !strings.HasPrefix(err.Error(), "host: machine-id") {
				t.Errorf("%s: got %q, %v; want a host: machine-id error", file, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := map[string]OS{
		"debian12.txt": {Type: "linux", Name: "Debian GNU/Linux", Version: "12", Family: "debian", Platform: "debian",
			Full: "Debian GNU/Linux 12 (bookworm)"},
		"ubuntu2204.txt": {Type: "linux", Name: "Ubuntu", Version: "22.04", Family: "debian", Platform: "ubuntu",
			Full: "Ubuntu 22.04.4 LTS"},
		"rocky9.txt": {Type: "linux", Name: "Rocky Linux", Version: "9.3", Family: "redhat", Platform: "rocky",
			Full: "Rocky Linux 9.3 (Blue Onyx)"},
		"amzn2023.txt": {Type: "linux", Name: "Amazon Linux", Version: "2023", Family: "redhat", Platform: "amzn",
			Full: "Amazon Linux 2023.4.20240401"},
		"alpine319.txt": {Type: "linux", Name: "Alpine Linux", Version: "3.19.1", Family: "alpine", Platform: "alpine",
			Full: "Alpine Linux v3.19"},
		"arch.txt": {Type: "linux", Name: "Arch Linux", Family: "arch", Platform: "arch", Full: "Arch Linux"},
		// Comments, single quotes, escapes in double quotes, padding,
		// junk lines; an unknown ID_LIKE names the family.
		"quoting.txt": {Type: "linux", Name: "Odd Linux", Version: "1.0", Family: "nomad", Platform: "odd",
			Full: "Odd Linux 1.0 \"Quoted\" $HOME `tick` back\\slash"},
		// os-release(5) defaults.
		"empty.txt": {Type: "linux", Name: "Linux", Family: "linux", Platform: "linux", Full: "Linux"},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "os-release", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%d fixtures, %d expectations", len(files), len(tests))
	}
	for _, file := range files {
		want, ok := tests[filepath.Base(file)]
		if !ok {
			t.Errorf("no expectation for %s", file)
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseOSRelease(b); got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", file, got, want)
		}
	}
}

func TestOSReleaseFields(t *testing.T) {
	f := osReleaseFields([]byte("A=1\nB=\"two words\"\nC='x \"y\"'\nD=\"a\\\\b\\\"c\"\nE=\"\\n stays\"\n#F=6\nG\nH=\n"))
	want := map[string]string{"A": "1", "B": "two words", "C": `x "y"`, "D": `a\b"c`, "E": `\n stays`, "H": ""}
	if len(f) != len(want) {
		t.Errorf("fields = %q, want %q", f, want)
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
}

func TestDarwinOS(t *testing.T) {
	got := darwinOS("14.5", "23.5.0")
	want := OS{Type: "macos", Name: "macOS", Version: "14.5", Kernel: "23.5.0", Family: "darwin", Platform: "darwin",
		Full: "macOS 14.5"}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestArchitecture(t *testing.T) {
	tests := []struct {
		machine    string
		translated bool
		want       string
	}{
		{"arm64", false, "arm64"},   // macOS hw.machine on Apple silicon
		{"x86_64", false, "x86_64"}, // Intel Mac, Linux x86_64
		{"x86_64", true, "arm64"},   // an x86_64 binary under Rosetta
		{"aarch64", false, "arm64"}, // Linux uname -m
		{"amd64", false, "x86_64"},
		{"riscv64", false, "riscv64"},
	}
	for _, tt := range tests {
		if got := architecture(tt.machine, tt.translated); got != tt.want {
			t.Errorf("architecture(%q, %v) = %q, want %q", tt.machine, tt.translated, got, tt.want)
		}
	}
}
