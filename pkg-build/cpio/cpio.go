package cpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// File type bits of Entry.Mode (st_mode, as in <sys/stat.h>).
const (
	TypeMask    = 0o170000
	TypeDir     = 0o040000
	TypeRegular = 0o100000
	TypeSymlink = 0o120000
)

// Trailer is the name of the member that ends an archive.
const Trailer = "TRAILER!!!"

const (
	magic      = "070707"
	headerSize = 76
	max6       = 0o777777      // largest value of a 6-digit field
	max11      = 0o77777777777 // largest value of an 11-digit field
)

// Entry is one archive member.
type Entry struct {
	Name  string // e.g. "." or "./Library/macsensor/bin/macsensor"
	Mode  uint32 // st_mode: Type* bits | permission bits
	UID   uint32
	GID   uint32
	Mtime int64  // seconds since the epoch
	Data  []byte // file contents; the link target for a symlink; nil for a directory
}

// Write writes entries in order as an odc archive, followed by the trailer.
// Inode numbers are 1..n in order, so no two members look like hard links;
// directories get nlink 2, other members 1; dev and rdev are 0.
func Write(w io.Writer, entries []Entry) error {
	var buf bytes.Buffer
	for i, e := range entries {
		if err := validate(e); err != nil {
			return err
		}
		nlink := uint64(1)
		if e.Mode&TypeMask == TypeDir {
			nlink = 2
		}
		buf.Reset()
		writeHeader(&buf, uint64(i+1), uint64(e.Mode), uint64(e.UID), uint64(e.GID), nlink, uint64(e.Mtime), e.Name, uint64(len(e.Data)))
		buf.Write(e.Data)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("cpio: write %s: %w", e.Name, err)
		}
	}
	buf.Reset()
	writeHeader(&buf, 0, 0, 0, 0, 1, 0, Trailer, 0)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("cpio: write trailer: %w", err)
	}
	return nil
}

func validate(e Entry) error {
	switch {
	case e.Name == "":
		return errors.New("cpio: empty name")
	case bytes.IndexByte([]byte(e.Name), 0) >= 0:
		return fmt.Errorf("cpio: name %q contains NUL", e.Name)
	case e.Name == Trailer:
		return fmt.Errorf("cpio: name %q is reserved for the trailer", e.Name)
	case len(e.Name)+1 > max6:
		return fmt.Errorf("cpio: %s: name longer than %d bytes", e.Name, max6-1)
	case e.Mode > max6:
		return fmt.Errorf("cpio: %s: mode %#o does not fit 6 octal digits", e.Name, e.Mode)
	case e.UID > max6 || e.GID > max6:
		return fmt.Errorf("cpio: %s: uid %d / gid %d do not fit 6 octal digits", e.Name, e.UID, e.GID)
	case e.Mtime < 0 || e.Mtime > max11:
		return fmt.Errorf("cpio: %s: mtime %d out of range", e.Name, e.Mtime)
	case uint64(len(e.Data)) > max11:
		return fmt.Errorf("cpio: %s: %d bytes is more than odc's 8 GiB", e.Name, len(e.Data))
	}
	switch e.Mode & TypeMask {
	case TypeRegular, TypeSymlink:
	case TypeDir:
		if len(e.Data) != 0 {
			return fmt.Errorf("cpio: %s: directory with data", e.Name)
		}
	default:
		return fmt.Errorf("cpio: %s: unsupported file type %#o", e.Name, e.Mode&TypeMask)
	}
	return nil
}

func writeHeader(b *bytes.Buffer, ino, mode, uid, gid, nlink, mtime uint64, name string, size uint64) {
	b.WriteString(magic)
	octal(b, 0, 6) // c_dev
	octal(b, ino, 6)
	octal(b, mode, 6)
	octal(b, uid, 6)
	octal(b, gid, 6)
	octal(b, nlink, 6)
	octal(b, 0, 6) // c_rdev
	octal(b, mtime, 11)
	octal(b, uint64(len(name)+1), 6)
	octal(b, size, 11)
	b.WriteString(name)
	b.WriteByte(0)
}

// octal writes v zero-padded to width digits; callers checked the range.
func octal(b *bytes.Buffer, v uint64, width int) {
	var tmp [22]byte
	s := strconv.AppendUint(tmp[:0], v, 8)
	for i := len(s); i < width; i++ {
		b.WriteByte('0')
	}
	b.Write(s)
}

// Read parses an odc archive up to its trailer. The Data of each entry
// aliases data. Bytes after the trailer are ignored (tape padding).
func Read(data []byte) ([]Entry, error) {
	var out []Entry
	off := 0
	for {
		if len(data)-off < headerSize {
			return nil, fmt.Errorf("cpio: truncated header at offset %d", off)
		}
		h := data[off : off+headerSize]
		if string(h[:6]) != magic {
			return nil, fmt.Errorf("cpio: bad magic %q at offset %d", h[:6], off)
		}
		var f [10]uint64
		widths := [10]int{6, 6, 6, 6, 6, 6, 6, 11, 6, 11}
		p := 6
		for i, w := range widths {
			v, err := strconv.ParseUint(string(h[p:p+w]), 8, 64)
			if err != nil {
				return nil, fmt.Errorf("cpio: bad header field %d at offset %d: %q", i, off, h[p:p+w])
			}
			f[i] = v
			p += w
		}
		mode, uid, gid, mtime, namesize, filesize := f[2], f[3], f[4], f[7], f[8], f[9]
		off += headerSize
		if namesize == 0 || namesize > uint64(len(data)-off) {
			return nil, fmt.Errorf("cpio: name size %d out of range at offset %d", namesize, off)
		}
		nameb := data[off : off+int(namesize)]
		if nameb[len(nameb)-1] != 0 {
			return nil, fmt.Errorf("cpio: name not NUL-terminated at offset %d", off)
		}
		name := string(nameb[:len(nameb)-1])
		off += int(namesize)
		if name == Trailer {
			return out, nil
		}
		if filesize > uint64(len(data)-off) {
			return nil, fmt.Errorf("cpio: %s: size %d beyond end of archive", name, filesize)
		}
		out = append(out, Entry{
			Name:  name,
			Mode:  uint32(mode),
			UID:   uint32(uid),
			GID:   uint32(gid),
			Mtime: int64(mtime),
			Data:  data[off : off+int(filesize) : off+int(filesize)],
		})
		off += int(filesize)
	}
}
