package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/codesign"
	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// TestCodesignCommand runs `macsensor codesign` over Go's own linker
// output (ad-hoc on darwin/arm64, unsigned on darwin/amd64) and a missing
// file, and checks one JSON line per path with the ECS fields.
func TestCodesignCommand(t *testing.T) {
	arm := fixture.BuildGo(t, "arm64", "hello")
	amd := fixture.BuildGo(t, "amd64", "hello")
	missing := filepath.Join(t.TempDir(), "nope")
	var stdout, stderr bytes.Buffer
	rc := dispatch([]string{"codesign", "--arch", "arm64", arm, amd, missing}, &stdout, &stderr)
	if rc != 1 {
		t.Fatalf("exit %d, want 1 (one file not checked); stderr %s", rc, stderr.String())
	}
	if !strings.Contains(stderr.String(), missing) {
		t.Errorf("stderr does not name the missing file: %q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout.String())
	}
	type rec struct {
		Path          string         `json:"path"`
		CodeSignature map[string]any `json:"code_signature"`
		Hash          map[string]any `json:"hash"`
		Codesign      map[string]any `json:"codesign"`
	}
	var got []rec
	for _, l := range lines {
		var r rec
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got = append(got, r)
	}
	wantCS := []map[string]any{
		{"exists": true, "trusted": false, "status": codesign.StatusUntrusted, "signing_id": "a.out"},
		// An amd64-only file on an arm64 host: its only slice is judged.
		{"exists": false, "trusted": false, "status": codesign.StatusUnsigned},
		{"status": codesign.StatusNotFound},
	}
	for i, w := range wantCS {
		if !equalJSON(got[i].CodeSignature, w) {
			t.Errorf("line %d code_signature = %v, want %v", i, got[i].CodeSignature, w)
		}
	}
	if got[0].Path != arm || got[1].Path != amd || got[2].Path != missing {
		t.Errorf("paths %q %q %q", got[0].Path, got[1].Path, got[2].Path)
	}
	for i := range 2 {
		if s, _ := got[i].Hash["sha256"].(string); len(s) != 64 {
			t.Errorf("line %d hash = %v", i, got[i].Hash)
		}
	}
	if got[2].Hash != nil {
		t.Errorf("missing file has a hash: %v", got[2].Hash)
	}
	if got[0].Codesign["adhoc"] != true || got[0].Codesign["linker_signed"] != true || got[0].Codesign["arch"] != "arm64" {
		t.Errorf("codesign detail %v", got[0].Codesign)
	}
	if got[1].Codesign["arch"] != "x86_64" {
		t.Errorf("codesign detail %v", got[1].Codesign)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestCodesignUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if rc := dispatch([]string{"codesign"}, &stdout, &stderr); rc != 2 {
		t.Errorf("no path: exit %d", rc)
	}
	if rc := dispatch([]string{"codesign", "--arch", "ppc", "x"}, &stdout, &stderr); rc != 2 {
		t.Errorf("bad arch: exit %d", rc)
	}
}
