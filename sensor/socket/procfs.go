package socket

import (
	"bytes"
	"fmt"
)

// Parsers for what procfs_linux.go reads from /proc. They are untagged so
// that they are tested on every OS.

// struct linux_dirent64 (include/linux/dirent.h), as getdents64(2) returns
// it: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, NUL-terminated d_name.
const (
	offDirentReclen = 16
	offDirentName   = 19
)

// nextDirent splits the first entry off a getdents64 buffer and returns its
// name (without the NUL) and the rest of the buffer.
func nextDirent(buf []byte) (name, rest []byte, err error) {
	if len(buf) < offDirentName {
		return nil, nil, fmt.Errorf("socket: getdents64: truncated entry (%d bytes)", len(buf))
	}
	reclen := int(ne.Uint16(buf[offDirentReclen:]))
	if reclen <= offDirentName || reclen > len(buf) {
		return nil, nil, fmt.Errorf("socket: getdents64: d_reclen %d outside (%d, %d]", reclen, offDirentName, len(buf))
	}
	name = buf[offDirentName:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return name, buf[reclen:], nil
}

// parsePID returns the pid a /proc entry name stands for; other entries
// (self, net, sys, ...) are not pids.
func parsePID(name []byte) (int32, bool) {
	if len(name) == 0 || name[0] == '0' {
		return 0, false
	}
	v, ok := parseUint(name, 10, 31)
	return int32(v), ok
}

// parseSocketLink returns the inode of an fd link "socket:[12345]"
// (net/socket.c sockfs_dname).
func parseSocketLink(link []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(link) < len(prefix)+2 || string(link[:len(prefix)]) != prefix || link[len(link)-1] != ']' {
		return 0, false
	}
	return parseUint(link[len(prefix):len(link)-1], 10, 64)
}
