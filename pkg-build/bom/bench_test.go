package bom

import (
	"fmt"
	"testing"
)

func BenchmarkChecksum(b *testing.B) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Checksum(data)
	}
}

func BenchmarkWrite1000(b *testing.B) {
	entries := []Entry{{Path: ".", Mode: 0o040755}, {Path: "./d", Mode: 0o040755}}
	for i := range 1000 {
		entries = append(entries, Entry{Path: fmt.Sprintf("./d/f%04d", i), Mode: 0o100644, Size: 1})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(entries); err != nil {
			b.Fatal(err)
		}
	}
}
