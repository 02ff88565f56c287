// Package bomread reads the bill of materials ("Bom", a BOMStore file) of
// a macOS component package, to check what pkg-build/bom writes. Only
// tests use it; the writer and its format notes are in pkg-build/bom.
//
// It decodes as bomutils' lsbom does (hogliux/bomutils src/lsbom.cpp), with
// every offset, length and block index bounds-checked and the Paths leaf
// chain and parent links checked for cycles: its input is untrusted bytes.
package bomread
