package xar

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/pkg-build/internal/xarread"
)

var epoch = time.Unix(1700000000, 0)

func sample() []Entry {
	own := func(e Entry) Entry {
		e.User, e.Group, e.ModTime = "root", "wheel", epoch
		return e
	}
	return []Entry{
		own(Entry{Path: "Distribution", Mode: 0o644, Data: []byte("<installer-gui-script/>\n")}),
		own(Entry{Path: "x.pkg", Dir: true, Mode: 0o755}),
		own(Entry{Path: "x.pkg/Bom", Mode: 0o644, Data: []byte("BOMStore")}),
		own(Entry{Path: "x.pkg/Payload", Mode: 0o644, Data: bytes.Repeat([]byte{0xa5}, 5000)}),
		own(Entry{Path: "x.pkg/Empty", Mode: 0o600, Data: nil}),
	}
}

func write(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, entries, epoch); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := write(t, sample())
	a, err := xarread.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.CreationTime != "2023-11-14T22:13:20Z" {
		t.Errorf("creation-time %q", a.CreationTime)
	}
	var paths []string
	for _, f := range a.Files {
		paths = append(paths, f.Path)
	}
	if got, want := strings.Join(paths, " "), "Distribution x.pkg x.pkg/Bom x.pkg/Payload x.pkg/Empty"; got != want {
		t.Errorf("paths %q, want %q", got, want)
	}
	for _, e := range sample() {
		f := a.Lookup(e.Path)
		if f == nil {
			t.Fatalf("%s missing", e.Path)
		}
		if f.Mode != e.Mode || f.UID != 0 || f.GID != 0 || f.User != "root" || f.Group != "wheel" || f.Mtime != "2023-11-14T22:13:20Z" {
			t.Errorf("%s: %+v", e.Path, *f)
		}
		if e.Dir {
			if f.Type != "directory" || f.Data != nil {
				t.Errorf("%s: type %q data %v", e.Path, f.Type, f.Data)
			}
			continue
		}
		if f.Type != "file" || f.Data.Encoding != "application/octet-stream" || f.Data.Archived.Style != "sha1" || f.Data.Extracted.Style != "sha1" {
			t.Errorf("%s: %+v %+v", e.Path, *f, *f.Data)
		}
		got, err := a.Contents(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, e.Data) {
			t.Errorf("%s: contents differ", e.Path)
		}
	}
}

func TestLayout(t *testing.T) {
	b := write(t, sample())
	be := binary.BigEndian
	if string(b[:4]) != "xar!" || be.Uint16(b[4:]) != 28 || be.Uint16(b[6:]) != 1 || be.Uint32(b[24:]) != 1 {
		t.Fatalf("header % x", b[:28])
	}
	clen, ulen := be.Uint64(b[8:]), be.Uint64(b[16:])
	ztoc := b[28 : 28+clen]
	zr, err := zlib.NewReader(bytes.NewReader(ztoc))
	if err != nil {
		t.Fatal(err)
	}
	var toc bytes.Buffer
	toc.ReadFrom(zr)
	if uint64(toc.Len()) != ulen {
		t.Errorf("TOC %d bytes, header %d", toc.Len(), ulen)
	}
	heap := b[28+clen:]
	sum := sha1.Sum(ztoc)
	if !bytes.Equal(heap[:20], sum[:]) {
		t.Error("heap does not start with SHA-1 of the compressed TOC")
	}
	for _, s := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		"<checksum style=\"sha1\">\n   <offset>0</offset>\n   <size>20</size>\n  </checksum>",
		"<creation-time>2023-11-14T22:13:20Z</creation-time>",
		`<encoding style="application/octet-stream"/>`,
		"<offset>20</offset>", // the first member follows the TOC digest
		"<mode>0755</mode>", "<type>directory</type>", "<user>root</user>", "<group>wheel</group>",
	} {
		if !strings.Contains(toc.String(), s) {
			t.Errorf("TOC lacks %q:\n%s", s, toc.String())
		}
	}
	// Members follow each other in document order.
	if want := 20 + len("<installer-gui-script/>\n") + len("BOMStore") + 5000; len(heap) != want {
		t.Errorf("heap %d bytes, want %d", len(heap), want)
	}
	if !bytes.Equal(write(t, sample()), b) {
		t.Error("two writes differ")
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		e    []Entry
		want string
	}{
		{[]Entry{{Path: "a/b", Mode: 0o644}}, "xar: a/b: directory a not listed before it"},
		{[]Entry{{Path: "a", Mode: 0o644}, {Path: "a", Mode: 0o644}}, "xar: a: listed twice"},
		{[]Entry{{Path: "../a", Mode: 0o644}}, `xar: path "../a": want a clean relative path`},
		{[]Entry{{Path: "/a", Mode: 0o644}}, `xar: path "/a": want a clean relative path`},
		{[]Entry{{Path: "a\nb", Mode: 0o644}}, `xar: path "a\nb": not representable in XML`},
		{[]Entry{{Path: "d", Dir: true, Data: []byte("x")}}, "xar: d: directory with data"},
		{[]Entry{{Path: "f", Mode: 0o100644}}, "xar: f: mode 0100644 is more than permission bits"},
		{[]Entry{{Path: "f", Mode: 0o644}, {Path: "f/g", Mode: 0o644}}, "xar: f/g: directory f not listed before it"},
	} {
		err := Write(&bytes.Buffer{}, tc.e, epoch)
		if err == nil || err.Error() != tc.want {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
