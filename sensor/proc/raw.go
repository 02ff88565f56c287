package proc

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Raw buffers: what the kernel returned, kept as bytes so that `macsensor
// doctor` can pack them into a bundle and a test on Linux can decode them
// again. The decoders here are untagged; raw_darwin.go and raw_linux.go
// read the buffers.

// struct kinfo_proc as kern.proc.all returns it to a 64-bit process
// (struct user64_kinfo_proc, bsd/sys/user.h, filled by fill_user64_proc,
// fill_user64_externproc and fill_user64_eproc in bsd/kern/kern_sysctl.c).
// The offsets are those of golang.org/x/sys/unix.KinfoProc on darwin/arm64
// and darwin/amd64 (generated from the same headers); raw_darwin.go checks
// them against unsafe.Offsetof at compile time.
const (
	KinfoProcSize = 648

	offKpStartSec  = 0   // kp_proc.p_starttime.tv_sec (int64)
	offKpStartUsec = 8   // kp_proc.p_starttime.tv_usec (int32)
	offKpPID       = 40  // kp_proc.p_pid
	offKpComm      = 243 // kp_proc.p_comm, char[MAXCOMLEN+1]
	kpCommLen      = 17
	offKpUID       = 420 // kp_eproc.e_ucred.cr_uid (the effective uid)
	offKpPPID      = 560 // kp_eproc.e_ppid
	offKpLogin     = 616 // kp_eproc.e_login, char[MAXLOGNAME]
	kpLoginLen     = 12
)

var kpLE = binary.LittleEndian

// DecodeKinfoProcs decodes a kern.proc.all buffer (an array of struct
// kinfo_proc, little-endian on both Mac architectures) the way Table.List
// does on macOS: records with a negative pid are skipped, the rest are
// appended to dst[:0] sorted by pid. A buffer that is not a whole number of
// records is refused with its length.
func DecodeKinfoProcs(buf []byte, dst []Entry) ([]Entry, error) {
	dst = dst[:0]
	if len(buf)%KinfoProcSize != 0 {
		return dst, fmt.Errorf("proc: kern.proc.all: %d bytes is not a multiple of struct kinfo_proc (%d bytes)", len(buf), KinfoProcSize)
	}
	for off := 0; off < len(buf); off += KinfoProcSize {
		k := buf[off : off+KinfoProcSize]
		pid := int32(kpLE.Uint32(k[offKpPID:]))
		if pid < 0 {
			continue
		}
		e := Entry{
			PID:   pid,
			PPID:  int32(kpLE.Uint32(k[offKpPPID:])),
			UID:   kpLE.Uint32(k[offKpUID:]),
			Start: int64(kpLE.Uint64(k[offKpStartSec:]))*1e9 + int64(int32(kpLE.Uint32(k[offKpStartUsec:])))*1e3,
		}
		copy(e.Comm[:], k[offKpComm:offKpComm+len(e.Comm)])
		dst = append(dst, e)
	}
	slices.SortFunc(dst, func(a, b Entry) int { return int(a.PID) - int(b.PID) })
	return dst, nil
}

// BlankKinfoLogin zeroes kp_eproc.e_login, the setlogin(2) name, in every
// record of a kern.proc.all buffer, in place. Current xnu leaves it zero
// (fill_user64_eproc never writes it); the doctor's bundle blanks it anyway
// so that no user name travels in it. A buffer that is not a whole number
// of records is left alone and reported.
func BlankKinfoLogin(buf []byte) error {
	if len(buf)%KinfoProcSize != 0 {
		return fmt.Errorf("proc: kern.proc.all: %d bytes is not a multiple of struct kinfo_proc (%d bytes)", len(buf), KinfoProcSize)
	}
	for off := 0; off < len(buf); off += KinfoProcSize {
		clear(buf[off+offKpLogin : off+offKpLogin+kpLoginLen])
	}
	return nil
}

// ParseStatLine decodes one Linux /proc/<pid>/stat line into an Entry
// (PID, PPID, Comm, Start) with the boot time and the clock tick the Table
// used (BootClock); UID is not in the line and stays 0.
func ParseStatLine(line []byte, bootNs, tickNs int64) (Entry, error) {
	var e Entry
	err := parseStat(line, &e, bootClock{boot: bootNs, tickNs: tickNs})
	return e, err
}

// SplitCmdline splits a Linux /proc/<pid>/cmdline buffer into argv within
// MaxArgs and MaxArgBytes, as Table.Details does.
func SplitCmdline(b []byte) (args []string, truncated bool) {
	return splitArgs(b, -1, MaxArgs, MaxArgBytes, false)
}

// ProcargsArgv returns a copy of a kern.procargs2 buffer cut after argv:
// argc, the exec path, its padding and argc strings, without what follows
// (the environment and the "apple" strings dyld reads, which hold
// stack_guard and malloc_entropy: secrets of the process). ParseProcargs2
// of the result gives the same exec path and argv as of the whole buffer,
// except that an argv whose last string the kernel cut stays cut.
func ProcargsArgv(buf []byte) ([]byte, error) {
	if len(buf) < 4 {
		return nil, fmt.Errorf("proc: procargs2: %d bytes, need 4 for argc", len(buf))
	}
	argc := int32(kpLE.Uint32(buf))
	if argc < 0 || int64(argc) > int64(len(buf)-4) {
		return nil, fmt.Errorf("proc: procargs2: argc %d out of range for %d bytes", argc, len(buf)-4)
	}
	i := 4
	for i < len(buf) && buf[i] != 0 { // the exec path
		i++
	}
	if i == len(buf) {
		return nil, fmt.Errorf("proc: procargs2: exec path of %d bytes has no NUL", len(buf)-4)
	}
	for i < len(buf) && buf[i] == 0 { // its NUL and the padding
		i++
	}
	for n := int32(0); n < argc && i < len(buf); n++ {
		for i < len(buf) && buf[i] != 0 {
			i++
		}
		if i < len(buf) {
			i++ // the string's NUL
		}
	}
	return append([]byte(nil), buf[:i]...), nil
}
