// Package xarread reads xar archives, to check what pkg-build/xar writes:
// header, zlib-compressed TOC and its checksum, and each member's archived
// and extracted digests. Only tests use it; the writer and its format notes
// are in pkg-build/xar.
//
// It follows xar's own reader (apple-oss-distributions/xar lib/archive.c
// xar_open) and libarchive's archive_read_support_format_xar.c, with every
// offset and length bounds-checked: its input is untrusted bytes. Besides
// what the writer emits it accepts application/x-gzip members (a zlib
// stream, despite the name; xar lib/zxar.c) and MD5 digests.
package xarread
