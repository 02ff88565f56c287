package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// This file holds the untagged parsers of what Linux's /proc returns; the
// system calls are in proc_linux.go.

// bootClock turns a /proc/<pid>/stat starttime (clock ticks since boot) into
// Unix nanoseconds.
type bootClock struct {
	boot   int64 // boot time, Unix nanoseconds
	tickNs int64 // nanoseconds per clock tick: 1e9 / CLK_TCK
}

// ns converts a starttime in clock ticks.
func (c bootClock) ns(ticks uint64) int64 {
	return c.boot + int64(ticks)*c.tickNs
}

// statStartField is the 1-based index of starttime in /proc/<pid>/stat
// (proc(5); fs/proc/array.c, do_task_stat). Fields 1 and 2 are pid and
// (comm); the fields after comm start at 3 (state).
const statStartField = 22

var errStat = errors.New("proc: malformed /proc/<pid>/stat")

// parseStat decodes one /proc/<pid>/stat line into e: PID, Comm, PPID,
// PGID (field 5, pgrp), SID (field 6, session) and Start (through clk). UID is not in the line and is left alone.
//
// comm is everything between the first '(' and the LAST ')': the kernel
// prints it raw (do_task_stat calls proc_task_name with escape off), so it
// may hold spaces, parentheses and even newlines. It is cut to 16 bytes:
// a task's comm is at most 15 (TASK_COMM_LEN), but kernel worker threads
// are shown longer ("kworker/u8:2-events_unbound", fs/proc/array.c,
// proc_task_name).
func parseStat(buf []byte, e *Entry, clk bootClock) error {
	open := bytes.IndexByte(buf, '(')
	closing := bytes.LastIndexByte(buf, ')')
	if open < 0 || closing < open {
		return fmt.Errorf("%w: no (comm)", errStat)
	}
	pid, ok := parseDecimal(bytes.TrimRight(buf[:open], " "))
	if !ok || pid > 1<<31-1 {
		return fmt.Errorf("%w: bad pid", errStat)
	}
	var ppid, pgrp, session, start uint64
	rest := buf[closing+1:]
	for field := 3; field <= statStartField; field++ {
		if len(rest) == 0 || rest[0] != ' ' {
			return fmt.Errorf("%w: %d fields, want %d", errStat, field-1, statStartField)
		}
		rest = rest[1:]
		end := 0
		for end < len(rest) && rest[end] != ' ' && rest[end] != '\n' {
			end++
		}
		if end == 0 {
			return fmt.Errorf("%w: empty field %d", errStat, field)
		}
		tok := rest[:end]
		rest = rest[end:]
		switch field {
		case 4:
			if ppid, ok = parseDecimal(tok); !ok || ppid > 1<<31-1 {
				return fmt.Errorf("%w: bad ppid %q", errStat, tok)
			}
		case 5:
			if pgrp, ok = parseDecimal(tok); !ok || pgrp > 1<<31-1 {
				return fmt.Errorf("%w: bad pgrp %q", errStat, tok)
			}
		case 6:
			if session, ok = parseDecimal(tok); !ok || session > 1<<31-1 {
				return fmt.Errorf("%w: bad session %q", errStat, tok)
			}
		case statStartField:
			if start, ok = parseDecimal(tok); !ok || start > 1<<62/uint64(max(clk.tickNs, 1)) {
				return fmt.Errorf("%w: bad starttime %q", errStat, tok)
			}
		}
	}
	e.PID = int32(pid)
	e.PPID = int32(ppid)
	e.PGID = int32(pgrp)
	e.SID = int32(session)
	e.Start = clk.ns(start)
	e.Comm = [16]byte{}
	copy(e.Comm[:], buf[open+1:closing])
	return nil
}

// statState returns the state letter of a /proc/<pid>/stat line (field 3:
// R, S, D, Z, X, ...), or 0 if the line is malformed.
func statState(buf []byte) byte {
	closing := bytes.LastIndexByte(buf, ')')
	if closing < 0 || closing+2 >= len(buf) || buf[closing+1] != ' ' {
		return 0
	}
	return buf[closing+2]
}

// parseBtime returns the boot time (Unix seconds) from the contents of
// /proc/stat ("btime 1700000000" line; proc(5), fs/proc/stat.c).
func parseBtime(procStat []byte) (int64, error) {
	for len(procStat) > 0 {
		line := procStat
		if i := bytes.IndexByte(procStat, '\n'); i >= 0 {
			line, procStat = procStat[:i], procStat[i+1:]
		} else {
			procStat = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, ok := parseDecimal(bytes.TrimSpace(v))
			if !ok || n > 1<<40 {
				return 0, fmt.Errorf("proc: /proc/stat: bad btime %q", v)
			}
			return int64(n), nil
		}
	}
	return 0, errors.New("proc: /proc/stat: no btime line")
}

// parseDecimal parses an unsigned decimal number of 1 to 19 digits.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parsePID parses a /proc directory name as a process id: digits only,
// 1 to 2^31-1. Other names (self, sys, ...) report false.
func parsePID(name []byte) (int32, bool) {
	if len(name) > 10 || (len(name) > 0 && name[0] == '0') {
		return 0, false
	}
	n, ok := parseDecimal(name)
	if !ok || n == 0 || n > 1<<31-1 {
		return 0, false
	}
	return int32(n), true
}

// linux_dirent64 layout (include/linux/dirent.h; getdents64(2)):
// d_ino u64 at 0, d_off s64 at 8, d_reclen u16 at 16, d_type u8 at 18,
// d_name NUL-terminated from 19, the record padded to 8 bytes.
const (
	offDirentReclen = 16
	offDirentName   = 19
)

// nextDirent splits the first linux_dirent64 record off buf. It returns the
// entry's name (without its NUL) and the remaining records; ok is false when
// the record is malformed (its length is shorter than its header or longer
// than buf). The kernel writes the record in the host's byte order.
func nextDirent(buf []byte) (name, rest []byte, ok bool) {
	if len(buf) < offDirentName {
		return nil, nil, false
	}
	reclen := int(binary.NativeEndian.Uint16(buf[offDirentReclen:]))
	if reclen < offDirentName || reclen > len(buf) {
		return nil, nil, false
	}
	name = buf[offDirentName:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return name, buf[reclen:], true
}
