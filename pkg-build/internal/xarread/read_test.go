package xarread

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/pkg-build/xar"
)

var epoch = time.Unix(1700000000, 0)

// sample is what pkg-build/xar's tests archive.
func sample() []xar.Entry {
	own := func(e xar.Entry) xar.Entry {
		e.User, e.Group, e.ModTime = "root", "wheel", epoch
		return e
	}
	return []xar.Entry{
		own(xar.Entry{Path: "Distribution", Mode: 0o644, Data: []byte("<installer-gui-script/>\n")}),
		own(xar.Entry{Path: "x.pkg", Dir: true, Mode: 0o755}),
		own(xar.Entry{Path: "x.pkg/Bom", Mode: 0o644, Data: []byte("BOMStore")}),
		own(xar.Entry{Path: "x.pkg/Payload", Mode: 0o644, Data: bytes.Repeat([]byte{0xa5}, 5000)}),
		own(xar.Entry{Path: "x.pkg/Empty", Mode: 0o600, Data: nil}),
	}
}

func write(t testing.TB, entries []xar.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := xar.Write(&b, entries, epoch); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCorruption(t *testing.T) {
	good := write(t, sample())

	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1 // last byte of Payload
	a2, err := Read(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Contents(a2.Lookup("x.pkg/Payload")); err == nil || !strings.Contains(err.Error(), "archived-checksum") {
		t.Errorf("flipped payload byte: %v", err)
	}
	if _, err := a2.Contents(a2.Lookup("x.pkg/Bom")); err != nil {
		t.Errorf("untouched member: %v", err)
	}

	clen := binary.BigEndian.Uint64(good[8:])
	bad = bytes.Clone(good)
	bad[28+clen] ^= 1 // first byte of the TOC digest
	if _, err := Read(bad); err == nil || err.Error() != "xar: TOC checksum mismatch" {
		t.Errorf("flipped TOC digest: %v", err)
	}

	bad = bytes.Clone(good)
	binary.BigEndian.PutUint64(bad[16:], binary.BigEndian.Uint64(bad[16:])+1)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "header says") {
		t.Errorf("wrong uncompressed length: %v", err)
	}

	bad = bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[24:], checksumMD5)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "header says md5") {
		t.Errorf("header/TOC style mismatch: %v", err)
	}

	if _, err := Read(good[:100]); err == nil {
		t.Error("truncated archive accepted")
	}
}

// raw builds an archive from a hand-written TOC, for what Write never emits.
func raw(toc string, heap []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(toc))
	zw.Close()
	sum := sha1.Sum(z.Bytes())
	h := make([]byte, 28)
	binary.BigEndian.PutUint32(h, magic)
	binary.BigEndian.PutUint16(h[4:], 28)
	binary.BigEndian.PutUint16(h[6:], 1)
	binary.BigEndian.PutUint64(h[8:], uint64(z.Len()))
	binary.BigEndian.PutUint64(h[16:], uint64(len(toc)))
	binary.BigEndian.PutUint32(h[24:], 1)
	return append(append(append(h, z.Bytes()...), sum[:]...), heap...)
}

func TestReadGzipMemberAndUnsafeNames(t *testing.T) {
	content := []byte("hello, xar\n")
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(content)
	zw.Close()
	as, es := sha1.Sum(z.Bytes()), sha1.Sum(content)
	toc := `<?xml version="1.0" encoding="UTF-8"?><xar><toc><checksum style="SHA1"><offset>0</offset><size>20</size></checksum>` +
		`<file id="1"><name>a</name><type>file</type><mode>0644</mode><data><length>` + itoa(z.Len()) + `</length><offset>20</offset><size>` + itoa(len(content)) +
		`</size><encoding style="application/x-gzip"/><archived-checksum style="SHA1">` + hex.EncodeToString(as[:]) +
		`</archived-checksum><extracted-checksum style="sha1">` + hex.EncodeToString(es[:]) + `</extracted-checksum></data></file></toc></xar>`
	a, err := Read(raw(toc, z.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Contents(a.Lookup("a"))
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("gzip member: %q %v", got, err)
	}
	for _, name := range []string{"..", "a/b", ".", ""} {
		toc := `<?xml version="1.0"?><xar><toc><checksum style="sha1"><offset>0</offset><size>20</size></checksum><file id="1"><name>` + name + `</name><type>directory</type></file></toc></xar>`
		if _, err := Read(raw(toc, nil)); err == nil || !strings.Contains(err.Error(), "unsafe name") {
			t.Errorf("name %q: %v", name, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func FuzzRead(f *testing.F) {
	f.Add(write(f, sample()))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(data)
		if err != nil {
			return
		}
		for i := range a.Files {
			if a.Files[i].Data != nil {
				a.Contents(&a.Files[i]) // must not panic or over-allocate
			}
		}
	})
}
