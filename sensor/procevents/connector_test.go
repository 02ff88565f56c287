package procevents

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "connector", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseConnectorFixtures decodes the datagrams captured from Linux 6.18
// (testdata/README.md): pid 6624 is the test, 6630 ran "exit 3", 6631 was
// killed by SIGKILL, 6632 renamed itself, 6633 started thread 6705.
func TestParseConnectorFixtures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    []Event
		ignored int
	}{
		{"fork", []Event{{Kind: Fork, PID: 6630, PPID: 6624, Time: 1212021778665}}, 0},
		{"exec", []Event{{Kind: Exec, PID: 6630, Time: 1212022089256}}, 0},
		{"exit", []Event{{Kind: Exit, PID: 6630, PPID: 6624, Status: 3 << 8, HasStatus: true, Time: 1212022782768}}, 0},
		{"exit_killed", []Event{{Kind: Exit, PID: 6631, PPID: 6624, Status: 9, HasStatus: true, Time: 1212023865748}}, 0},
		{"ack", nil, 1},
		{"comm", nil, 1},
		{"thread_fork", nil, 1},
		{"thread_exit", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ignored, err := ParseConnector(fixture(t, tc.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || ignored != tc.ignored {
				t.Errorf("got %+v ignored %d, want %+v ignored %d", got, ignored, tc.want, tc.ignored)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		code int32
		ok   bool
	}{
		{Event{Kind: Exit, Status: 3 << 8, HasStatus: true}, 3, true},
		{Event{Kind: Exit, Status: 0, HasStatus: true}, 0, true},
		{Event{Kind: Exit, Status: 9, HasStatus: true}, 137, true},
		{Event{Kind: Exit, Status: 0x86, HasStatus: true}, 134, true}, // SIGABRT with a core dump
		{Event{Kind: Exit}, 0, false},
		{Event{Kind: Exec, HasStatus: true}, 0, false},
	} {
		code, ok := tc.ev.ExitCode()
		if code != tc.code || ok != tc.ok {
			t.Errorf("%+v: %d %v, want %d %v", tc.ev, code, ok, tc.code, tc.ok)
		}
	}
}

// TestParseConnectorSeveral decodes a datagram holding several messages,
// the second one of a length that is not a multiple of 4.
func TestParseConnectorSeveral(t *testing.T) {
	exec := fixture(t, "exec")
	short := slices.Clone(fixture(t, "ack"))
	binary.NativeEndian.PutUint32(short, uint32(len(short)-2)) // 74: padded to 76
	binary.NativeEndian.PutUint16(short[nlmsgHdrLen+offCnLen:], 38)
	var buf []byte
	buf = append(buf, fixture(t, "fork")...)
	buf = append(buf, short...)
	buf = append(buf, exec...)
	got, ignored, err := ParseConnector(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != Fork || got[1].Kind != Exec || ignored != 1 {
		t.Errorf("got %+v ignored %d", got, ignored)
	}
}

func TestListenRequest(t *testing.T) {
	b := ListenRequest(0x1234, true)
	want := []byte{
		40, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x34, 0x12, 0, 0, // nlmsghdr: len 40, NLMSG_DONE, pid
		1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, // cn_msg: CN_IDX_PROC, CN_VAL_PROC, len 4
		1, 0, 0, 0, // PROC_CN_MCAST_LISTEN
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected bytes are little-endian")
	}
	if !bytes.Equal(b, want) {
		t.Errorf("listen request\n got % x\nwant % x", b, want)
	}
	if ignore := ListenRequest(0, false); ignore[len(ignore)-4] != procCnMcastIgnore {
		t.Errorf("ignore request % x", ignore)
	}
}

// TestParseConnectorHostile feeds broken datagrams: each returns a clear
// error (or nothing), never a panic, and keeps the events before the break.
func TestParseConnectorHostile(t *testing.T) {
	fork := fixture(t, "fork")
	set32 := func(b []byte, off int, v uint32) []byte {
		b = slices.Clone(b)
		binary.NativeEndian.PutUint32(b[off:], v)
		return b
	}
	set16 := func(b []byte, off int, v uint16) []byte {
		b = slices.Clone(b)
		binary.NativeEndian.PutUint16(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name   string
		buf    []byte
		events int
		err    string // "" means no error
	}{
		{"empty", nil, 0, ""},
		{"short header", fork[:10], 0, "shorter than a nlmsghdr"},
		{"nlmsg_len zero", set32(fork, 0, 0), 0, "nlmsg_len 0 out of range"},
		{"nlmsg_len past end", set32(fork, 0, 1000), 0, "nlmsg_len 1000 out of range"},
		{"cut cn_msg", set32(fork[:30], 0, 30), 0, "cn_msg of 14 bytes"},
		{"cn len past end", set16(fork, nlmsgHdrLen+offCnLen, 200), 0, "cn_msg len 200, only 40 bytes follow"},
		{"cn len too short for header", set16(fork, nlmsgHdrLen+offCnLen, 8), 0, "proc_event of 8 bytes"},
		{"cn len too short for fork", set16(fork, nlmsgHdrLen+offCnLen, 20), 0, "proc_event what 0x1: 20 bytes, want 32"},
		{"other connector", set32(fork, nlmsgHdrLen, 7), 0, ""},
		{"nlmsg error", set16(fork, 4, nlmsgError), 0, "NLMSG_ERROR 1"},
		{"noop", set16(fork, 4, nlmsgNoop), 0, ""},
		{"negative child", set32(set32(fork, 60, 0xffffffff), 56, 0xffffffff), 0, ""},
		{"negative parent", set32(fork, 52, 0xfffffff0), 1, ""},
		{"good then garbage", append(slices.Clone(fork), 1, 2, 3), 1, "shorter than a nlmsghdr"},
		{"unknown what", set32(fork, nlmsgHdrLen+cnMsgLen, 0x12345), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := ParseConnector(tc.buf, nil)
			if len(got) != tc.events {
				t.Errorf("%d events, want %d: %+v", len(got), tc.events, got)
			}
			for _, e := range got {
				if e.PID <= 0 || e.PPID < 0 {
					t.Errorf("event with pid %d ppid %d", e.PID, e.PPID)
				}
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "procevents: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestParseConnectorAllocs pins that decoding into a buffer with room
// allocates nothing.
func TestParseConnectorAllocs(t *testing.T) {
	buf := append(slices.Clone(fixture(t, "fork")), fixture(t, "exec")...)
	dst := make([]Event, 0, 4)
	if n := testing.AllocsPerRun(100, func() {
		dst, _, _ = ParseConnector(buf, dst[:0])
	}); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
}

func FuzzParseConnector(f *testing.F) {
	for _, name := range []string{"fork", "exec", "exit", "exit_killed", "ack", "comm", "thread_fork", "thread_exit"} {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, ignored, err := ParseConnector(b, nil)
		if ignored < 0 || len(evs) > len(b)/(nlmsgHdrLen+cnMsgLen+offData)+1 {
			t.Fatalf("%d events, %d ignored from %d bytes", len(evs), ignored, len(b))
		}
		for _, e := range evs {
			if e.PID <= 0 || e.PPID < 0 || e.Kind < Fork || e.Kind > Exit {
				t.Fatalf("bad event %+v", e)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "procevents: ") {
			t.Fatalf("error %q", err)
		}
	})
}

func BenchmarkParseConnector(b *testing.B) {
	buf := fixture(b, "exec")
	dst := make([]Event, 0, 4)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		dst, _, _ = ParseConnector(buf, dst[:0])
	}
}
