package proc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// ParseProcargs2 decodes the buffer returned by the macOS sysctl
// {CTL_KERN, KERN_PROCARGS2, pid} ("kern.procargs2.<pid>"). It returns the
// exec path recorded by the kernel and argv, and never returns anything that
// follows the argc-th argument (the environment, then the "apple" strings).
//
// Layout, from xnu bsd/kern/kern_sysctl.c (sysctl_procargsx) and
// bsd/kern/kern_exec.c (exec_save_path, exec_extract_strings):
//
//	int32 argc                    host byte order: little-endian on arm64 and x86_64
//	exec path, NUL-terminated     the kernel strips its "executable_path=" prefix
//	NUL padding                   to pointer alignment
//	argc NUL-terminated strings   argv
//	environment, apple strings    never returned
//
// maxArgs and maxBytes cap the arguments kept (a value ≤ 0 means no cap):
// at most maxArgs arguments and maxBytes bytes of argument text, separators
// not counted; an argument that crosses maxBytes is cut there (never inside
// a valid UTF-8 sequence) and nothing after it is kept. Bytes are kept as
// they are, valid UTF-8 or not: the ECS encoder escapes them.
//
// Decisions on damaged buffers:
//   - fewer than 4 bytes, a negative argc, an argc larger than the bytes
//     that follow it (every argument needs at least its NUL), or an exec
//     path without its NUL: an error, and nothing else is returned;
//   - fewer strings than argc (the buffer ends early), or a last argument
//     without its NUL: the arguments present are returned, truncated is true,
//     and err is nil. A damaged tail costs the tail, not the process.
//
// Quirks the format forces on every reader (the kernel's own walker in
// sysctl_procargsx has the same two):
//   - the padding after the exec path is skipped as "all NULs", so an empty
//     argv[0] is indistinguishable from padding and is lost; argv then
//     shifts by one and the argc-th string read is the first environment
//     string;
//   - argv is what is in the process's memory when read: a process that
//     rewrote its argv area without NUL terminators makes later strings,
//     environment included, look like arguments.
//
// If the caller's buffer is smaller than the process's strings area, the
// kernel returns its tail, not its head (see the rdar://25397314 comment in
// sysctl_procargsx): size the buffer with the kernel's size probe, as
// unix.SysctlRaw does.
func ParseProcargs2(buf []byte, maxArgs, maxBytes int) (execPath string, args []string, truncated bool, err error) {
	if len(buf) < 4 {
		return "", nil, false, fmt.Errorf("proc: procargs2: %d bytes, need 4 for argc", len(buf))
	}
	argc := int32(binary.LittleEndian.Uint32(buf))
	rest := buf[4:]
	if argc < 0 || int64(argc) > int64(len(rest)) {
		return "", nil, false, fmt.Errorf("proc: procargs2: argc %d out of range for %d bytes", argc, len(rest))
	}
	n := bytes.IndexByte(rest, 0)
	if n < 0 {
		return "", nil, false, fmt.Errorf("proc: procargs2: exec path of %d bytes has no NUL", len(rest))
	}
	execPath = string(rest[:n])
	i := n + 1
	for i < len(rest) && rest[i] == 0 {
		i++
	}
	args, truncated = splitArgs(rest[i:], int(argc), maxArgs, maxBytes, true)
	return execPath, args, truncated, nil
}

// splitArgs splits NUL-terminated strings from b: at most want of them
// (want < 0: until b ends), within the maxArgs and maxBytes caps (≤ 0: no
// cap). It reports truncated when a cap cut argv, when b held fewer than
// want strings, or, if unterminatedIsCut, when the last string had no NUL.
// The strings share one allocation; the slice is a second one.
func splitArgs(b []byte, want, maxArgs, maxBytes int, unterminatedIsCut bool) ([]string, bool) {
	s := argScan{b: b, want: want, maxArgs: maxArgs, maxBytes: maxBytes, cutUnterminated: unterminatedIsCut}
	count, end := 0, 0
	for {
		_, e, ok := s.next()
		if !ok {
			break
		}
		count++
		end = e
	}
	if count == 0 {
		return nil, s.truncated
	}
	block := string(b[:end])
	args := make([]string, 0, count)
	s = argScan{b: b, want: want, maxArgs: maxArgs, maxBytes: maxBytes, cutUnterminated: unterminatedIsCut}
	for {
		start, e, ok := s.next()
		if !ok {
			break
		}
		args = append(args, block[start:e])
	}
	return args, s.truncated
}

// argScan walks NUL-terminated strings, applying the caps. next returns the
// byte range of the next kept argument in b.
type argScan struct {
	b                        []byte
	pos                      int
	want, maxArgs, maxBytes  int
	n, text                  int // arguments and argument bytes kept so far
	cutUnterminated, stopped bool
	truncated                bool
}

func (s *argScan) next() (start, end int, ok bool) {
	if s.stopped || (s.want >= 0 && s.n >= s.want) {
		return 0, 0, false
	}
	if s.pos >= len(s.b) {
		if s.want >= 0 { // fewer strings than argc
			s.truncated = true
		}
		return 0, 0, false
	}
	if s.maxArgs > 0 && s.n >= s.maxArgs {
		s.truncated = true
		return 0, 0, false
	}
	start = s.pos
	if i := bytes.IndexByte(s.b[start:], 0); i >= 0 {
		end = start + i
		s.pos = end + 1
	} else {
		end = len(s.b)
		s.pos = end
		if s.cutUnterminated {
			s.truncated = true
		}
	}
	if s.maxBytes > 0 && s.text+(end-start) > s.maxBytes {
		s.truncated = true
		s.stopped = true
		room := s.maxBytes - s.text
		if room == 0 {
			return 0, 0, false
		}
		end = start + cutUTF8(s.b[start:end], room)
	}
	s.n++
	s.text += end - start
	return start, end, true
}

// cutUTF8 returns a length ≤ n at which to cut b (len(b) > n) without
// splitting a valid UTF-8 sequence that straddles n. Invalid bytes are cut
// where they fall.
func cutUTF8(b []byte, n int) int {
	for i := n; i >= 0 && i > n-utf8.UTFMax; i-- {
		if !utf8.RuneStart(b[i]) {
			continue
		}
		if i == n {
			return n // b[n] starts a rune: nothing straddles
		}
		r, size := utf8.DecodeRune(b[i:])
		if (r != utf8.RuneError || size > 1) && i+size > n {
			return i // a valid rune starts at i and ends past n
		}
		return n
	}
	return n
}
