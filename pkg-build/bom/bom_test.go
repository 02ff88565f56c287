package bom

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/macsensor/macsensor/pkg-build/internal/bomread"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bom golden files")

func TestChecksumMatchesCksum(t *testing.T) {
	// Values printed by GNU coreutils cksum(1) for the same inputs.
	for in, want := range map[string]uint32{
		"":                         4294967295,
		"hello\n":                  3015617425,
		string(make([]byte, 1000)): 2610763910,
		"../bin/tool":              2074448533,
	} {
		if got := Checksum([]byte(in)); got != want {
			t.Errorf("Checksum(%.12q) = %d, want %d", in, got, want)
		}
	}
}

func small() []Entry {
	data := []byte("hello\n")
	return []Entry{
		// deliberately not in tree order
		{Path: "./Library/macsensor/bin/macsensor", Mode: 0o100755, Mtime: 1700000000, Size: uint32(len(data)), Checksum: Checksum(data)},
		{Path: ".", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/LaunchDaemons", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor/bin", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor/current", Mode: 0o120755, UID: 501, GID: 20, Mtime: 1700000000, Size: 3, Checksum: Checksum([]byte("bin")), LinkName: "bin"},
	}
}

func TestRoundTripBreadthFirst(t *testing.T) {
	b, err := Write(small())
	if err != nil {
		t.Fatal(err)
	}
	f, err := bomread.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"BomInfo", "Paths", "HLIndex", "VIndex", "Size64"}; !reflect.DeepEqual(f.Vars, want) {
		t.Errorf("vars %q, want %q", f.Vars, want)
	}
	if f.NumberOfPaths != 8 || f.PathCount != 7 {
		t.Errorf("NumberOfPaths %d PathCount %d, want 8 and 7", f.NumberOfPaths, f.PathCount)
	}
	var got []string
	for _, e := range f.Entries {
		got = append(got, e.Path)
	}
	// Breadth-first, children in byte order ("L" < "m").
	want := []string{".", "./Library", "./Library/LaunchDaemons", "./Library/macsensor", "./Library/macsensor/bin", "./Library/macsensor/current", "./Library/macsensor/bin/macsensor"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order\n%q\nwant\n%q", got, want)
	}
	byPath := map[string]Entry{}
	for _, e := range small() {
		byPath[e.Path] = e
	}
	for _, re := range f.Entries {
		if e := Entry(re); e != byPath[e.Path] {
			t.Errorf("%s: got %+v, want %+v", e.Path, e, byPath[e.Path])
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	b, err := Write(small())
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if string(b[:8]) != "BOMStore" || be.Uint32(b[8:]) != 1 {
		t.Fatalf("magic/version: %q %d", b[:8], be.Uint32(b[8:]))
	}
	indexOff, indexLen := be.Uint32(b[16:]), be.Uint32(b[20:])
	if int(indexOff+indexLen) != len(b) {
		t.Errorf("indexOffset %d + indexLength %d != file length %d", indexOff, indexLen, len(b))
	}
	if be.Uint32(b[24:]) != 512 {
		t.Errorf("varsOffset %d, want 512", be.Uint32(b[24:]))
	}
	nBlocks := be.Uint32(b[indexOff:])
	// table (4 + 8n) + free list (4 + 2*8)
	if indexLen != 4+8*nBlocks+20 {
		t.Errorf("indexLength %d, want %d", indexLen, 4+8*nBlocks+20)
	}
	// BomInfo + 3 blocks per path + 1 leaf + Paths tree + 3 empty leaves + 3 trees + VIndex
	if got, want := be.Uint32(b[12:]), uint32(1+3*7+1+1+3+3+1); got != want {
		t.Errorf("numberOfBlocks %d, want %d", got, want)
	}
	if nBlocks != be.Uint32(b[12:])+1 {
		t.Errorf("table has %d entries, want non-null blocks + the null one", nBlocks)
	}
	if !bytes.Equal(b[512+4:512+4+4+1+7], append([]byte{0, 0, 0, 1, 7}, "BomInfo"...)) {
		t.Errorf("first variable: % x", b[512+4:512+4+4+1+7])
	}
}

func TestGolden(t *testing.T) {
	b, err := Write(small())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "small.bom")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./pkg-build/bom -update)", err)
	}
	if !bytes.Equal(b, want) {
		t.Error("Bom bytes differ from testdata/small.bom")
	}
}

func TestWriteRejects(t *testing.T) {
	dir := Entry{Path: ".", Mode: 0o040755}
	for _, tc := range []struct {
		in   []Entry
		want string
	}{
		{[]Entry{{Path: "./a", Mode: 0o100644}}, `bom: no "." entry`},
		{[]Entry{dir, {Path: "./a/b", Mode: 0o100644}}, "bom: ./a: parent directory not listed"},
		{[]Entry{dir, {Path: "./a", Mode: 0o100644}, {Path: "./a/b", Mode: 0o100644}}, "bom: ./a: parent is not a directory"},
		{[]Entry{dir, dir}, "bom: .: listed twice"},
		{[]Entry{dir, {Path: "Library", Mode: 0o040755}}, `bom: path "Library": want "." or a clean "./..." path`},
		{[]Entry{dir, {Path: "./a/../b", Mode: 0o040755}}, `bom: path "./a/../b": want "." or a clean "./..." path`},
		{[]Entry{dir, {Path: "./a/", Mode: 0o040755}}, `bom: path "./a/": want "." or a clean "./..." path`},
		{[]Entry{dir, {Path: "./l", Mode: 0o120755}}, "bom: ./l: a link name goes with, and only with, a symlink"},
		{[]Entry{dir, {Path: "./p", Mode: 0o010644}}, "bom: ./p: unsupported file type 010000"},
		{[]Entry{{Path: ".", Mode: 0o100644}}, `bom: "." is not a directory`},
	} {
		_, err := Write(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
