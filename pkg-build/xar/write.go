package xar

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Header constants (xar.h.in).
const (
	Magic        = 0x78617221 // "xar!"
	HeaderSize   = 28
	Version      = 1
	ChecksumNone = 0
	ChecksumSHA1 = 1
	ChecksumMD5  = 2
)

const timeLayout = "2006-01-02T15:04:05Z" // xar_close: strftime "%Y-%m-%dT%H:%M:%SZ", UTC

// Entry is one member to archive.
type Entry struct {
	Path    string // slash-separated, relative: "Distribution", "macsensor.pkg/Bom"
	Dir     bool
	Mode    uint32 // permission bits, e.g. 0o644
	UID     uint32
	GID     uint32
	User    string // e.g. "root"
	Group   string // e.g. "wheel"
	ModTime time.Time
	Data    []byte // files only
}

type node struct {
	e        *Entry
	name     string
	children []*node
}

// Write writes entries as a xar archive. A directory must come before its
// members; members keep the order given. created is the TOC's
// creation-time. The output depends only on the arguments.
func Write(w io.Writer, entries []Entry, created time.Time) error {
	root := &node{}
	dirs := map[string]*node{"": root}
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if err := checkPath(e.Path); err != nil {
			return err
		}
		if seen[e.Path] {
			return fmt.Errorf("xar: %s: listed twice", e.Path)
		}
		seen[e.Path] = true
		if e.Dir && len(e.Data) != 0 {
			return fmt.Errorf("xar: %s: directory with data", e.Path)
		}
		if !validXMLText(e.User) || !validXMLText(e.Group) {
			return fmt.Errorf("xar: %s: user %q / group %q not representable in XML", e.Path, e.User, e.Group)
		}
		if e.Mode > 0o7777 {
			return fmt.Errorf("xar: %s: mode %#o is more than permission bits", e.Path, e.Mode)
		}
		dir, name := path.Split(e.Path)
		parent, ok := dirs[strings.TrimSuffix(dir, "/")]
		if !ok {
			return fmt.Errorf("xar: %s: directory %s not listed before it", e.Path, strings.TrimSuffix(dir, "/"))
		}
		n := &node{e: e, name: name}
		parent.children = append(parent.children, n)
		if e.Dir {
			dirs[e.Path] = n
		}
	}

	// The heap: the TOC digest, then the members' data in document order.
	heapOff := uint64(sha1.Size)
	var toc bytes.Buffer
	toc.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	toc.WriteString("<xar>\n <toc>\n")
	toc.WriteString("  <checksum style=\"sha1\">\n   <offset>0</offset>\n   <size>20</size>\n  </checksum>\n")
	fmt.Fprintf(&toc, "  <creation-time>%s</creation-time>\n", created.UTC().Format(timeLayout))
	var heap [][]byte
	id := 0
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		id++
		ind := strings.Repeat(" ", depth)
		e := n.e
		fmt.Fprintf(&toc, "%s<file id=\"%d\">\n", ind, id)
		if !e.Dir {
			sum := sha1.Sum(e.Data)
			hexSum := hex.EncodeToString(sum[:])
			fmt.Fprintf(&toc, "%s <data>\n", ind)
			fmt.Fprintf(&toc, "%s  <length>%d</length>\n", ind, len(e.Data))
			fmt.Fprintf(&toc, "%s  <offset>%d</offset>\n", ind, heapOff)
			fmt.Fprintf(&toc, "%s  <size>%d</size>\n", ind, len(e.Data))
			fmt.Fprintf(&toc, "%s  <encoding style=\"application/octet-stream\"/>\n", ind)
			// Stored as is: the archived and the extracted bytes are the same.
			fmt.Fprintf(&toc, "%s  <archived-checksum style=\"sha1\">%s</archived-checksum>\n", ind, hexSum)
			fmt.Fprintf(&toc, "%s  <extracted-checksum style=\"sha1\">%s</extracted-checksum>\n", ind, hexSum)
			fmt.Fprintf(&toc, "%s </data>\n", ind)
			heap = append(heap, e.Data)
			heapOff += uint64(len(e.Data))
		}
		t := e.ModTime.UTC().Format(timeLayout)
		element(&toc, ind+" ", "ctime", t)
		element(&toc, ind+" ", "mtime", t)
		element(&toc, ind+" ", "atime", t)
		element(&toc, ind+" ", "group", e.Group)
		element(&toc, ind+" ", "gid", strconv.FormatUint(uint64(e.GID), 10))
		element(&toc, ind+" ", "user", e.User)
		element(&toc, ind+" ", "uid", strconv.FormatUint(uint64(e.UID), 10))
		element(&toc, ind+" ", "mode", fmt.Sprintf("%04o", e.Mode))
		typ := "file"
		if e.Dir {
			typ = "directory"
		}
		element(&toc, ind+" ", "type", typ)
		element(&toc, ind+" ", "name", n.name)
		for _, c := range n.children {
			walk(c, depth+1)
		}
		fmt.Fprintf(&toc, "%s</file>\n", ind)
	}
	for _, c := range root.children {
		walk(c, 2)
	}
	toc.WriteString(" </toc>\n</xar>\n")

	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return fmt.Errorf("xar: %w", err)
	}
	zw.Write(toc.Bytes()) // a bytes.Buffer does not fail
	if err := zw.Close(); err != nil {
		return fmt.Errorf("xar: compress TOC: %w", err)
	}
	tocSum := sha1.Sum(z.Bytes())

	hdr := make([]byte, HeaderSize)
	binary.BigEndian.PutUint32(hdr[0:], Magic)
	binary.BigEndian.PutUint16(hdr[4:], HeaderSize)
	binary.BigEndian.PutUint16(hdr[6:], Version)
	binary.BigEndian.PutUint64(hdr[8:], uint64(z.Len()))
	binary.BigEndian.PutUint64(hdr[16:], uint64(toc.Len()))
	binary.BigEndian.PutUint32(hdr[24:], ChecksumSHA1)
	for _, b := range append([][]byte{hdr, z.Bytes(), tocSum[:]}, heap...) {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("xar: write: %w", err)
		}
	}
	return nil
}

func element(b *bytes.Buffer, indent, tag, text string) {
	b.WriteString(indent)
	b.WriteString("<" + tag + ">")
	xml.EscapeText(b, []byte(text)) // a bytes.Buffer does not fail
	b.WriteString("</" + tag + ">\n")
}

// checkPath accepts a clean relative slash path whose elements are not "."
// or "..": an extractor joins them to its destination.
func checkPath(p string) error {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == "." {
		return fmt.Errorf("xar: path %q: want a clean relative path", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "." {
			return fmt.Errorf("xar: path %q: want a clean relative path", p)
		}
	}
	if !validXMLText(p) {
		return fmt.Errorf("xar: path %q: not representable in XML", p)
	}
	return nil
}

// validXMLText reports whether s is UTF-8 without control characters or
// the non-characters XML 1.0 forbids; xml.EscapeText would otherwise
// replace them silently and the name read back would differ.
func validXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}
