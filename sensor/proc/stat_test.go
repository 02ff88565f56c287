package proc

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testClock is a boot clock with btime 1,700,000,000 and USER_HZ 100.
var testClock = bootClock{boot: 1_700_000_000 * 1e9, tickNs: 1e7}

func TestParseStat(t *testing.T) {
	tests := []struct {
		file        string
		pid, ppid   int32
		pgid, sid   int32
		startTicks  int64
		comm        string
		state       byte
		errContains string
	}{
		// Captured on Linux 6.18.
		{file: "init.stat", pid: 1, ppid: 0, pgid: 0, sid: 0, startTicks: 21, comm: "process_api", state: 'S'},
		{file: "kthreadd.stat", pid: 2, ppid: 0, startTicks: 21, comm: "kthreadd", state: 'S'},
		{file: "cat.stat", pid: 22550, ppid: 22465, pgid: 22465, sid: 3020, startTicks: 96963, comm: "cat", state: 'R'},
		// A workqueue worker's comm is printed past 15 bytes; Comm keeps 16.
		{file: "kworker_long_comm.stat", pid: 79, ppid: 2, startTicks: 134, comm: "kworker/R-ext4-r", state: 'I'},
		// Synthetic: what a process may set its comm to.
		{file: "comm_parens.stat", pid: 31337, ppid: 4242, pgid: 31337, sid: 4242, startTicks: 123456, comm: "a) (b) c)", state: 'S'},
		{file: "comm_spaces.stat", pid: 2001, ppid: 1, pgid: 2001, sid: 2001, startTicks: 5000, comm: "tmux: server", state: 'S'},
		{file: "zombie_newline_comm.stat", pid: 777, ppid: 700, pgid: 700, sid: 700, startTicks: 99, comm: "we\nird", state: 'Z'},
		// The kernel's comm of a binary named com.apple.automator.runner;
		// a starttime past 32 bits.
		{file: "runner.stat", pid: 4000, ppid: 3999, pgid: 4000, sid: 3999, startTicks: 1 << 32, comm: "com.apple.autom", state: 'S'},
		{file: "short.stat", state: 'S', errContains: "21 fields, want 22"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			buf, err := os.ReadFile(filepath.Join("testdata", "stat", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := statState(buf); got != tt.state {
				t.Errorf("statState = %q, want %q", got, tt.state)
			}
			e := Entry{UID: 501}
			err = parseStat(buf, &e, testClock)
			if tt.errContains != "" {
				if err == nil || !errors.Is(err, errStat) || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Entry{PID: tt.pid, PPID: tt.ppid, PGID: tt.pgid, SID: tt.sid, UID: 501, Start: 1_700_000_000*1e9 + tt.startTicks*1e7}
			copy(want.Comm[:], tt.comm)
			if e != want {
				t.Errorf("got %+v\nwant %+v", e, want)
			}
			if e.CommString() != tt.comm {
				t.Errorf("CommString = %q, want %q", e.CommString(), tt.comm)
			}
		})
	}
}

func TestParseStatHostile(t *testing.T) {
	for _, line := range []string{
		"",
		"1 ",
		"1 (x",
		"1 x)",
		") 1 (x",
		"(x) S 1",
		"-1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"1 (x) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0 0",
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999 0 0",
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 461168601842738791 0 0", // starttime overflows the clock
		"1 (x) S 1  1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"4294967296 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"1 (x) S 4294967296 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"1 (x) S 1 -1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
		"1 (x) S 1 1 2147483648 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
	} {
		e := Entry{PID: 9}
		if err := parseStat([]byte(line), &e, testClock); !errors.Is(err, errStat) {
			t.Errorf("%q: err = %v, want errStat", line, err)
		}
		if e != (Entry{PID: 9}) {
			t.Errorf("%q: entry changed on error: %+v", line, e)
		}
	}
}

func TestParseBtime(t *testing.T) {
	stat := "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 12 0\nctxt 99\nbtime 1795774284\nprocesses 100\n"
	if got, err := parseBtime([]byte(stat)); err != nil || got != 1795774284 {
		t.Errorf("parseBtime = %d, %v", got, err)
	}
	if got, err := parseBtime([]byte("btime 17")); err != nil || got != 17 {
		t.Errorf("no newline: parseBtime = %d, %v", got, err)
	}
	for _, bad := range []string{"", "cpu 1\n", "btime\n", "btime x\n", "btime -1\n", "btimes 5\n"} {
		if _, err := parseBtime([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParsePID(t *testing.T) {
	for name, want := range map[string]int32{
		"1": 1, "42": 42, "2147483647": 2147483647,
		"": 0, "0": 0, "007": 0, "self": 0, "thread-self": 0, "sys": 0, "-1": 0, "+1": 0,
		"2147483648": 0, "99999999999": 0, "1a": 0,
	} {
		got, ok := parsePID([]byte(name))
		if got != want || ok != (want != 0) {
			t.Errorf("parsePID(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

// appendDirent appends one linux_dirent64 record (getdents64(2)).
func appendDirent(b []byte, ino uint64, name string) []byte {
	reclen := (offDirentName + len(name) + 1 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.NativeEndian.PutUint64(rec, ino)
	binary.NativeEndian.PutUint64(rec[8:], uint64(len(b)+reclen))
	binary.NativeEndian.PutUint16(rec[offDirentReclen:], uint16(reclen))
	rec[18] = 4 // DT_DIR
	copy(rec[offDirentName:], name)
	return append(b, rec...)
}

func direntsOf(names ...string) []byte {
	var b []byte
	for i, n := range names {
		b = appendDirent(b, uint64(i+1), n)
	}
	return b
}

func TestNextDirent(t *testing.T) {
	names := []string{".", "..", "fb", "1", "self", "42", "007", "thread-self", "4194304", "a-name-of-twenty-one"}
	var got []string
	var pids []int32
	b := direntsOf(names...)
	for len(b) > 0 {
		name, rest, ok := nextDirent(b)
		if !ok {
			t.Fatalf("malformed at %d", len(got))
		}
		got = append(got, string(name))
		if pid, ok := parsePID(name); ok {
			pids = append(pids, pid)
		}
		b = rest
	}
	if !slices.Equal(got, names) {
		t.Errorf("names = %q, want %q", got, names)
	}
	if want := []int32{1, 42, 4194304}; !slices.Equal(pids, want) {
		t.Errorf("pids = %v, want %v", pids, want)
	}

	good := direntsOf("1")
	for _, bad := range [][]byte{
		good[:offDirentName-1], // shorter than a header
		good[:len(good)-1],     // reclen past the end
		func() []byte { b := slices.Clone(good); b[16], b[17] = 0, 0; return b }(),  // reclen 0
		func() []byte { b := slices.Clone(good); b[16], b[17] = 18, 0; return b }(), // reclen < header
	} {
		if _, _, ok := nextDirent(bad); ok {
			t.Errorf("% x: ok, want malformed", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzParseStat (the testdata/stat lines).
	f.Fuzz(func(t *testing.T, line []byte) {
		var e Entry
		if err := parseStat(line, &e, testClock); err != nil {
			if e != (Entry{}) {
				t.Fatalf("entry changed on error: %+v", e)
			}
			return
		}
		if e.PID < 0 || e.PPID < 0 || e.Start < testClock.boot {
			t.Fatalf("out of range: %+v", e)
		}
		_ = statState(line)
	})
}

func FuzzDirents(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzDirents.
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			name, rest, ok := nextDirent(b)
			if !ok {
				return
			}
			if len(rest) >= len(b) {
				t.Fatalf("no progress: %d bytes left of %d", len(rest), len(b))
			}
			if slices.Contains(name, 0) {
				t.Fatalf("NUL in name %q", name)
			}
			parsePID(name)
			b = rest
		}
	})
}

func BenchmarkParseStat(b *testing.B) {
	line, err := os.ReadFile(filepath.Join("testdata", "stat", "cat.stat"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var e Entry
	for b.Loop() {
		if err := parseStat(line, &e, testClock); err != nil {
			b.Fatal(err)
		}
	}
}
