package sensor

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// fakeProcs is a process table the test edits between polls.
type fakeProcs struct {
	entries []proc.Entry
	details map[int32]proc.Details
	gone    map[int32]bool
	// onList runs before each List: lets a test change the table between
	// the sensor's reads.
	onList func()
}

func (f *fakeProcs) List(dst []proc.Entry) ([]proc.Entry, error) {
	if f.onList != nil {
		f.onList()
	}
	return append(dst, f.entries...), nil
}

func (f *fakeProcs) Read(pid int32, e *proc.Entry) error {
	if f.gone[pid] {
		return fmt.Errorf("read %d: %w", pid, proc.ErrGone)
	}
	for i := range f.entries {
		if f.entries[i].PID == pid {
			*e = f.entries[i]
			return nil
		}
	}
	return fmt.Errorf("read %d: %w", pid, proc.ErrGone)
}

func (f *fakeProcs) Details(pid int32, d *proc.Details) error {
	if f.gone[pid] {
		return fmt.Errorf("details %d: %w", pid, proc.ErrGone)
	}
	*d = f.details[pid]
	return nil
}

func (f *fakeProcs) add(pid, ppid int32, start int64, comm, path string, args ...string) {
	e := proc.Entry{PID: pid, PPID: ppid, UID: 501, Start: start}
	copy(e.Comm[:], comm)
	i, _ := slices.BinarySearchFunc(f.entries, pid, func(e proc.Entry, pid int32) int { return int(e.PID - pid) })
	f.entries = slices.Insert(f.entries, i, e) // sorted by pid, as proc.Table.List
	f.details[pid] = proc.Details{Path: path, Args: args}
}

func (f *fakeProcs) remove(pid int32) {
	f.entries = slices.DeleteFunc(f.entries, func(e proc.Entry) bool { return e.PID == pid })
}

type fakeSocks struct{ conns []socket.Conn }

func (f *fakeSocks) List(dst []socket.Conn) ([]socket.Conn, error) {
	return append(dst, f.conns...), nil
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newFixture() (*Sensor, *fakeProcs, *fakeSocks, *clock) {
	fp := &fakeProcs{details: map[int32]proc.Details{}, gone: map[int32]bool{}}
	fs := &fakeSocks{}
	clk := &clock{t: t0}
	fp.add(1, 0, t0.Add(-time.Hour).UnixNano(), "launchd", "/sbin/launchd", "/sbin/launchd")
	fp.add(400, 1, t0.Add(-time.Minute).UnixNano(), "zsh", "/bin/zsh", "-zsh")
	info := host.Info{ID: "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", Hostname: "mac-01", Name: "mac-01", Architecture: "arm64"}
	info.OS.Type = "macos"
	s := New(fp, fs, Options{Host: info, Agent: ecs.Agent{Type: "macsensor", Version: "test"}, Now: clk.Now,
		UserName: func(uid uint32) string { return map[uint32]string{501: "alice"}[uid] }})
	return s, fp, fs, clk
}

func poll(t testing.TB, s *Sensor) []*ecs.Event {
	t.Helper()
	evs, err := s.Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestFirstPollLearnsSilently(t *testing.T) {
	s, _, _, _ := newFixture()
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("first poll emitted %d events, want 0", len(evs))
	}
	if st := s.Stats(); st.Processes != 2 || st.ProcessPolls != 1 || st.SocketPolls != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExecEvent(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	start := t0.Add(500 * time.Millisecond).UnixNano()
	runner := "/System/Library/CoreServices/Automator Application Stub.app/Contents/XPCServices/com.apple.automator.runner.xpc/Contents/MacOS/com.apple.automator.runner"
	fp.add(812, 400, start, "com.apple.automa", runner, runner, "-psn_0_1")
	evs := poll(t, s)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	ev := evs[0]
	want := ecs.Event{
		Timestamp: start,
		Event: ecs.EventMeta{ID: s.eventID(1), Kind: "event", Category: []string{"process"}, Type: []string{"start"}, Action: "exec",
			Dataset: "endpoint.events.process", Module: "endpoint", Created: clk.t.UnixNano(), Sequence: 1},
		Host:  ecs.Host{ID: "8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", Name: "mac-01", Hostname: "mac-01", Architecture: "arm64", OS: ecs.OS{Type: "macos"}},
		Agent: ecs.Agent{Type: "macsensor", Version: "test"},
		Process: ecs.Process{PID: 812, EntityID: EntityID("8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", 812, start),
			Name: "com.apple.automator.runner", Executable: runner, Args: []string{runner, "-psn_0_1"}, ArgsCount: 2,
			CommandLine: runner + " -psn_0_1", Start: start,
			Parent: ecs.Parent{PID: 400, EntityID: EntityID("8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B7F10", 400, t0.Add(-time.Minute).UnixNano()),
				Name: "zsh", Executable: "/bin/zsh", Args: []string{"-zsh"}, ArgsCount: 1, CommandLine: "-zsh"}},
		User: ecs.User{ID: "501", Name: "alice"},
		Has: ecs.HasTimestamp | ecs.HasCreated | ecs.HasSequence | ecs.HasPID | ecs.HasArgsCount | ecs.HasStart | ecs.HasParentPID |
			ecs.HasParentArgsCount,
	}
	if diff := diffEvents(&want, ev); diff != "" {
		t.Fatal(diff)
	}
}

func TestStartClampedToPreviousSnapshot(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	// Linux rounds start times down to 10 ms ticks: a process that
	// started just after the snapshot at t0 can read as starting before it.
	fp.add(900, 400, t0.Add(-5*time.Millisecond).UnixNano(), "curl", "/usr/bin/curl", "curl")
	evs := poll(t, s)
	if len(evs) != 1 || evs[0].Timestamp != t0.UnixNano() || evs[0].Process.Start != t0.Add(-5*time.Millisecond).UnixNano() {
		t.Fatalf("events %v", evs)
	}
}

func TestPIDReuseIsANewProcess(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	fp.add(700, 400, t0.Add(100*time.Millisecond).UnixNano(), "a", "/usr/bin/a", "a")
	clk.t = t0.Add(time.Second)
	first := poll(t, s)
	fp.remove(700)
	fp.add(700, 400, t0.Add(1500*time.Millisecond).UnixNano(), "b", "/usr/bin/b", "b")
	clk.t = t0.Add(2 * time.Second)
	second := poll(t, s)
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("got %d and %d events, want 1 and 1", len(first), len(second))
	}
	if first[0].Process.EntityID == second[0].Process.EntityID || second[0].Process.Name != "b" {
		t.Fatalf("pid reuse: %q then %q (%s)", first[0].Process.EntityID, second[0].Process.EntityID, second[0].Process.Name)
	}
}

func TestSamePIDExec(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	// zsh (pid 400) execs curl: same pid and start time, new comm and path.
	for i := range fp.entries {
		if fp.entries[i].PID == 400 {
			fp.entries[i].Comm = [16]byte{'c', 'u', 'r', 'l'}
		}
	}
	fp.details[400] = proc.Details{Path: "/usr/bin/curl", Args: []string{"curl", "https://example.com"}}
	evs := poll(t, s)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Process.Name != "curl" || ev.Timestamp != clk.t.UnixNano() || ev.Process.Start != t0.Add(-time.Minute).UnixNano() ||
		ev.Process.EntityID != EntityID(s.opt.Host.ID, 400, t0.Add(-time.Minute).UnixNano()) {
		t.Fatalf("exec event %+v", ev.Process)
	}
}

func TestGoneProcessIsSkippedAndCounted(t *testing.T) {
	s, fp, _, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(901, 400, t0.Add(time.Millisecond).UnixNano(), "x", "/x", "x")
	fp.gone[901] = true
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("got %d events, want 0", len(evs))
	}
	if st := s.Stats(); st.Gone != 1 {
		t.Fatalf("Gone = %d, want 1", st.Gone)
	}
}

func conn(proto uint8, local, remote string, state socket.State, pid int32) socket.Conn {
	return socket.Conn{Proto: proto, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
		State: state, LastPID: pid, EPID: pid, UID: 501}
}

func TestNetworkEvents(t *testing.T) {
	s, fp, fs, clk := newFixture()
	fs.conns = []socket.Conn{
		conn(protoTCP, "0.0.0.0:22", "0.0.0.0:0", socket.Listen, 1),
		conn(protoUDP, "0.0.0.0:5353", "0.0.0.0:0", 0, 1),
	}
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(812, 400, t0.Add(200*time.Millisecond).UnixNano(), "com.apple.automa", "/x/com.apple.automator.runner", "runner")
	poll(t, s) // the process start
	clk.t = t0.Add(2 * time.Second)
	fs.conns = append(fs.conns,
		conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 812),
		conn(protoTCP, "192.168.1.10:22", "10.0.0.5:61000", socket.Established, 400),
	)
	evs := poll(t, s)
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	out, in := evs[0], evs[1]
	if out.Event.Action != "connection_attempted" || out.Network.Direction != "egress" ||
		out.Source != (ecs.Endpoint{IP: "192.168.1.10", Port: 52000}) || out.Destination != (ecs.Endpoint{IP: "93.184.216.34", Port: 443}) ||
		out.Network.Transport != "tcp" || out.Network.Type != "ipv4" || out.Process.Name != "com.apple.automator.runner" ||
		out.Process.EntityID != EntityID(s.opt.Host.ID, 812, t0.Add(200*time.Millisecond).UnixNano()) ||
		out.Timestamp != clk.t.UnixNano() || !slices.Equal(out.Event.Category, []string{"network"}) || !slices.Equal(out.Event.Type, []string{"start"}) {
		t.Fatalf("outbound event %+v", out)
	}
	if in.Event.Action != "connection_accepted" || in.Network.Direction != "ingress" ||
		in.Source != (ecs.Endpoint{IP: "10.0.0.5", Port: 61000}) || in.Destination != (ecs.Endpoint{IP: "192.168.1.10", Port: 22}) ||
		in.Process.Name != "zsh" {
		t.Fatalf("inbound event %+v", in)
	}
	// Unchanged: nothing. The SYN_SENT connection becoming ESTABLISHED is
	// the same connection.
	fs.conns[2].State = socket.Established
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("unchanged poll emitted %d events", len(evs))
	}
	// The outbound connection closes.
	fs.conns = slices.Delete(fs.conns, 2, 3)
	clk.t = t0.Add(3 * time.Second)
	evs = poll(t, s)
	if len(evs) != 1 || evs[0].Event.Action != "disconnect_received" || !slices.Equal(evs[0].Event.Type, []string{"end"}) ||
		evs[0].Process.PID != 812 || evs[0].Destination.Port != 443 {
		t.Fatalf("end events %v", evs)
	}
	if st := s.Stats(); st.NetworkEvents != 2 || st.EndEvents != 1 || st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectionOfUnknownProcessForcesProcessPoll(t *testing.T) {
	s, fp, fs, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	// The runner starts and connects after the last process list: it is
	// not in the table the sensor holds when it sees the connection, and
	// the forced refresh (the first List from here on) finds it.
	lists := 0
	fp.onList = func() {
		lists++
		if lists == 1 {
			fp.add(812, 400, t0.Add(900*time.Millisecond).UnixNano(), "com.apple.automa", "/x/com.apple.automator.runner", "r")
		}
	}
	fs.conns = []socket.Conn{conn(protoTCP, "127.0.0.1:50000", "127.0.0.1:8080", socket.Established, 812)}
	evs := poll(t, s)
	if len(evs) != 2 || evs[0].Event.Action != "exec" || evs[1].Event.Action != "connection_attempted" ||
		evs[0].Process.EntityID != evs[1].Process.EntityID || evs[0].Event.Sequence >= evs[1].Event.Sequence {
		t.Fatalf("events %v", evs)
	}
	if st := s.Stats(); st.Refreshes != 1 {
		t.Fatalf("Refreshes = %d", st.Refreshes)
	}
}

func TestDelegatedSocketAttribution(t *testing.T) {
	s, fp, fs, clk := newFixture()
	fp.add(999, 1, t0.Add(-time.Hour).UnixNano(), "nsurlsessiond", "/usr/libexec/nsurlsessiond", "nsurlsessiond")
	poll(t, s)
	clk.t = t0.Add(time.Second)
	c := conn(protoTCP, "[fe80::1]:49152", "[2001:db8::2]:8443", socket.Established, 999)
	c.EPID = 400 // nsurlsessiond connects on behalf of zsh
	fs.conns = []socket.Conn{c}
	evs := poll(t, s)
	if len(evs) != 1 || evs[0].Process.PID != 400 || evs[0].Process.Name != "zsh" || evs[0].Network.Type != "ipv6" ||
		evs[0].Fields.Get("process.Ext.socket.last_pid").Int != 999 || evs[0].Fields.Get("process.Ext.socket.effective_pid").Int != 400 {
		t.Fatalf("events %v", evs)
	}
}

func TestWatermark(t *testing.T) {
	s, _, _, clk := newFixture()
	if s.Watermark() != 0 {
		t.Fatal("watermark before any poll")
	}
	poll(t, s)
	clk.t = t0.Add(time.Second)
	poll(t, s)
	if s.Watermark() != clk.t.UnixNano() {
		t.Fatalf("watermark %d, want %d", s.Watermark(), clk.t.UnixNano())
	}
	clk.t = t0.Add(2 * time.Second)
	if _, err := s.PollProcesses(nil); err != nil {
		t.Fatal(err)
	}
	if s.Watermark() != t0.Add(time.Second).UnixNano() {
		t.Fatal("watermark must wait for the socket poll")
	}
}

// bigFixture is a table of n processes and n connections.
func bigFixture(n int) (*Sensor, *fakeProcs, *fakeSocks, *clock) {
	s, fp, fs, clk := newFixture()
	for i := range n {
		pid := int32(1000 + i)
		fp.add(pid, 1, t0.Add(-time.Hour).UnixNano()+int64(i), "p", "/usr/bin/p", "p")
		fs.conns = append(fs.conns, conn(protoTCP, fmt.Sprintf("10.0.0.1:%d", 20000+i), "10.0.0.2:443", socket.Established, pid))
	}
	return s, fp, fs, clk
}

func TestUnchangedPollAllocatesNothing(t *testing.T) {
	s, _, _, clk := bigFixture(1000)
	var dst []*ecs.Event
	for range 3 { // warm: learn the table, size the buffers
		dst, _ = s.Poll(dst[:0])
	}
	allocs := testing.AllocsPerRun(20, func() {
		clk.t = clk.t.Add(time.Second)
		dst, _ = s.Poll(dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("unchanged poll allocates %v times, want 0", allocs)
	}
	if len(dst) != 0 {
		t.Fatalf("unchanged poll emitted %d events", len(dst))
	}
}

// BenchmarkDiff1000 diffs two 1,000-process snapshots with 10 new
// processes (and their exec events).
func BenchmarkDiff1000(b *testing.B) {
	s, fp, _, clk := bigFixture(1000)
	s.socks = nil
	base := slices.Clone(fp.entries)
	for i := 0; i < 10; i++ {
		fp.add(int32(5000+i), 1, t0.UnixNano()+int64(i), "n", "/usr/bin/n", "n", "-v")
	}
	withNew := slices.Clone(fp.entries)
	var dst []*ecs.Event
	b.ReportAllocs()
	for b.Loop() {
		fp.entries = base
		s.PollProcesses(dst[:0])
		fp.entries = withNew
		clk.t = clk.t.Add(time.Second)
		dst, _ = s.PollProcesses(dst[:0])
		if len(dst) != 10 {
			b.Fatalf("%d events", len(dst))
		}
	}
}

func diffEvents(want, got *ecs.Event) string {
	w, g := fmt.Sprintf("%+v", *want), fmt.Sprintf("%+v", *got)
	if w != g {
		return "event differs:\n got " + g + "\nwant " + w
	}
	return ""
}

func TestExistingConnectionsAreLearnedSilently(t *testing.T) {
	s, _, fs, clk := newFixture()
	fs.conns = []socket.Conn{conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.Established, 400)}
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("first poll emitted %d events", len(evs))
	}
	fs.conns = nil
	clk.t = t0.Add(time.Second)
	if evs := poll(t, s); len(evs) != 0 {
		t.Fatalf("a connection learned at start-up ended with %d events", len(evs))
	}
}

// TestPollReleasesItsNetworkEvents pins the order of a poll: the socket
// snapshot first, so the watermark after the poll covers the network
// events it produced (they are not held for another interval).
func TestPollReleasesItsNetworkEvents(t *testing.T) {
	s, fp, fs, clk := newFixture()
	poll(t, s)
	fp.onList = func() { clk.t = clk.t.Add(10 * time.Millisecond) } // the process read comes later
	clk.t = t0.Add(time.Second)
	fs.conns = []socket.Conn{conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.Established, 400)}
	evs := poll(t, s)
	if len(evs) != 1 || evs[0].Timestamp > s.Watermark() {
		t.Fatalf("events %v, watermark %d", evs, s.Watermark())
	}
}

// TestExecThenConnectInOneInterval: zsh (pid 400) execs curl in place and
// curl connects, both since the last poll. The connection must be curl's,
// after curl's exec event.
func TestExecThenConnectInOneInterval(t *testing.T) {
	s, fp, fs, clk := newFixture()
	poll(t, s)
	clk.t = t0.Add(time.Second)
	for i := range fp.entries {
		if fp.entries[i].PID == 400 {
			fp.entries[i].Comm = [16]byte{'c', 'u', 'r', 'l'}
		}
	}
	fp.details[400] = proc.Details{Path: "/usr/bin/curl", Args: []string{"curl", "https://example.com"}}
	fs.conns = []socket.Conn{conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 400)}
	evs := poll(t, s)
	if len(evs) != 2 || evs[0].Event.Action != "exec" || evs[1].Event.Action != "connection_attempted" ||
		evs[1].Process.Name != "curl" || evs[0].Timestamp > evs[1].Timestamp || evs[0].Event.Sequence >= evs[1].Event.Sequence {
		t.Fatalf("events %v", evs)
	}
}
