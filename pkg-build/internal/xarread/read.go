package xarread

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// The header (xar.h.in struct xar_header), kept apart from the writer's
// constants so that a wrong one in pkg-build/xar shows as a failed read.
const (
	magic        = 0x78617221 // "xar!"
	headerSize   = 28
	version      = 1
	checksumNone = 0
	checksumSHA1 = 1
	checksumMD5  = 2
)

// Limits of the reader: a package's TOC is a few KiB, its largest member a
// few tens of MiB.
const (
	MaxTOCSize    = 16 << 20
	MaxMemberSize = 1 << 30
)

var errNotXar = errors.New("xar: not a xar archive")

// Archive is a parsed xar archive whose TOC checksum has been verified.
type Archive struct {
	HeaderSize   int
	ChecksumAlg  uint32
	TOC          []byte // the uncompressed XML
	CreationTime string
	Files        []File // document order (pre-order)
	heap         []byte
}

// File is one <file> of the TOC.
type File struct {
	ID    string
	Path  string // names of the enclosing <file>s joined with "/"
	Type  string // "file", "directory", ...
	Mode  uint32
	UID   uint32
	GID   uint32
	User  string
	Group string
	Mtime string
	Data  *Data // nil for directories
}

// Data is a member's <data> element.
type Data struct {
	Offset, Length, Size uint64
	Encoding             string
	Archived, Extracted  Checksum
}

// Checksum is a digest as the TOC gives it.
type Checksum struct {
	Style string // "sha1" or "md5", any case
	Hex   string
}

type xmlChecksum struct {
	Style string `xml:"style,attr"`
	Value string `xml:",chardata"`
}

type xmlData struct {
	Length    string      `xml:"length"`
	Offset    string      `xml:"offset"`
	Size      string      `xml:"size"`
	Encoding  xmlChecksum `xml:"encoding"` // only its style attribute
	Archived  xmlChecksum `xml:"archived-checksum"`
	Extracted xmlChecksum `xml:"extracted-checksum"`
}

type xmlFile struct {
	ID    string    `xml:"id,attr"`
	Name  string    `xml:"name"`
	Type  string    `xml:"type"`
	Mode  string    `xml:"mode"`
	UID   string    `xml:"uid"`
	GID   string    `xml:"gid"`
	User  string    `xml:"user"`
	Group string    `xml:"group"`
	Mtime string    `xml:"mtime"`
	Data  *xmlData  `xml:"data"`
	Files []xmlFile `xml:"file"`
}

type xmlXar struct {
	TOC struct {
		CreationTime string `xml:"creation-time"`
		Checksum     *struct {
			Style  string `xml:"style,attr"`
			Offset string `xml:"offset"`
			Size   string `xml:"size"`
		} `xml:"checksum"`
		Files []xmlFile `xml:"file"`
	} `xml:"toc"`
}

// Read parses b: header, TOC (inflated, its length checked against the
// header), and the TOC checksum stored in the heap. Member data is checked
// by Contents.
func Read(b []byte) (*Archive, error) {
	if len(b) < headerSize || binary.BigEndian.Uint32(b) != magic {
		return nil, errNotXar
	}
	hsize := int(binary.BigEndian.Uint16(b[4:]))
	if hsize < headerSize || hsize > len(b) {
		return nil, fmt.Errorf("xar: header size %d", hsize)
	}
	if v := binary.BigEndian.Uint16(b[6:]); v != version {
		return nil, fmt.Errorf("xar: version %d, want 1", v)
	}
	clen := binary.BigEndian.Uint64(b[8:])
	ulen := binary.BigEndian.Uint64(b[16:])
	alg := binary.BigEndian.Uint32(b[24:])
	if clen > uint64(len(b)-hsize) {
		return nil, fmt.Errorf("xar: TOC of %d bytes beyond end of archive", clen)
	}
	if ulen > MaxTOCSize {
		return nil, fmt.Errorf("xar: TOC of %d bytes exceeds %d", ulen, MaxTOCSize)
	}
	ztoc := b[hsize : hsize+int(clen)]
	zr, err := zlib.NewReader(bytes.NewReader(ztoc))
	if err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	toc, err := io.ReadAll(io.LimitReader(zr, int64(ulen)+1))
	if err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	if uint64(len(toc)) != ulen {
		return nil, fmt.Errorf("xar: TOC inflates to %d bytes, header says %d", len(toc), ulen)
	}
	a := &Archive{HeaderSize: hsize, ChecksumAlg: alg, TOC: toc, heap: b[hsize+int(clen):]}

	var x xmlXar
	if err := xml.Unmarshal(toc, &x); err != nil {
		return nil, fmt.Errorf("xar: TOC: %w", err)
	}
	a.CreationTime = x.TOC.CreationTime

	// The TOC checksum: its style must agree with the header (xar_open does
	// the same, rdar://problem/6134714), and its digest covers the
	// compressed TOC.
	if alg != checksumNone {
		c := x.TOC.Checksum
		if c == nil {
			return nil, errors.New("xar: header has a TOC checksum but the TOC has no <checksum>")
		}
		want := map[uint32]string{checksumSHA1: "sha1", checksumMD5: "md5"}[alg]
		if want == "" {
			return nil, fmt.Errorf("xar: unsupported TOC checksum algorithm %d", alg)
		}
		if !strings.EqualFold(c.Style, want) {
			return nil, fmt.Errorf("xar: TOC checksum style %q, header says %s", c.Style, want)
		}
		off, err1 := strconv.ParseUint(c.Offset, 10, 64)
		size, err2 := strconv.ParseUint(c.Size, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("xar: TOC checksum offset %q size %q", c.Offset, c.Size)
		}
		h := newHash(want)
		h.Write(ztoc)
		sum := h.Sum(nil)
		if size != uint64(len(sum)) || off > uint64(len(a.heap)) || size > uint64(len(a.heap))-off {
			return nil, fmt.Errorf("xar: TOC checksum at heap [%d, +%d) out of range", off, size)
		}
		if !bytes.Equal(a.heap[off:off+size], sum) {
			return nil, errors.New("xar: TOC checksum mismatch")
		}
	}

	var walk func(fs []xmlFile, prefix string) error
	walk = func(fs []xmlFile, prefix string) error {
		for _, xf := range fs {
			if xf.Name == "" || xf.Name == "." || xf.Name == ".." || strings.ContainsAny(xf.Name, "/\x00") {
				return fmt.Errorf("xar: file id %q: unsafe name %q", xf.ID, xf.Name)
			}
			f := File{ID: xf.ID, Path: prefix + xf.Name, Type: xf.Type, User: xf.User, Group: xf.Group, Mtime: xf.Mtime}
			var err error
			if f.Mode, err = parseUint32(xf.Mode, 8); err != nil {
				return fmt.Errorf("xar: %s: mode: %w", f.Path, err)
			}
			if f.UID, err = parseUint32(xf.UID, 10); err != nil {
				return fmt.Errorf("xar: %s: uid: %w", f.Path, err)
			}
			if f.GID, err = parseUint32(xf.GID, 10); err != nil {
				return fmt.Errorf("xar: %s: gid: %w", f.Path, err)
			}
			if xf.Data != nil {
				d := &Data{
					Encoding:  xf.Data.Encoding.Style,
					Archived:  Checksum{Style: xf.Data.Archived.Style, Hex: strings.TrimSpace(xf.Data.Archived.Value)},
					Extracted: Checksum{Style: xf.Data.Extracted.Style, Hex: strings.TrimSpace(xf.Data.Extracted.Value)},
				}
				for _, v := range []struct {
					s   string
					dst *uint64
				}{{xf.Data.Offset, &d.Offset}, {xf.Data.Length, &d.Length}, {xf.Data.Size, &d.Size}} {
					if *v.dst, err = strconv.ParseUint(strings.TrimSpace(v.s), 10, 64); err != nil {
						return fmt.Errorf("xar: %s: data: %w", f.Path, err)
					}
				}
				f.Data = d
			}
			a.Files = append(a.Files, f)
			if err := walk(xf.Files, f.Path+"/"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(x.TOC.Files, ""); err != nil {
		return nil, err
	}
	return a, nil
}

func parseUint32(s string, base int) (uint32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err
}

func newHash(style string) hash.Hash {
	switch strings.ToLower(style) {
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	return nil
}

// Lookup returns the file at path, or nil.
func (a *Archive) Lookup(path string) *File {
	for i := range a.Files {
		if a.Files[i].Path == path {
			return &a.Files[i]
		}
	}
	return nil
}

// Contents returns the extracted bytes of f after checking the digest of
// the archived bytes, decoding, and checking the size and the digest of the
// extracted bytes. Checksums of style "none" or absent are not checked;
// an unknown style is an error.
func (a *Archive) Contents(f *File) ([]byte, error) {
	d := f.Data
	if d == nil {
		return nil, fmt.Errorf("xar: %s: no data", f.Path)
	}
	if d.Offset > uint64(len(a.heap)) || d.Length > uint64(len(a.heap))-d.Offset {
		return nil, fmt.Errorf("xar: %s: heap range [%d, +%d) beyond end of archive", f.Path, d.Offset, d.Length)
	}
	if d.Size > MaxMemberSize {
		return nil, fmt.Errorf("xar: %s: size %d exceeds %d", f.Path, d.Size, MaxMemberSize)
	}
	archived := a.heap[d.Offset : d.Offset+d.Length]
	if err := verify(f.Path, "archived", d.Archived, archived); err != nil {
		return nil, err
	}
	var out []byte
	switch d.Encoding {
	case "", "application/octet-stream":
		out = archived
	case "application/x-gzip": // xar's "gzip" is a zlib stream (zxar.c)
		zr, err := zlib.NewReader(bytes.NewReader(archived))
		if err != nil {
			return nil, fmt.Errorf("xar: %s: %w", f.Path, err)
		}
		if out, err = io.ReadAll(io.LimitReader(zr, int64(d.Size)+1)); err != nil {
			return nil, fmt.Errorf("xar: %s: %w", f.Path, err)
		}
	default:
		return nil, fmt.Errorf("xar: %s: unsupported encoding %q", f.Path, d.Encoding)
	}
	if uint64(len(out)) != d.Size {
		return nil, fmt.Errorf("xar: %s: %d bytes extracted, TOC says %d", f.Path, len(out), d.Size)
	}
	if err := verify(f.Path, "extracted", d.Extracted, out); err != nil {
		return nil, err
	}
	return out, nil
}

func verify(path, which string, c Checksum, b []byte) error {
	if c.Style == "" || strings.EqualFold(c.Style, "none") {
		return nil
	}
	h := newHash(c.Style)
	if h == nil {
		return fmt.Errorf("xar: %s: unsupported %s-checksum style %q", path, which, c.Style)
	}
	h.Write(b)
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, c.Hex) {
		return fmt.Errorf("xar: %s: %s-checksum %s, TOC says %s", path, which, got, c.Hex)
	}
	return nil
}
