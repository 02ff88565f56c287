// Package bom writes the bill of materials ("Bom") of a macOS
// component package: a BOMStore file listing every path of the payload
// with its type, mode, owner, modification time, size and CRC.
// pkg-build/internal/bomread reads it back in tests.
//
// Apple does not document the format. This package follows bomutils'
// reverse-engineered description (hogliux/bomutils: src/bom.h for the
// structures, src/mkbom.cpp for how a valid file is laid out,
// src/lsbom.cpp for how it is read):
//
//   - a 512-byte header: "BOMStore", version 1, number of non-null blocks,
//     offset and length of the block table (index), offset and length of
//     the variables;
//   - the variables: count, then (block index, name length, name) for
//     "BomInfo", "Paths", "HLIndex", "VIndex" and "Size64";
//   - the blocks; then the block table (count, then address/length pairs,
//     entry 0 null) and a free list (count 0 and two null pairs);
//   - "Paths" is a B-tree ("tree", version 1, child, block size 4096, path
//     count): leaves (BOMPaths, isLeaf 1) of up to 256 (BOMPathInfo1,
//     BOMFile) pairs, chained by forward/backward, under one branch node when
//     there is more than one leaf. BOMFile is (parent id, NUL-terminated
//     name); BOMPathInfo1 is (id, index of BOMPathInfo2); BOMPathInfo2 holds
//     type, 1, architecture (3, as mkbom), mode, uid, gid, modtime, size, 1,
//     checksum, link name length and link name.
//
// All integers are big-endian. Ids are given breadth-first, children in
// byte order of their names, as mkbom does; the root "." has id 1 and
// parent 0. The checksum of a file is the POSIX cksum(1) CRC of its
// contents (bomutils src/crc32.cpp), that of a symlink the CRC of its
// target.
package bom
