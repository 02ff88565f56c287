package proc

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kinfoRecord builds one struct kinfo_proc as kern.proc.all returns it.
func kinfoRecord(pid, ppid int32, uid uint32, sec int64, usec int32, comm, login string) []byte {
	b := make([]byte, KinfoProcSize)
	binary.LittleEndian.PutUint64(b[offKpStartSec:], uint64(sec))
	binary.LittleEndian.PutUint32(b[offKpStartUsec:], uint32(usec))
	binary.LittleEndian.PutUint32(b[offKpPID:], uint32(pid))
	copy(b[offKpComm:offKpComm+kpCommLen-1], comm)
	binary.LittleEndian.PutUint32(b[offKpUID:], uid)
	binary.LittleEndian.PutUint32(b[offKpPPID:], uint32(ppid))
	copy(b[offKpLogin:offKpLogin+kpLoginLen], login)
	return b
}

func TestDecodeKinfoProcs(t *testing.T) {
	var buf []byte
	buf = append(buf, kinfoRecord(812, 800, 501, 1796305678, 123456, "com.apple.automator.runner", "alice")...)
	buf = append(buf, kinfoRecord(1, 0, 0, 1796300000, 0, "launchd", "root")...)
	buf = append(buf, kinfoRecord(-1, 0, 0, 0, 0, "bogus", "")...) // skipped
	buf = append(buf, kinfoRecord(0, 0, 0, 1796299999, 999999, "kernel_task", "")...)
	got, err := DecodeKinfoProcs(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	if got[0].PID != 0 || got[1].PID != 1 || got[2].PID != 812 {
		t.Errorf("not sorted by pid: %d %d %d", got[0].PID, got[1].PID, got[2].PID)
	}
	e := got[2]
	if e.PPID != 800 || e.UID != 501 || e.Start != 1796305678123456000 || e.CommString() != "com.apple.automa" {
		t.Errorf("entry %+v comm %q", e, e.CommString())
	}
	if got[0].Start != 1796299999999999000 {
		t.Errorf("kernel_task start %d", got[0].Start)
	}
	if _, err := DecodeKinfoProcs(buf[:len(buf)-1], nil); err == nil || !strings.Contains(err.Error(), "not a multiple") {
		t.Errorf("cut buffer: %v", err)
	}
}

func TestBlankKinfoLogin(t *testing.T) {
	buf := append(kinfoRecord(5, 1, 501, 1, 2, "zsh", "alice"), kinfoRecord(6, 5, 501, 1, 2, "curl", "bob")...)
	before, _ := DecodeKinfoProcs(buf, nil)
	if err := BlankKinfoLogin(buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf, []byte("alice")) || bytes.Contains(buf, []byte("bob")) {
		t.Error("a login name survived")
	}
	after, _ := DecodeKinfoProcs(buf, nil)
	if !slices.Equal(before, after) {
		t.Errorf("blanking changed the decoded entries: %+v -> %+v", before, after)
	}
	if err := BlankKinfoLogin(buf[:10]); err == nil {
		t.Error("a cut buffer was accepted")
	}
}

// TestProcargsArgv: on every procargs2 fixture, the cut buffer parses to
// the same exec path and argv, and keeps nothing of the environment or the
// apple strings.
func TestProcargsArgv(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "procargs2", "*.bin"))
	if len(files) == 0 {
		t.Fatal("no procargs2 fixtures")
	}
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		path, args, trunc, perr := ParseProcargs2(buf, MaxArgs, MaxArgBytes)
		cut, err := ProcargsArgv(buf)
		if perr != nil {
			if err == nil {
				t.Errorf("%s: ParseProcargs2 fails (%v), ProcargsArgv does not", f, perr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		cpath, cargs, ctrunc, cerr := ParseProcargs2(cut, MaxArgs, MaxArgBytes)
		if cerr != nil || cpath != path || !slices.Equal(cargs, args) || ctrunc != trunc {
			t.Errorf("%s: cut parses to %q %q %v %v, whole to %q %q %v", f, cpath, cargs, ctrunc, cerr, path, args, trunc)
		}
		for _, secret := range []string{envMarker, "ptr_munge", "executable_path=", "HOME="} {
			if bytes.Contains(cut, []byte(secret)) {
				t.Errorf("%s: the cut buffer still holds %q", f, secret)
			}
		}
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, {1, 0, 0, 0, 'a'}, {0xff, 0xff, 0xff, 0x7f, 'a', 0}} {
		if _, err := ProcargsArgv(bad); err == nil {
			t.Errorf("ProcargsArgv(%q) accepted", bad)
		}
	}
}

func TestParseStatLineAndSplitCmdline(t *testing.T) {
	line := []byte("4242 (com.apple.autom) S 4200 4242 4200 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 1234 1000 10 0\n")
	e, err := ParseStatLine(line, 1_000_000_000_000, 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if e.PID != 4242 || e.PPID != 4200 || e.CommString() != "com.apple.autom" || e.Start != 1_000_000_000_000+1234*10_000_000 {
		t.Errorf("%+v", e)
	}
	args, trunc := SplitCmdline([]byte("/tmp/automator\x00doctor\x00child\x00"))
	if !slices.Equal(args, []string{"/tmp/automator", "doctor", "child"}) || trunc {
		t.Errorf("%q %v", args, trunc)
	}
}

func FuzzDecodeKinfoProcs(f *testing.F) {
	f.Add(kinfoRecord(812, 800, 501, 1796305678, 123456, "automator", "alice"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeKinfoProcs(b, nil)
		if err == nil && len(got) > len(b)/KinfoProcSize {
			t.Fatalf("%d entries from %d bytes", len(got), len(b))
		}
		c := slices.Clone(b)
		if BlankKinfoLogin(c) == nil {
			again, _ := DecodeKinfoProcs(c, nil)
			if !slices.Equal(got, again) {
				t.Fatal("blanking changed the entries")
			}
		}
	})
}

func FuzzProcargsArgv(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "procargs2", "*.bin"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cut, err := ProcargsArgv(b)
		if err != nil {
			return
		}
		if len(cut) > len(b) || !bytes.Equal(cut, b[:len(cut)]) {
			t.Fatal("the cut buffer is not a prefix")
		}
		_, args, _, perr := ParseProcargs2(b, 0, 0)
		_, cargs, _, cerr := ParseProcargs2(cut, 0, 0)
		if perr == nil && (cerr != nil || !slices.Equal(args, cargs)) {
			t.Fatalf("args %q, cut %q (%v)", args, cargs, cerr)
		}
	})
}
