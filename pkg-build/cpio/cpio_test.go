package cpio

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func sample() []Entry {
	return []Entry{
		{Name: ".", Mode: TypeDir | 0o755, Mtime: 1700000000},
		{Name: "./bin", Mode: TypeDir | 0o755, Mtime: 1700000000},
		{Name: "./bin/tool", Mode: TypeRegular | 0o755, Mtime: 1700000000, Data: []byte("#!/bin/sh\necho hi\n")},
		{Name: "./etc/link", Mode: TypeSymlink | 0o755, UID: 501, GID: 20, Mtime: 1, Data: []byte("../bin/tool")},
	}
}

func TestWriteExactBytes(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, []Entry{{Name: "./a", Mode: TypeRegular | 0o644, UID: 0, GID: 0, Mtime: 1700000000, Data: []byte("hi\n")}}); err != nil {
		t.Fatal(err)
	}
	// magic dev ino mode uid gid nlink rdev mtime namesize filesize name data
	want := "070707" + "000000" + "000001" + "100644" + "000000" + "000000" + "000001" + "000000" + "14524770400" + "000004" + "00000000003" + "./a\x00" + "hi\n" +
		"070707" + "000000" + "000000" + "000000" + "000000" + "000000" + "000001" + "000000" + "00000000000" + "000013" + "00000000000" + "TRAILER!!!\x00"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	in := sample()
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d entries, want %d", len(out), len(in))
	}
	for i := range in {
		if in[i].Data == nil {
			in[i].Data = []byte{}
		}
		if !reflect.DeepEqual(out[i], in[i]) {
			t.Errorf("entry %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
	// Directories have nlink 2, the others 1; inodes count from 1.
	if got := b.String()[6+6+6+6+6+6 : 6+6+6+6+6+6+6]; got != "000002" {
		t.Errorf("nlink of . = %s, want 000002", got)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Name: "", Mode: TypeRegular}, "cpio: empty name"},
		{Entry{Name: "a\x00b", Mode: TypeRegular}, `cpio: name "a\x00b" contains NUL`},
		{Entry{Name: Trailer, Mode: TypeRegular}, `cpio: name "TRAILER!!!" is reserved for the trailer`},
		{Entry{Name: "./x", Mode: TypeRegular, UID: 1 << 20}, "cpio: ./x: uid 1048576 / gid 0 do not fit 6 octal digits"},
		{Entry{Name: "./x", Mode: TypeRegular, Mtime: -1}, "cpio: ./x: mtime -1 out of range"},
		{Entry{Name: "./d", Mode: TypeDir, Data: []byte("x")}, "cpio: ./d: directory with data"},
		{Entry{Name: "./dev", Mode: 0o020644}, "cpio: ./dev: unsupported file type 020000"},
	} {
		err := Write(&bytes.Buffer{}, []Entry{tc.e})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: err = %v, want %q", tc.e, err, tc.want)
		}
	}
}

func TestReadRejects(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample()); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	for name, data := range map[string][]byte{
		"empty":         nil,
		"no-trailer":    good[:len(good)-87],
		"bad-magic":     append([]byte("070701"), good[6:]...),
		"bad-octal":     append(append([]byte{}, good[:12]...), append([]byte("00000"+"9"), good[18:]...)...),
		"short-name":    good[:headerSize+1],
		"size-too-long": []byte("070707000000000001100644000000000000000001000000000000000000000002777777777771\x00"),
	} {
		if _, err := Read(data); err == nil || !strings.HasPrefix(err.Error(), "cpio: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	if err := Write(&b, sample()); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Read(data)
		if err != nil {
			return
		}
		// What was read writes back and reads again to the same entries,
		// unless it holds what the writer refuses.
		var out bytes.Buffer
		if err := Write(&out, entries); err != nil {
			return
		}
		again, err := Read(out.Bytes())
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries, then %d", len(entries), len(again))
		}
		for i := range again {
			if again[i].Name != entries[i].Name || !bytes.Equal(again[i].Data, entries[i].Data) || again[i].Mode != entries[i].Mode {
				t.Fatalf("entry %d changed: %+v -> %+v", i, entries[i], again[i])
			}
		}
	})
}
