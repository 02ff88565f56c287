package fat

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"fmt"
	"sort"
)

// Align is log2 of the slice alignment.
const Align = 14

const (
	magicFat    = 0xcafebabe
	headerSize  = 8
	archSize    = 20
	maxSliceLen = 1<<32 - 1
)

type slice struct {
	cpu, subcpu uint32
	data        []byte
}

// Build returns a universal binary holding the given thin 64-bit Mach-O
// files. cputype and cpusubtype are copied from each slice's header
// (capability bits included, as lipo does).
func Build(thin ...[]byte) ([]byte, error) {
	if len(thin) == 0 {
		return nil, fmt.Errorf("fat: no slices")
	}
	var ss []slice
	seen := map[uint32]bool{}
	for i, b := range thin {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("fat: slice %d: %w", i, err)
		}
		if f.Magic != macho.Magic64 {
			return nil, fmt.Errorf("fat: slice %d: not a 64-bit little-endian Mach-O (magic %#x)", i, f.Magic)
		}
		cpu := uint32(f.Cpu)
		if seen[cpu] {
			return nil, fmt.Errorf("fat: two slices for %v", f.Cpu)
		}
		seen[cpu] = true
		if uint64(len(b)) > maxSliceLen {
			return nil, fmt.Errorf("fat: slice %d (%v): %d bytes does not fit 32-bit offsets", i, f.Cpu, len(b))
		}
		ss = append(ss, slice{cpu: cpu, subcpu: f.SubCpu, data: b})
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].cpu < ss[j].cpu })

	const alignment = 1 << Align
	offsets := make([]uint64, len(ss))
	end := uint64(headerSize + archSize*len(ss))
	for i, s := range ss {
		offsets[i] = (end + alignment - 1) &^ (alignment - 1)
		end = offsets[i] + uint64(len(s.data))
	}
	if end > maxSliceLen {
		return nil, fmt.Errorf("fat: %d bytes does not fit 32-bit offsets", end)
	}
	out := make([]byte, end)
	be := binary.BigEndian
	be.PutUint32(out[0:], magicFat)
	be.PutUint32(out[4:], uint32(len(ss)))
	for i, s := range ss {
		a := out[headerSize+archSize*i:]
		be.PutUint32(a[0:], s.cpu)
		be.PutUint32(a[4:], s.subcpu)
		be.PutUint32(a[8:], uint32(offsets[i]))
		be.PutUint32(a[12:], uint32(len(s.data)))
		be.PutUint32(a[16:], Align)
		copy(out[offsets[i]:], s.data)
	}
	return out, nil
}

// Check verifies that b is a universal binary with exactly the given CPU
// types, each slice a Mach-O file of that type.
func Check(b []byte, want ...macho.Cpu) error {
	ff, err := macho.NewFatFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	defer ff.Close()
	got := map[macho.Cpu]bool{}
	for _, a := range ff.Arches {
		if a.Cpu != a.File.Cpu {
			return fmt.Errorf("fat: fat_arch says %v, its slice is %v", a.Cpu, a.File.Cpu)
		}
		got[a.Cpu] = true
	}
	if len(got) != len(want) || len(ff.Arches) != len(want) {
		return fmt.Errorf("fat: %d slices, want %v", len(ff.Arches), want)
	}
	for _, c := range want {
		if !got[c] {
			return fmt.Errorf("fat: no %v slice", c)
		}
	}
	return nil
}

// lcBuildVersion is LC_BUILD_VERSION (<mach-o/loader.h>); platform 1 is
// PLATFORM_MACOS.
const (
	lcBuildVersion = 0x32
	platformMacOS  = 1
)

// MinMacOS returns the highest minimum macOS version ("12.0") declared by
// the LC_BUILD_VERSION load commands of b's slices (b thin or universal):
// the oldest macOS on which every slice runs. Go's linker writes 12.0.0
// for darwin/amd64 and darwin/arm64 (cmd/link/internal/ld/macho.go), its
// oldest supported macOS. ok is false when no slice declares one.
func MinMacOS(b []byte) (version string, ok bool, err error) {
	var files []*macho.File
	if ff, ferr := macho.NewFatFile(bytes.NewReader(b)); ferr == nil {
		for _, a := range ff.Arches {
			files = append(files, a.File)
		}
	} else {
		f, terr := macho.NewFile(bytes.NewReader(b))
		if terr != nil {
			return "", false, fmt.Errorf("fat: neither universal (%v) nor thin Mach-O: %w", ferr, terr)
		}
		files = append(files, f)
	}
	var best uint32
	for _, f := range files {
		for _, l := range f.Loads {
			raw := l.Raw()
			if len(raw) < 16 || f.ByteOrder.Uint32(raw) != lcBuildVersion || f.ByteOrder.Uint32(raw[8:]) != platformMacOS {
				continue
			}
			if v := f.ByteOrder.Uint32(raw[12:]); v > best {
				best = v
			}
			ok = true
		}
	}
	if !ok {
		return "", false, nil
	}
	// minos is xxxx.yy.zz nibbles: X.Y.Z in bytes 2-3, 1, 0.
	version = fmt.Sprintf("%d.%d", best>>16, best>>8&0xff)
	if z := best & 0xff; z != 0 {
		version += fmt.Sprintf(".%d", z)
	}
	return version, true, nil
}
