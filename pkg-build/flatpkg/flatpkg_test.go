package flatpkg

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/pkg-build/bom"
	"github.com/macsensor/macsensor/pkg-build/cpio"
	"github.com/macsensor/macsensor/pkg-build/internal/bomread"
	"github.com/macsensor/macsensor/pkg-build/internal/xarread"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sample() Package {
	return Package{
		Identifier:   "com.example.pkg",
		Version:      "1.2.3",
		Title:        "Example & <Sensor>",
		MinOSVersion: "12.0",
		Component:    "example.pkg",
		ModTime:      time.Unix(1700000000, 0),
		Files: []File{
			{Path: "/Library/Example/bin/tool", Mode: 0o755, Data: []byte("\xcf\xfa\xed\xfebinary")},
			{Path: "/Library/LaunchDaemons/com.example.plist", Mode: 0o644, Data: []byte("<plist/>\n")},
			{Path: "/Library/Example/rules.d", Dir: true, Mode: 0o755},
			{Path: "/Library/Example/rules.d/README.md", Mode: 0o644, Data: bytes.Repeat([]byte("r"), 5000)},
			{Path: "/Library/Example-extra", Dir: true, Mode: 0o755},
		},
		Scripts: []Script{
			{Name: "preinstall", Data: []byte("#!/bin/sh\nexit 0\n")},
			{Name: "postinstall", Data: []byte("#!/bin/sh\nexit 0\n")},
		},
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header carries mtime %v name %q", zr.ModTime, zr.Name)
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./pkg-build/flatpkg -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestBuild(t *testing.T) {
	prod, err := Build(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "Distribution.golden", prod.Distribution)
	golden(t, "PackageInfo.golden", prod.PackageInfo)

	a, err := xarread.Read(prod.Archive)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range a.Files {
		names = append(names, f.Path)
		if f.UID != 0 || f.GID != 0 || f.User != "root" || f.Group != "wheel" {
			t.Errorf("%s owned by %d:%d %s:%s", f.Path, f.UID, f.GID, f.User, f.Group)
		}
	}
	if got, want := strings.Join(names, " "), "Distribution example.pkg example.pkg/Bom example.pkg/PackageInfo example.pkg/Payload example.pkg/Scripts"; got != want {
		t.Errorf("members %q, want %q", got, want)
	}
	for name, want := range map[string][]byte{
		"Distribution": prod.Distribution, "example.pkg/Bom": prod.Bom, "example.pkg/PackageInfo": prod.PackageInfo,
		"example.pkg/Payload": prod.Payload, "example.pkg/Scripts": prod.Scripts,
	} {
		got, err := a.Contents(a.Lookup(name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: archived bytes differ", name)
		}
	}

	payload, err := cpio.Read(gunzip(t, prod.Payload))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range payload {
		if e.UID != 0 || e.GID != 0 || e.Mtime != 1700000000 {
			t.Errorf("%s: uid %d gid %d mtime %d", e.Name, e.UID, e.GID, e.Mtime)
		}
		lines = append(lines, fmt.Sprintf("%s %o", e.Name, e.Mode))
	}
	want := []string{
		". 40755",
		"./Library 40755",
		"./Library/Example 40755",
		"./Library/Example/bin 40755",
		"./Library/Example/bin/tool 100755",
		"./Library/Example/rules.d 40755",
		"./Library/Example/rules.d/README.md 100644",
		"./Library/Example-extra 40755",
		"./Library/LaunchDaemons 40755",
		"./Library/LaunchDaemons/com.example.plist 100644",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("payload:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if prod.NumberOfFiles != len(want) {
		t.Errorf("NumberOfFiles %d, want %d", prod.NumberOfFiles, len(want))
	}
	// tool 10 B + plist 9 B + README 5000 B: 4 + 4 + 8 KiB.
	if prod.InstallKBytes != 16 {
		t.Errorf("InstallKBytes %d, want 16", prod.InstallKBytes)
	}

	bf, err := bomread.Read(prod.Bom)
	if err != nil {
		t.Fatal(err)
	}
	if len(bf.Entries) != len(payload) {
		t.Fatalf("Bom has %d paths, payload %d", len(bf.Entries), len(payload))
	}
	byName := map[string]cpio.Entry{}
	for _, e := range payload {
		byName[e.Name] = e
	}
	for _, be := range bf.Entries {
		pe, ok := byName[be.Path]
		if !ok {
			t.Errorf("Bom path %s not in payload", be.Path)
			continue
		}
		if be.Mode != pe.Mode || be.UID != pe.UID || be.GID != pe.GID || int64(be.Mtime) != pe.Mtime || int(be.Size) != len(pe.Data) || (len(pe.Data) > 0 && be.Checksum != bom.Checksum(pe.Data)) {
			t.Errorf("%s: Bom %+v, payload mode %o size %d", be.Path, be, pe.Mode, len(pe.Data))
		}
	}

	scripts, err := cpio.Read(gunzip(t, prod.Scripts))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) != 3 || scripts[0].Name != "." || scripts[1].Name != "./postinstall" || scripts[2].Name != "./preinstall" {
		t.Fatalf("scripts archive: %+v", scripts)
	}
	for _, s := range scripts[1:] {
		if s.Mode != cpio.TypeRegular|0o755 || s.UID != 0 || s.GID != 0 {
			t.Errorf("%s: mode %o owner %d:%d", s.Name, s.Mode, s.UID, s.GID)
		}
	}
}

func TestReproducible(t *testing.T) {
	a, err := Build(sample())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Archive, b.Archive) {
		t.Error("two builds of the same inputs differ")
	}
	p := sample()
	p.ModTime = p.ModTime.Add(time.Second)
	c, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Archive, c.Archive) {
		t.Error("ModTime does not reach the archive")
	}
	// File order in the input does not matter.
	p = sample()
	p.Files[0], p.Files[4] = p.Files[4], p.Files[0]
	p.Scripts[0], p.Scripts[1] = p.Scripts[1], p.Scripts[0]
	d, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Archive, d.Archive) {
		t.Error("input order changes the archive")
	}
}

func TestNoScripts(t *testing.T) {
	p := sample()
	p.Scripts = nil
	prod, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if prod.Scripts != nil || bytes.Contains(prod.PackageInfo, []byte("<scripts>")) {
		t.Error("scripts present")
	}
	a, err := xarread.Read(prod.Archive)
	if err != nil {
		t.Fatal(err)
	}
	if a.Lookup("example.pkg/Scripts") != nil {
		t.Error("Scripts member present")
	}
}

func TestBuildRejects(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Package)
		want string
	}{
		{func(p *Package) { p.Identifier = "com.example;rm" }, `flatpkg: identifier "com.example;rm": want a reverse-DNS name of letters, digits, '.', '-', '_'`},
		{func(p *Package) { p.Version = "1 2" }, `flatpkg: version "1 2": want letters, digits, '.', '-', '_', '+'`},
		{func(p *Package) { p.Component = "example" }, `flatpkg: component "example": want a name ending in .pkg`},
		{func(p *Package) { p.Scripts[0].Name = "preflight" }, `flatpkg: script "preflight": only preinstall and postinstall are run`},
		{func(p *Package) { p.Scripts[0].Data = []byte("exit 0") }, `flatpkg: script "preinstall" has no #! line`},
		{func(p *Package) { p.Files[0].Path = "Library/x" }, `flatpkg: payload path "Library/x": want a clean absolute path below /`},
		{func(p *Package) { p.Files[0].Path = "/Library/../x" }, `flatpkg: payload path "/Library/../x": want a clean absolute path below /`},
		{func(p *Package) { p.Files[0].Mode = 0o775 }, "flatpkg: /Library/Example/bin/tool: mode 0775: writable by group or others, and the daemon runs as root"},
		{func(p *Package) { p.Files = append(p.Files, p.Files[1]) }, "flatpkg: payload path /Library/LaunchDaemons/com.example.plist given twice"},
		{func(p *Package) {
			p.Files = append(p.Files, File{Path: "/Library/Example/bin/tool/x", Mode: 0o644})
		}, "flatpkg: /Library/Example/bin/tool is a file and a parent of /Library/Example/bin/tool/x"},
		{func(p *Package) { p.ModTime = time.Unix(-1, 0) }, "flatpkg: modification time 1969-12-31 23:59:59 +0000 UTC outside the Bom's 32-bit range"},
	} {
		p := sample()
		tc.edit(&p)
		p.ModTime = p.ModTime.UTC()
		_, err := Build(p)
		if err == nil || err.Error() != tc.want {
			t.Errorf("err = %v\nwant %q", err, tc.want)
		}
	}
}
