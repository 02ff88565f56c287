// Package xar writes xar archives, the container of macOS flat packages
// (.pkg). pkg-build/internal/xarread reads them back in tests.
//
// Layout (mackyle/xar and apple-oss-distributions/xar: include/xar.h.in
// struct xar_header; lib/archive.c xar_open and xar_close; libarchive
// archive_read_support_format_xar.c), all integers big-endian:
//
//	header  magic "xar!" (0x78617221), header size u16 = 28, version u16 = 1,
//	        TOC compressed length u64, TOC uncompressed length u64,
//	        checksum algorithm u32 (0 none, 1 SHA-1, 2 MD5)
//	TOC     zlib-compressed UTF-8 XML: <xar><toc> with <checksum
//	        style="sha1"><offset>0</offset><size>20</size></checksum>,
//	        <creation-time>, and one nested <file> element per member
//	heap    starts right after the TOC; at the TOC checksum's offset (0) the
//	        digest of the *compressed* TOC bytes, then the members' data at
//	        the offsets their <data> elements give, relative to the heap.
//
// Each member's <data> carries <length> (bytes in the heap), <size>
// (extracted bytes), <offset>, <encoding style=...> and the digests of the
// archived and of the extracted bytes. The writer stores members as they
// are (application/octet-stream) with SHA-1 digests, which is what
// productbuild does for the already-compressed Payload.
//
// Signatures (<signature> in the TOC) are not written: productsign or
// rcodesign add them to the finished archive.
package xar
