// Package fat assembles a universal ("fat") Mach-O binary from thin
// 64-bit slices, as lipo -create does, and checks one.
//
// Layout (xnu EXTERNAL_HEADERS/mach-o/fat.h: "All structures defined here
// are always written and read to/from disk in big-endian order"), whatever
// the slices' byte order:
//
//	fat_header { magic 0xcafebabe, nfat_arch }
//	fat_arch   { cputype, cpusubtype, offset, size, align } per slice
//
// then each slice at its offset, aligned to 2^align bytes; fat.h: "The
// padded bytes ... are defined to be read as zeros". align is 14 (16 KiB,
// the arm64 page size; a multiple of x86_64's 4 KiB pages, so valid for
// both). Slices are ordered by cputype, so x86_64 (0x01000007) comes before
// arm64 (0x0100000c), the order of Apple's own universal binaries.
package fat
