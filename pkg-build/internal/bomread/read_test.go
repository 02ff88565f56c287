package bomread

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/macsensor/macsensor/pkg-build/bom"
)

// small is what pkg-build/bom's tests write.
func small() []bom.Entry {
	data := []byte("hello\n")
	return []bom.Entry{
		{Path: ".", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor/bin", Mode: 0o040755, Mtime: 1700000000},
		{Path: "./Library/macsensor/bin/macsensor", Mode: 0o100755, Mtime: 1700000000, Size: uint32(len(data)), Checksum: bom.Checksum(data)},
		{Path: "./Library/macsensor/current", Mode: 0o120755, UID: 501, GID: 20, Mtime: 1700000000, Size: 3, Checksum: bom.Checksum([]byte("bin")), LinkName: "bin"},
	}
}

// toBom converts entries read back to what the writer takes.
func toBom(es []Entry) []bom.Entry {
	out := make([]bom.Entry, len(es))
	for i, e := range es {
		out[i] = bom.Entry(e)
	}
	return out
}

func TestManyLeaves(t *testing.T) {
	entries := []bom.Entry{{Path: ".", Mode: 0o040755}, {Path: "./d", Mode: 0o040755}}
	for i := range 600 {
		data := []byte(fmt.Sprint(i))
		entries = append(entries, bom.Entry{Path: fmt.Sprintf("./d/f%04d", i), Mode: 0o100644, Size: uint32(len(data)), Checksum: bom.Checksum(data), Mtime: uint32(i)})
	}
	b, err := bom.Write(entries)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 602 || f.PathCount != 602 {
		t.Fatalf("%d entries, PathCount %d, want 602", len(f.Entries), f.PathCount)
	}
	for i, e := range f.Entries[2:] {
		if e.Path != fmt.Sprintf("./d/f%04d", i) || e.Mtime != uint32(i) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	// The Paths tree's child is a branch over 3 leaves.
	r := reader{b: b}
	indexOff := binary.BigEndian.Uint32(b[16:])
	n := binary.BigEndian.Uint32(b[indexOff:])
	r.index = b[indexOff+4 : indexOff+4+8*n]
	varsOff := binary.BigEndian.Uint32(b[24:])
	pathsVar := binary.BigEndian.Uint32(b[varsOff+4+4+1+7:])
	tr, _ := r.block(pathsVar, treeSize)
	top, err := r.paths(binary.BigEndian.Uint32(tr[8:]))
	if err != nil {
		t.Fatal(err)
	}
	if top.leaf || top.count != 3 {
		t.Errorf("top node leaf=%v count=%d, want a branch over 3 leaves", top.leaf, top.count)
	}
}

func TestReadRejects(t *testing.T) {
	good, err := bom.Write(small())
	if err != nil {
		t.Fatal(err)
	}
	cut := func(n int) []byte { return good[:n] }
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("BOMStorX"), good[8:]...),
		"truncated": cut(600),
		"header":    cut(31),
	} {
		if _, err := Read(b); err == nil || !strings.HasPrefix(err.Error(), "bom: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	b, err := bom.Write(small())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		bf, err := Read(data)
		if err != nil {
			return
		}
		// What decodes and is a valid tree re-encodes to the same entries.
		again, err := bom.Write(toBom(bf.Entries))
		if err != nil {
			return
		}
		bf2, err := Read(again)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		want := map[string]Entry{}
		for _, e := range bf.Entries {
			want[e.Path] = e
		}
		if len(bf2.Entries) != len(want) {
			t.Fatalf("%d entries, then %d", len(want), len(bf2.Entries))
		}
		for _, e := range bf2.Entries {
			if want[e.Path] != e {
				t.Fatalf("%s: %+v, then %+v", e.Path, want[e.Path], e)
			}
		}
	})
}
