package host

import (
	"os"
	"strings"
	"testing"
)

func TestReadLinux(t *testing.T) {
	info, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("/etc/machine-id"); err != nil {
		t.Logf("machine-id not compared: %v", err)
	} else if want := strings.TrimSpace(string(b)); info.ID != want {
		t.Errorf("ID = %q, want /etc/machine-id %q", info.ID, want)
	}
	if len(info.ID) != 32 {
		t.Errorf("ID = %q, want 32 hex digits", info.ID)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if info.Hostname != hostname || info.Name != hostname {
		t.Errorf("Hostname, Name = %q, %q; want %q", info.Hostname, info.Name, hostname)
	}
	if info.Architecture != "x86_64" && info.Architecture != "arm64" {
		t.Errorf("Architecture = %q", info.Architecture)
	}
	if info.OS.Type != "linux" || info.OS.Kernel == "" || info.OS.Name == "" || info.OS.Platform == "" || info.OS.Family == "" {
		t.Errorf("OS = %+v", info.OS)
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if want := parseOSRelease(b); info.OS.Name != want.Name || info.OS.Version != want.Version {
			t.Errorf("OS = %+v, want the fields of /etc/os-release %+v", info.OS, want)
		}
	}
}
