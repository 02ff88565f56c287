package codesign

import (
	"debug/macho"
	"encoding/binary"
	"fmt"
	"io"
)

// Mach-O constants. The values are those of debug/macho (and of xnu's
// EXTERNAL_HEADERS/mach-o/loader.h and fat.h); debug/macho itself is not used
// to open the file because macho.NewFile decodes every load command and the
// whole symbol table, which costs megabytes for a large binary and is not
// needed here: only the header and LC_CODE_SIGNATURE are.
const (
	magicFat   = macho.MagicFat // 0xcafebabe, big-endian fat_header
	magicFat64 = 0xcafebabf     // fat_arch_64 entries (fat.h FAT_MAGIC_64)
	magic32    = macho.Magic32  // 0xfeedface, host (little) endian
	magic64    = macho.Magic64  // 0xfeedfacf

	lcCodeSignature = 0x1d // LC_CODE_SIGNATURE, a linkedit_data_command

	cpuX86_64 = uint32(macho.CpuAmd64) // CPU_TYPE_X86_64
	cpuArm64  = uint32(macho.CpuArm64) // CPU_TYPE_ARM64

	maxFatArches  = 64      // real files have 1-4; a bound against hostile counts
	maxLoadCmds   = 4 << 20 // sizeofcmds above this is not a real binary
	fatHeaderSize = 8
	fatArchSize   = 20
	fatArch64Size = 32
)

// slice is one architecture of a (possibly universal) Mach-O file: where it
// lies in the file and where its code signature lies in it.
type slice struct {
	Offset int64  // of the slice in the file (0 for a thin file)
	Size   int64  // bytes of the slice
	CPU    uint32 // CPU_TYPE_*
	SigOff int64  // LC_CODE_SIGNATURE dataoff, relative to the slice; 0 when unsigned
	SigLen int64  // LC_CODE_SIGNATURE datasize
}

// ArchName is the name Apple's tools print for a CPU type ("arm64",
// "x86_64"), or "cpu-0x..." for another.
func ArchName(cpu uint32) string {
	switch cpu {
	case cpuArm64:
		return "arm64"
	case cpuX86_64:
		return "x86_64"
	case uint32(macho.Cpu386):
		return "i386"
	case uint32(macho.CpuPpc):
		return "ppc"
	case uint32(macho.CpuPpc64):
		return "ppc64"
	case uint32(macho.CpuArm):
		return "arm"
	}
	return fmt.Sprintf("cpu-%#x", cpu)
}

// cpuOf maps an architecture name (GOARCH or Apple's) to a CPU type.
func cpuOf(arch string) uint32 {
	switch arch {
	case "arm64", "arm64e":
		return cpuArm64
	case "amd64", "x86_64":
		return cpuX86_64
	}
	return 0
}

// slices lists the architectures of the file at r (size bytes). A thin file
// yields one slice. Every offset and length read from the file is checked
// against size before use.
func slices(r io.ReaderAt, size int64) ([]slice, error) {
	var hdr [fatHeaderSize]byte
	if size < fatHeaderSize {
		return nil, errNotMachO
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("codesign: read header: %w", err)
	}
	switch be := binary.BigEndian.Uint32(hdr[:]); be {
	case magicFat, magicFat64:
		n := binary.BigEndian.Uint32(hdr[4:])
		// 0xcafebabe is also a Java class file's magic: its minor/major
		// version makes n large (e.g. 0x0000003d = 61 for Java 17 still
		// passes, so the arch table is also checked below).
		if n == 0 || n > maxFatArches {
			return nil, fmt.Errorf("%w: fat header with %d architectures", errNotMachO, n)
		}
		esz := int64(fatArchSize)
		if be == magicFat64 {
			esz = fatArch64Size
		}
		tbl := make([]byte, int64(n)*esz)
		if fatHeaderSize+int64(len(tbl)) > size {
			return nil, fmt.Errorf("%w: fat arch table past end of file", errMalformed)
		}
		if _, err := r.ReadAt(tbl, fatHeaderSize); err != nil {
			return nil, fmt.Errorf("codesign: read fat arch table: %w", err)
		}
		out := make([]slice, 0, n)
		for i := range int64(n) {
			e := tbl[i*esz:]
			s := slice{CPU: binary.BigEndian.Uint32(e)}
			if be == magicFat64 {
				s.Offset = int64(binary.BigEndian.Uint64(e[8:]))
				s.Size = int64(binary.BigEndian.Uint64(e[16:]))
			} else {
				s.Offset = int64(binary.BigEndian.Uint32(e[8:]))
				s.Size = int64(binary.BigEndian.Uint32(e[12:]))
			}
			if s.Offset < 0 || s.Size < 0 || s.Offset > size || s.Size > size-s.Offset {
				return nil, fmt.Errorf("%w: fat arch %d (offset %d, size %d) past end of file (%d bytes)", errMalformed, i, s.Offset, s.Size, size)
			}
			if err := thin(r, &s); err != nil {
				return nil, fmt.Errorf("codesign: fat arch %d: %w", i, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	s := slice{Size: size}
	if err := thin(r, &s); err != nil {
		return nil, err
	}
	return []slice{s}, nil
}

// thin reads the Mach-O header of the slice s and fills CPU and the code
// signature's location from LC_CODE_SIGNATURE.
func thin(r io.ReaderAt, s *slice) error {
	var h [32]byte
	if s.Size < 28 {
		return errNotMachO
	}
	n := 32
	if s.Size < 32 {
		n = 28
	}
	if _, err := r.ReadAt(h[:n], s.Offset); err != nil {
		return fmt.Errorf("codesign: read mach header: %w", err)
	}
	var hsz int64
	switch binary.LittleEndian.Uint32(h[:]) {
	case magic32:
		hsz = 28
	case magic64:
		hsz = 32
		if n < 32 {
			return fmt.Errorf("%w: truncated mach_header_64", errMalformed)
		}
	default:
		return errNotMachO
	}
	cpu := binary.LittleEndian.Uint32(h[4:])
	if s.CPU != 0 && s.CPU != cpu {
		return fmt.Errorf("%w: fat table says cpu %#x, header says %#x", errMalformed, s.CPU, cpu)
	}
	s.CPU = cpu
	ncmds := binary.LittleEndian.Uint32(h[16:])
	sizeofcmds := int64(binary.LittleEndian.Uint32(h[20:]))
	if sizeofcmds > maxLoadCmds || sizeofcmds > s.Size-hsz {
		return fmt.Errorf("%w: sizeofcmds %d larger than the slice", errMalformed, sizeofcmds)
	}
	cmds := make([]byte, sizeofcmds)
	if _, err := r.ReadAt(cmds, s.Offset+hsz); err != nil {
		return fmt.Errorf("codesign: read load commands: %w", err)
	}
	off := int64(0)
	for i := uint32(0); i < ncmds; i++ {
		if off+8 > sizeofcmds {
			return fmt.Errorf("%w: load command %d past sizeofcmds", errMalformed, i)
		}
		cmd := binary.LittleEndian.Uint32(cmds[off:])
		csz := int64(binary.LittleEndian.Uint32(cmds[off+4:]))
		if csz < 8 || csz > sizeofcmds-off {
			return fmt.Errorf("%w: load command %d has size %d", errMalformed, i, csz)
		}
		if cmd == lcCodeSignature {
			if csz < 16 {
				return fmt.Errorf("%w: LC_CODE_SIGNATURE of %d bytes", errMalformed, csz)
			}
			if s.SigOff != 0 {
				return fmt.Errorf("%w: two LC_CODE_SIGNATURE commands", errMalformed)
			}
			s.SigOff = int64(binary.LittleEndian.Uint32(cmds[off+8:]))
			s.SigLen = int64(binary.LittleEndian.Uint32(cmds[off+12:]))
			if s.SigOff == 0 || s.SigOff > s.Size || s.SigLen > s.Size-s.SigOff {
				return fmt.Errorf("%w: code signature (offset %d, size %d) outside the slice (%d bytes)", errTruncated, s.SigOff, s.SigLen, s.Size)
			}
		}
		off += csz
	}
	return nil
}

// pick chooses the slice the host would run: the one whose CPU is cpu,
// else the only one. It reports false when no slice fits.
func pick(ss []slice, cpu uint32) (slice, bool) {
	for _, s := range ss {
		if s.CPU == cpu {
			return s, true
		}
	}
	if len(ss) == 1 {
		return ss[0], true
	}
	return slice{}, false
}
