package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReplayFixtures replays every committed bundle: each one's buffers
// must decode to its report's facts. testdata/bundles/linux-root.tar.gz
// was made by `sudo macsensor doctor --bundle` on the Linux test machine;
// bundles from Macs go beside it.
func TestReplayFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bundles", "*.tar.gz"))
	if len(files) == 0 {
		t.Fatal("no bundle fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b := readBundleFile(t, f)
			if !b.Report.Summary.OK {
				t.Logf("the bundle's run had failures: %+v", b.Report.Summary)
			}
			for _, r := range b.Replay() {
				if r.Status == Fail {
					t.Errorf("%s: %s (%s)", r.Name, r.Reason, r.Value)
				}
				t.Logf("%s %s %s%s", r.Name, r.Status, r.Value, r.Reason)
			}
		})
	}
}

// TestReplayLinuxFixtureExact pins what the Linux fixture holds, so that a
// replay that silently skips everything cannot pass.
func TestReplayLinuxFixtureExact(t *testing.T) {
	b := readBundleFile(t, filepath.Join("testdata", "bundles", "linux-root.tar.gz"))
	got := map[string]Status{}
	for _, r := range b.Replay() {
		got[r.Name] = r.Status
	}
	for _, n := range []string{"replay.process", "replay.socket", "replay.capture", "replay.procevents"} {
		if got[n] != Pass {
			t.Errorf("%s: %s, want pass", n, got[n])
		}
	}
	f := b.Report.Facts
	if f.Automator == nil || f.Runner == nil || f.Connection == nil || f.SYN == nil || f.DNS == nil {
		t.Fatalf("facts incomplete: %+v", f)
	}
	for _, name := range []string{"README.txt", "system.json", "report.json", "socket/index.json", "capture/lo.pcap",
		"procevents/events.json", "procevents/connector/00"} {
		if _, ok := b.Files[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// Arguments only of the doctor's own children.
	for name := range b.Files {
		if strings.HasPrefix(name, "proc/cmdline/") {
			pid := strings.TrimPrefix(name, "proc/cmdline/")
			if pid != itoa(f.Automator.PID) && pid != itoa(f.Runner.PID) {
				t.Errorf("%s: arguments of a process that is not the doctor's child", name)
			}
		}
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestReplayDetectsTampering: each kind of buffer, changed, fails its
// replay with a reason naming what differs.
func TestReplayDetectsTampering(t *testing.T) {
	orig := readBundleFile(t, filepath.Join("testdata", "bundles", "linux-root.tar.gz"))
	f := orig.Report.Facts
	cases := []struct {
		name   string
		edit   func(b *Bundle)
		replay string
		reason string
	}{
		{"argument changed", func(b *Bundle) {
			k := "proc/cmdline/" + itoa(f.Automator.PID)
			b.Files[k] = bytes.Replace(b.Files[k], []byte("hold"), []byte("HOLD"), 1)
		}, "replay.process", "args"},
		{"child's stat gone", func(b *Bundle) { delete(b.Files, "proc/stat/"+itoa(f.Runner.PID)) }, "replay.process", "not in the process table"},
		{"start moved", func(b *Bundle) { f2 := *b.Report.Facts.Runner; f2.Start += 50e6; b.Report.Facts.Runner = &f2 }, "replay.process", "start"},
		{"parent changed", func(b *Bundle) { f2 := *b.Report.Facts.Automator; f2.PPID++; b.Report.Facts.Automator = &f2 }, "replay.process", "ppid"},
		{"socket dump cut", func(b *Bundle) {
			k := "socket/inet_diag-inet-tcp"
			b.Files[k] = b.Files[k][:len(b.Files[k])-20]
		}, "replay.socket", "NLMSG_DONE"},
		{"state changed", func(b *Bundle) { c := *b.Report.Facts.Connection; c.State = "SYN_SENT"; b.Report.Facts.Connection = &c }, "replay.socket", "state"},
		{"pcap cut", func(b *Bundle) { b.Files["capture/lo.pcap"] = b.Files["capture/lo.pcap"][:40] }, "replay.capture", "pcap"},
		{"fork parent changed", func(b *Bundle) { f2 := *b.Report.Facts.Automator; f2.PPID = 1; b.Report.Facts.Automator = &f2 }, "replay.procevents", "fork from 1"},
		{"connector message cut", func(b *Bundle) {
			k := "procevents/connector/00"
			b.Files[k] = b.Files[k][:len(b.Files[k])-3]
		}, "replay.procevents", "procevents/connector/00"},
		{"dns name changed", func(b *Bundle) { d := *b.Report.Facts.DNS; d.Name = "other.test"; b.Report.Facts.DNS = &d }, "replay.capture", "no DNS answer"},
	}
	for _, c := range cases {
		b := &Bundle{Files: map[string][]byte{}, Report: orig.Report}
		for k, v := range orig.Files {
			b.Files[k] = append([]byte(nil), v...)
		}
		c.edit(b)
		found := false
		for _, r := range b.Replay() {
			if r.Name != c.replay {
				continue
			}
			found = true
			if r.Status != Fail || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("%s: %s %s %q, want fail with %q", c.name, r.Name, r.Status, r.Reason, c.reason)
			}
		}
		if !found {
			t.Errorf("%s: no %s result", c.name, c.replay)
		}
	}
}

// buildProcargs2 lays out a kern.procargs2 buffer as xnu does.
func buildProcargs2(execPath string, args, env []string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(args)))
	b = append(b, execPath...)
	b = append(b, 0)
	for len(b)%8 != 4 {
		b = append(b, 0)
	}
	for _, s := range append(append([]string{}, args...), env...) {
		b = append(append(b, s...), 0)
	}
	return b
}

// kinfoProc lays out one struct kinfo_proc (offsets of sensor/proc).
func kinfoProc(pid, ppid int32, uid uint32, startNs int64, comm string) []byte {
	b := make([]byte, 648)
	binary.LittleEndian.PutUint64(b[0:], uint64(startNs/1e9))
	binary.LittleEndian.PutUint32(b[8:], uint32(startNs%1e9/1e3))
	binary.LittleEndian.PutUint32(b[40:], uint32(pid))
	copy(b[243:243+16], comm)
	binary.LittleEndian.PutUint32(b[420:], uid)
	binary.LittleEndian.PutUint32(b[560:], uint32(ppid))
	return b
}

// TestBundleRoundTripDarwin writes a macOS bundle through WriteBundle
// (kinfo_proc records, procargs2 buffers, a real pcblist_n fixture), reads
// it back and replays it: the darwin decoders run on Linux.
func TestBundleRoundTripDarwin(t *testing.T) {
	pcb, err := os.ReadFile(filepath.Join("..", "..", "sensor", "socket", "testdata", "pcblist_tcp_macos13plus.bin"))
	if err != nil {
		t.Skipf("pcblist fixture: %v", err)
	}
	const exe = "/private/var/folders/T/macsensor-doctor-1/bin/"
	auto := &ProcessFact{Seen: true, PID: 1200, PPID: 1000, UID: 0, Name: "automator", Executable: exe + "automator",
		Args: []string{exe + "automator", "doctor", "child", "hold", "nonce-1"}, Start: 1796305678123456000}
	// The socket fixture's ESTABLISHED connection is pid 1234's.
	runner := &ProcessFact{Seen: true, PID: 1234, PPID: 1000, UID: 0, Name: "com.apple.automator.runner", Executable: exe + "com.apple.automator.runner",
		Args: []string{exe + "com.apple.automator.runner", "doctor", "child", "connect", "93.184.216.34:443"}, Start: 1796305678223456000}
	d := &Doctor{report: Report{Tool: "macsensor doctor", System: System{GOOS: "darwin", GOARCH: "arm64", OSType: "macos"},
		Facts: Facts{DoctorPID: 1000, Automator: auto, Runner: runner,
			Connection: &ConnFact{PID: 1234, Transport: "tcp", Local: "192.168.1.10:52000", Remote: "93.184.216.34:443", State: "ESTABLISHED", Direction: "egress"}}}}
	all := append(kinfoProc(1234, 1000, 0, runner.Start, "com.apple.automa"), kinfoProc(1, 0, 0, 1e18, "launchd")...)
	all = append(all, kinfoProc(1200, 1000, 0, auto.Start, "automator")...)
	d.addFile("proc/kern.proc.all", all)
	for _, k := range []*ProcessFact{auto, runner} {
		d.addFile("proc/procargs2/"+itoa(k.PID), buildProcargs2(k.Executable, k.Args, []string{"SECRET=x"}))
	}
	d.addFile("socket/net.inet.tcp.pcblist_n", pcb)
	d.addFile("socket/index.json", []byte(`[{"name":"net.inet.tcp.pcblist_n","file":"socket/net.inet.tcp.pcblist_n","proto":6}]`))
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := d.WriteBundle(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v %v, want 0600", fi.Mode(), err)
	}
	b := readBundleFile(t, path)
	want := map[string]Status{"replay.process": Pass, "replay.socket": Pass, "replay.capture": Skip, "replay.procevents": Skip}
	for _, r := range b.Replay() {
		if r.Status != want[r.Name] {
			t.Errorf("%s: %s %s %s, want %s", r.Name, r.Status, r.Value, r.Reason, want[r.Name])
		}
	}
	// The kernel-pid check: the same connection reported for another pid
	// fails.
	b.Report.Facts.Connection.PID = 999
	for _, r := range b.Replay() {
		if r.Name == "replay.socket" && (r.Status != Fail || !strings.Contains(r.Reason, "owner pid 1234")) {
			t.Errorf("wrong owner: %+v", r)
		}
	}
}

func TestReadBundleHostile(t *testing.T) {
	mk := func(entries ...*tar.Header) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, h := range entries {
			tw.WriteHeader(h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(make([]byte, h.Size))
			}
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	for name, data := range map[string][]byte{
		"not gzip":     []byte("hello"),
		"no report":    mk(&tar.Header{Name: "README.txt", Typeflag: tar.TypeReg, Size: 3, Mode: 0o600}),
		"symlink":      mk(&tar.Header{Name: "report.json", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}),
		"report empty": mk(&tar.Header{Name: "report.json", Typeflag: tar.TypeReg, Size: 0, Mode: 0o600}),
	} {
		if _, err := ReadBundle(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func readBundleFile(t *testing.T, path string) *Bundle {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ReadBundle(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzReadBundle(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "bundles", "linux-root.tar.gz")); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range b.Replay() {
			if r.Status == "" {
				t.Fatalf("%s: no status", r.Name)
			}
		}
	})
}
