package launchd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"howett.net/plist"
)

var update = flag.Bool("update", false, "rewrite golden files and generated fixtures in testdata/")

func TestRenderGolden(t *testing.T) {
	job, err := DaemonJob(DefaultLabel, DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(job)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", DefaultLabel+".plist.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./launchd -run TestRenderGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered plist differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
	// Rendering twice gives the same bytes (no map-order or time input).
	again, _ := Render(job)
	if !bytes.Equal(got, again) {
		t.Error("two renderings differ")
	}
}

func TestRenderParsesBack(t *testing.T) {
	for _, tc := range []struct{ label, prefix string }{
		{DefaultLabel, DefaultPrefix},
		{"org.example.sensor-test_1", "/opt/example/macsensor"},
	} {
		job, err := DaemonJob(tc.label, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Render(job)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		format, err := plist.Unmarshal(b, &m)
		if err != nil {
			t.Fatal(err)
		}
		if format != plist.XMLFormat {
			t.Errorf("format %s, want XML", plist.FormatNames[format])
		}
		want := map[string]any{
			"Label":              tc.label,
			"ProgramArguments":   []any{tc.prefix + "/bin/macsensor", "run"},
			"RunAtLoad":          true,
			"KeepAlive":          true,
			"ThrottleInterval":   uint64(10),
			"ExitTimeOut":        uint64(20),
			"ProcessType":        "Standard",
			"SoftResourceLimits": map[string]any{"NumberOfFiles": uint64(4096)},
			"StandardErrorPath":  "/var/log/macsensor/macsensor.log",
		}
		var keys, wantKeys []string
		for k := range m {
			keys = append(keys, k)
		}
		for k := range want {
			wantKeys = append(wantKeys, k)
		}
		sort.Strings(keys)
		sort.Strings(wantKeys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("keys %v, want exactly %v", keys, wantKeys)
		}
		for k, w := range want {
			if !reflect.DeepEqual(m[k], w) {
				t.Errorf("%s = %#v, want %#v", k, m[k], w)
			}
		}
		for _, k := range []string{"UserName", "GroupName"} {
			if _, ok := m[k]; ok {
				t.Errorf("%s present: the daemon must run as root", k)
			}
		}
		if !strings.HasPrefix(string(b), `<?xml version="1.0" encoding="UTF-8"?>`) {
			t.Errorf("no XML declaration: %.60q", b)
		}
	}
}

func TestPaths(t *testing.T) {
	for got, want := range map[string]string{
		PlistPath(DefaultLabel):              "/Library/LaunchDaemons/com.macsensor.daemon.plist",
		ManagedPreferencesPath(DefaultLabel): "/Library/Managed Preferences/com.macsensor.daemon.plist",
		BinaryPath(DefaultPrefix):            "/Library/macsensor/bin/macsensor",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, l := range []string{"com.macsensor.daemon", "a", "org.example.x-y_z.1"} {
		if err := ValidateLabel(l); err != nil {
			t.Errorf("ValidateLabel(%q) = %v", l, err)
		}
	}
	for _, l := range []string{"", ".com", "-x", "com..x", "com.x;rm", "com x", "com/x", "com.$(id)", "com.x'", strings.Repeat("a", 129)} {
		if err := ValidateLabel(l); err == nil {
			t.Errorf("ValidateLabel(%q) accepted", l)
		} else if !strings.HasPrefix(err.Error(), "launchd: ") {
			t.Errorf("error %q lacks package prefix", err)
		}
	}
	for _, p := range []string{"/Library/macsensor", "/opt/x", "/a/b-c_d.e"} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/", "/opt", "/Library", "Library/macsensor", "/Library/macsensor/", "/Library/../etc", "/Library/mac sensor", "/x;y", "/x$y"} {
		if err := ValidatePrefix(p); err == nil {
			t.Errorf("ValidatePrefix(%q) accepted", p)
		}
	}
	if _, err := DaemonJob("bad label", DefaultPrefix); err == nil {
		t.Error("DaemonJob accepted a bad label")
	}
	if _, err := DaemonJob(DefaultLabel, "relative"); err == nil {
		t.Error("DaemonJob accepted a relative prefix")
	}
}
