// Package cpio writes and reads cpio archives in the POSIX.1 "odc" format
// (magic "070707", octal ASCII headers), the format of the Payload and
// Scripts members of a macOS flat package. The reader exists to test the
// writer and to fuzz; it is not a general extractor (no hard links, no
// device files).
//
// Format: POSIX.1-1988 / SUSv2 "cpio" interchange format, described in
// cpio(5) of libarchive and GNU cpio's "odc" (copyin.c read_in_old_ascii).
// Each member is a 76-byte header of eleven octal fields, the name with its
// terminating NUL, then the data, with no padding.
package cpio
