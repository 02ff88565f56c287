package sensor

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/codesign"
	"github.com/macsensor/macsensor/sensor/codesign/fixture"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/procevents"
	"github.com/macsensor/macsensor/sensor/socket"
)

// clockedSignatures is a real cache whose Await advances the test's
// manual clock by the time it actually waited, so that the sensor's budget
// (measured with Options.Now) is spent as it would be.
type clockedSignatures struct {
	*codesign.Cache
	mu  *sync.Mutex
	clk *clock
}

func (c clockedSignatures) Await(k codesign.Key, d time.Duration) (codesign.Info, bool) {
	t := time.Now()
	info, ok := c.Cache.Await(k, d)
	c.mu.Lock()
	c.clk.t = c.clk.t.Add(time.Since(t))
	c.mu.Unlock()
	return info, ok
}

// signedFixture is newFixture with a codesign cache judging the arm64
// slice, its clock advanced by the cache's waits.
func signedFixture(t *testing.T, opt codesign.CacheOptions) (*Sensor, *fakeProcs, *fakeSocks, *clock, *codesign.Cache) {
	t.Helper()
	s, fp, fs, clk := newFixture()
	opt.Verify.Arch = "arm64"
	c := codesign.NewCache(opt)
	t.Cleanup(c.Close)
	s.opt.Signatures = clockedSignatures{Cache: c, mu: &sync.Mutex{}, clk: clk}
	// launchd and the shell run files absent here (not found, not read).
	missing := t.TempDir()
	for _, pid := range []int32{1, 400} {
		d := fp.details[pid]
		d.Path = filepath.Join(missing, filepath.Base(d.Path))
		fp.details[pid] = d
	}
	return s, fp, fs, clk, c
}

// warm verifies path into c, as an earlier exec would have.
func warm(t *testing.T, c *codesign.Cache, path string) codesign.Info {
	t.Helper()
	info, k, ok := c.Lookup(path)
	if !ok {
		if info, ok = c.Await(k, time.Minute); !ok {
			t.Fatalf("%s: no result: %+v", path, info)
		}
	}
	return info
}

const (
	sentrySHA256    = "2c26914636c47ab9bf9e710484ad7b44d371cbec8bd29cafb36b3cf877bf4285"
	sentrySubject   = "Developer ID Application: GetSentry LLC (97JCY7859U)"
	sentrySigningID = "sentry_cli-ed605fe0983d3ac0"
	statusAdHoc     = "signature is valid but signer is not trusted"
)

var sentryCS = ecs.CodeSignature{Exists: true, Trusted: true, Status: "trusted", SigningID: sentrySigningID, TeamID: "97JCY7859U", SubjectName: sentrySubject}

func byPID(evs []*ecs.Event, pid int64, action string) *ecs.Event {
	for _, ev := range evs {
		if ev.Process.PID == pid && ev.Event.Action == action {
			return ev
		}
	}
	return nil
}

const (
	csBits     = ecs.HasProcessCodeSignatureExists | ecs.HasProcessCodeSignatureTrusted
	parentBits = ecs.HasProcessParentCodeSignatureExists | ecs.HasProcessParentCodeSignatureTrusted
)

// The exec event carries the executable's signature and hash, its parent's
// signature under process.parent; a child names it as parent; a network
// event of the process carries its signature (no hash).
func TestSignatureFieldsOnExecNetworkAndChild(t *testing.T) {
	sentry := fixture.SentryCLI(t)
	adhoc := fixture.BuildGo(t, "arm64", "hello")
	s, fp, fs, clk, c := signedFixture(t, codesign.CacheOptions{})
	adhocInfo := warm(t, c, adhoc)
	warm(t, c, sentry)
	d := fp.details[400]
	d.Path = adhoc // the shell runs the ad-hoc binary
	fp.details[400] = d
	poll(t, s)

	clk.t = t0.Add(time.Second)
	fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "sentry-cli", sentry, sentry, "info")
	evs := poll(t, s)
	ev := byPID(evs, 812, "exec")
	if ev == nil {
		t.Fatalf("no exec event: %v", evs)
	}
	wantParent := ecs.CodeSignature{Exists: true, Trusted: false, Status: statusAdHoc, SigningID: "a.out"}
	if ev.Process.CodeSignature != sentryCS || ev.Process.Hash.SHA256 != sentrySHA256 || ev.Has&csBits != csBits {
		t.Fatalf("process: %+v %+v has %#x", ev.Process.CodeSignature, ev.Process.Hash, ev.Has)
	}
	if ev.Process.Parent.CodeSignature != wantParent || ev.Has&parentBits != parentBits {
		t.Fatalf("parent: %+v has %#x", ev.Process.Parent.CodeSignature, ev.Has)
	}
	if adhocInfo.SigningID != "a.out" || adhocInfo.SHA256 == "" {
		t.Fatalf("ad-hoc fixture %+v", adhocInfo)
	}

	// Its child names it as parent.
	clk.t = t0.Add(2 * time.Second)
	fp.add(900, 812, t0.Add(1500*time.Millisecond).UnixNano(), "hello", adhoc, adhoc)
	evs = poll(t, s)
	child := byPID(evs, 900, "exec")
	if child == nil || child.Process.Parent.CodeSignature != sentryCS || child.Has&parentBits != parentBits ||
		child.Process.CodeSignature != wantParent || child.Process.Hash.SHA256 != adhocInfo.SHA256 {
		t.Fatalf("child: %+v", child)
	}

	// A connection of the sentry-cli process: its signature, no hash, no
	// new verification.
	verified := c.Stats().Verified
	clk.t = t0.Add(3 * time.Second)
	fs.conns = append(fs.conns, conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 812))
	evs = poll(t, s)
	net := byPID(evs, 812, "connection_attempted")
	if net == nil || net.Process.CodeSignature != sentryCS || net.Has&csBits != csBits || net.Process.Hash.SHA256 != "" ||
		net.Process.Parent.CodeSignature != (ecs.CodeSignature{}) || net.Has&parentBits != 0 {
		t.Fatalf("network event: %+v", net)
	}
	if st := c.Stats(); st.Verified != verified || st.Verified != 2 {
		t.Fatalf("cache %+v", st)
	}
	if st := s.Stats().Signatures; st.PendingAtEmit != 0 {
		t.Fatalf("sensor %+v", st)
	}
	// The JSON names the fields as Elastic Defend does.
	line := string(ev.AppendJSON(nil))
	for _, want := range []string{`"code_signature":{"exists":true,"signing_id":"` + sentrySigningID + `","status":"trusted","subject_name":"` + sentrySubject + `","team_id":"97JCY7859U","trusted":true}`,
		`"hash":{"sha256":"` + sentrySHA256 + `"}`, `"parent":{"args":["-zsh"],"args_count":1,"code_signature":{"exists":true,"signing_id":"a.out","status":"` + statusAdHoc + `","trusted":false}`} {
		if !contains(line, want) {
			t.Errorf("JSON lacks %s:\n%s", want, line)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// A storm of 1,000 execs of one binary, cold: one verification; every exec
// event gets the result or is counted pending.
func TestSignatureExecStormVerifiesOnce(t *testing.T) {
	bin := fixture.BuildGo(t, "arm64", "storm")
	s, fp, _, clk, c := signedFixture(t, codesign.CacheOptions{})
	poll(t, s)
	clk.t = t0.Add(time.Second)
	for i := range int32(1000) {
		fp.add(1000+i, 400, t0.Add(500*time.Millisecond).UnixNano(), "storm", bin, bin)
	}
	evs := poll(t, s)
	if len(evs) != 1000 {
		t.Fatalf("%d events", len(evs))
	}
	signed := 0
	for _, ev := range evs {
		if ev.Has&csBits == csBits {
			if ev.Process.CodeSignature.SigningID != "a.out" || ev.Process.CodeSignature.Status != statusAdHoc {
				t.Fatalf("%+v", ev.Process.CodeSignature)
			}
			signed++
		}
	}
	st := s.Stats().Signatures
	if signed+int(st.PendingAtEmit) != 1000 || st.Lookups != 1001 { // and the shell's
		t.Fatalf("%d signed, sensor %+v", signed, st)
	}
	if cs := c.Stats(); cs.Verified != 1 || cs.Hits+cs.Misses != 1000 {
		t.Fatalf("cache %+v", cs)
	}
	t.Logf("%d of 1000 exec events signed within the budget (%d pending at emit)", signed, st.PendingAtEmit)
}

// A file replaced (renamed over) between two execs is verified again; the
// second exec carries the new file's signature.
func TestSignatureFileReplacedBetweenPolls(t *testing.T) {
	sentry := fixture.SentryCLI(t)
	adhoc := fixture.BuildGo(t, "arm64", "tool")
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	fixture.CopyExecutable(t, adhoc, exe)
	s, fp, _, clk, c := signedFixture(t, codesign.CacheOptions{})
	warm(t, c, exe)
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(810, 400, t0.Add(500*time.Millisecond).UnixNano(), "tool", exe, exe)
	ev := byPID(poll(t, s), 810, "exec")
	if ev == nil || ev.Process.CodeSignature.SigningID != "a.out" {
		t.Fatalf("first exec %+v", ev)
	}
	fixture.CopyExecutable(t, sentry, exe+".new")
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}
	warm(t, c, exe)
	clk.t = t0.Add(2 * time.Second)
	fp.add(811, 400, t0.Add(1500*time.Millisecond).UnixNano(), "tool", exe, exe)
	ev = byPID(poll(t, s), 811, "exec")
	if ev == nil || ev.Process.CodeSignature != sentryCS || ev.Process.Hash.SHA256 != sentrySHA256 {
		t.Fatalf("exec of the replaced file %+v", ev)
	}
	if st := c.Stats(); st.Verified != 2 {
		t.Fatalf("cache %+v", st)
	}
}

// A file over the cache's size limit is not read: on a macOS host the
// event says so in status, without exists/trusted or hash; on Linux it
// carries nothing.
func TestSignatureTooLarge(t *testing.T) {
	bin := fixture.BuildGo(t, "arm64", "big")
	for _, osType := range []string{"macos", "linux"} {
		s, fp, _, clk, c := signedFixture(t, codesign.CacheOptions{MaxFileSize: 64 << 10})
		s.opt.Host.OS.Type = osType
		poll(t, s)
		clk.t = t0.Add(time.Second)
		fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "big", bin, bin)
		ev := byPID(poll(t, s), 812, "exec")
		want := ecs.CodeSignature{}
		if osType == "macos" {
			want.Status = codesign.StatusTooLarge
		}
		if ev == nil || ev.Process.CodeSignature != want || ev.Has&csBits != 0 || ev.Process.Hash.SHA256 != "" {
			t.Fatalf("%s: %+v", osType, ev)
		}
		if st := c.Stats(); st.Verified != 0 || st.TooLarge != 1 {
			t.Fatalf("%s: cache %+v", osType, st)
		}
	}
}

// On Linux every executable is ELF: the event carries its hash and no
// code_signature (exists=false would read as "unsigned").
func TestSignatureNonMachOHashOnly(t *testing.T) {
	elf := make([]byte, 8192)
	copy(elf, "\x7fELF\x02\x01\x01")
	exe := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(exe, elf, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, osType := range []string{"linux", "macos"} {
		s, fp, _, clk, c := signedFixture(t, codesign.CacheOptions{})
		s.opt.Host.OS.Type = osType
		info := warm(t, c, exe)
		if info.MachO || info.SHA256 == "" {
			t.Fatalf("%+v", info)
		}
		poll(t, s)
		clk.t = t0.Add(time.Second)
		fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "prog", exe, exe)
		ev := byPID(poll(t, s), 812, "exec")
		if ev == nil || ev.Process.CodeSignature != (ecs.CodeSignature{}) || ev.Has&(csBits|parentBits) != 0 || ev.Process.Hash.SHA256 != info.SHA256 {
			t.Fatalf("%s: %+v", osType, ev)
		}
	}
}

// slowSignatures never finishes a verification until done is set; its
// Await advances the test clock by the time it is allowed to wait.
type slowSignatures struct {
	clk     *clock
	done    bool
	waits   []time.Duration
	lookups int
}

var slowInfo = codesign.Info{Checked: true, MachO: true, Exists: true, Trusted: true, Status: "trusted", SigningID: "com.example.slow", SHA256: "ab"}

func (f *slowSignatures) Lookup(path string) (codesign.Info, codesign.Key, bool) {
	f.lookups++
	return codesign.Info{Status: codesign.StatusPending}, codesign.Key{Ino: uint64(len(path))}, false
}

func (f *slowSignatures) Await(k codesign.Key, d time.Duration) (codesign.Info, bool) {
	if f.done {
		return slowInfo, true
	}
	f.waits = append(f.waits, d)
	f.clk.t = f.clk.t.Add(d)
	return codesign.Info{Status: codesign.StatusPending}, false
}

// A poll whose verifications do not finish waits the budget in total, not
// per event, and emits its events without code_signature; the records get
// the result later, for their later events.
func TestSignaturePendingWithinBudget(t *testing.T) {
	s, fp, fs, clk := newFixture()
	slow := &slowSignatures{clk: clk}
	s.opt.Signatures = slow
	s.opt.SignatureBudget = 40 * time.Millisecond
	poll(t, s)
	clk.t = t0.Add(time.Second)
	for i, p := range []string{"/a", "/bb", "/ccc"} {
		fp.add(int32(810+i), 400, t0.Add(500*time.Millisecond).UnixNano(), "x", p, p)
	}
	before := clk.t
	evs := poll(t, s)
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	var total time.Duration
	for _, d := range slow.waits {
		total += d
	}
	nwaits := len(slow.waits)
	if total != 40*time.Millisecond || clk.t.Sub(before) != 40*time.Millisecond {
		t.Fatalf("waits %v (total %v), clock moved %v", slow.waits, total, clk.t.Sub(before))
	}
	for _, ev := range evs {
		if ev.Process.CodeSignature != (ecs.CodeSignature{}) || ev.Has&(csBits|parentBits) != 0 || ev.Process.Hash.SHA256 != "" {
			t.Fatalf("pending event carries %+v", ev.Process)
		}
	}
	if st := s.Stats().Signatures; st.PendingAtEmit != 3 || st.WaitNanos != uint64(40*time.Millisecond) {
		t.Fatalf("sensor %+v", st)
	}
	// The result arrives: the next event of the process (a connection,
	// then a child's exec through process events) carries it, with no
	// new lookup and no wait.
	slow.done = true
	lookups := slow.lookups
	clk.t = t0.Add(2 * time.Second)
	fs.conns = append(fs.conns, conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 810))
	net := byPID(poll(t, s), 810, "connection_attempted")
	want := ecs.CodeSignature{Exists: true, Trusted: true, Status: "trusted", SigningID: "com.example.slow"}
	if net == nil || net.Process.CodeSignature != want || net.Has&csBits != csBits || net.Process.Hash.SHA256 != "" {
		t.Fatalf("network event %+v", net)
	}
	fp.add(900, 811, t0.Add(2100*time.Millisecond).UnixNano(), "x", "/dddd", "/dddd")
	clk.t = t0.Add(2200 * time.Millisecond)
	ev := byPID(s.HandleProcessEvents(nil, []procevents.Event{fork(900, 811), execEv(900)}), 900, "exec")
	if ev == nil || ev.Process.Parent.CodeSignature != want || ev.Has&parentBits != parentBits || ev.Process.Hash.SHA256 != "ab" {
		t.Fatalf("child exec %+v", ev)
	}
	if slow.lookups != lookups+1 { // the child's own executable only
		t.Fatalf("%d lookups, want %d", slow.lookups, lookups+1)
	}
	if len(slow.waits) != nwaits {
		t.Fatalf("waited again: %v", slow.waits)
	}
}

// With the record final, an event costs no allocation more than without
// signatures.
func TestSignatureWarmEventAllocs(t *testing.T) {
	sentry := fixture.SentryCLI(t)
	s, fp, _, clk, c := signedFixture(t, codesign.CacheOptions{})
	warm(t, c, sentry)
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "sentry-cli", sentry, sentry)
	poll(t, s)
	p := s.lookup(812)
	if p == nil || p.sig.state != sigFinal {
		t.Fatalf("record %+v", p)
	}
	signed := testing.AllocsPerRun(200, func() { s.startEvent(p, 1, 1, "exec") })
	sig := s.opt.Signatures
	s.opt.Signatures = nil
	plain := testing.AllocsPerRun(200, func() { s.startEvent(p, 1, 1, "exec") })
	s.opt.Signatures = sig
	if signed != plain {
		t.Fatalf("%v allocations per signed event, %v without signatures", signed, plain)
	}
	ev := &ecs.Event{}
	if n := testing.AllocsPerRun(200, func() { fillSignature(ev, &p.sig, true); fillParentSignature(ev, &p.sig) }); n != 0 {
		t.Fatalf("fill: %v allocations", n)
	}
}

// BenchmarkSignedExecEvent is the cost of an exec event whose process and
// parent records are final (warm cache), against the same event without
// signatures.
func BenchmarkSignedExecEvent(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "plain"
		if on {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			s, fp, _, clk := newFixture()
			s.opt.Signatures = &slowSignatures{clk: clk, done: true}
			poll(b, s)
			fp.add(812, 400, t0.UnixNano(), "x", "/x", "/x")
			poll(b, s)
			p := s.lookup(812)
			par := s.lookup(400)
			s.resolveSignature(&p.sig, "/x", 0)
			s.resolveSignature(&par.sig, "/bin/zsh", 0)
			if !on {
				s.opt.Signatures = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				s.startEvent(p, 1, 1, "exec")
			}
		})
	}
}

// BenchmarkSignatureLookupWarm is the per-process cost of the lookup at a
// record's first read: one stat and a map hit.
func BenchmarkSignatureLookupWarm(b *testing.B) {
	bin := fixture.BuildGo(b, "arm64", "warm")
	c := codesign.NewCache(codesign.CacheOptions{Verify: codesign.Options{Arch: "arm64"}})
	defer c.Close()
	if _, k, ok := c.Lookup(bin); !ok {
		c.Await(k, time.Minute)
	}
	s, _, _, _ := newFixture()
	s.opt.Signatures = c
	var r sigRecord
	b.ReportAllocs()
	for b.Loop() {
		s.lookupSignature(&r, bin)
	}
	if r.state != sigFinal {
		b.Fatalf("%+v", r)
	}
}

// uncachedSignatures queues every file and finishes it uncached (the file
// changed while read) before the sensor asks.
type uncachedSignatures struct{ lookups int }

func (f *uncachedSignatures) Lookup(path string) (codesign.Info, codesign.Key, bool) {
	f.lookups++
	return codesign.Info{Status: codesign.StatusPending}, codesign.Key{Ino: uint64(f.lookups)}, false
}

func (f *uncachedSignatures) Await(codesign.Key, time.Duration) (codesign.Info, bool) {
	return codesign.Info{}, false
}

// A deleted executable says "not found"; one whose result is lost (not
// cached: changed while read) is looked up once more, then reported
// changed; neither claims exists or trusted.
func TestSignatureDeletedAndChanged(t *testing.T) {
	s, fp, _, clk, _ := signedFixture(t, codesign.CacheOptions{})
	poll(t, s)
	clk.t = t0.Add(time.Second)
	gone := filepath.Join(t.TempDir(), "deleted")
	fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "deleted", gone, gone)
	ev := byPID(poll(t, s), 812, "exec")
	if ev == nil || ev.Process.CodeSignature != (ecs.CodeSignature{Status: codesign.StatusNotFound}) || ev.Has&csBits != 0 {
		t.Fatalf("deleted: %+v", ev)
	}

	s, fp, _, clk = newFixture()
	f := &uncachedSignatures{}
	s.opt.Signatures = f
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "w", "/w", "/w")
	ev = byPID(poll(t, s), 812, "exec")
	if ev == nil || ev.Process.CodeSignature != (ecs.CodeSignature{Status: codesign.StatusChanged}) || ev.Has&csBits != 0 {
		t.Fatalf("changed: %+v", ev)
	}
	if st := s.Stats().Signatures; st.Retries != 2 || f.lookups != 4 { // the process and the shell, twice each
		t.Fatalf("sensor %+v, %d lookups", st, f.lookups)
	}
}

// BenchmarkPollColdBinary is the latency of a poll that finds one new
// process whose executable (sentry-cli, 28.6 MB) was never seen: with no
// budget the poll does not wait; with the default budget it waits at most
// the budget, and the event leaves without the signature when the worker
// needs longer.
func BenchmarkPollColdBinary(b *testing.B) {
	sentry := fixture.SentryCLI(b)
	for _, budget := range []time.Duration{-1, DefaultSignatureBudget} {
		b.Run("budget="+max(budget, 0).String(), func(b *testing.B) {
			dir := b.TempDir()
			c := codesign.NewCache(codesign.CacheOptions{Verify: codesign.Options{Arch: "arm64"}})
			defer c.Close()
			s, fp, _, _ := newFixture()
			s.opt.Now = time.Now
			s.opt.Signatures, s.opt.SignatureBudget = c, budget
			poll(b, s)
			pid := int32(1000)
			signed := 0
			for b.Loop() {
				b.StopTimer()
				exe := filepath.Join(dir, "cold")
				fixture.CopyExecutable(b, sentry, exe+".new")
				if err := os.Rename(exe+".new", exe); err != nil { // a new inode: a miss
					b.Fatal(err)
				}
				pid++
				fp.add(pid, 400, time.Now().UnixNano(), "cold", exe, exe)
				b.StartTimer()
				evs := poll(b, s)
				b.StopTimer()
				if ev := byPID(evs, int64(pid), "exec"); ev != nil && ev.Process.CodeSignature.Status != "" {
					signed++
				}
				_, k, _ := c.Lookup(exe)
				c.Await(k, time.Minute)
				fp.remove(pid)
				poll(b, s)
				b.StartTimer()
			}
			b.ReportMetric(float64(signed)/float64(b.N), "signed/op")
		})
	}
}

// BenchmarkPollWhileVerifying is a poll of ten new processes of a known
// binary, idle and while another goroutine verifies sentry-cli (28.6 MB)
// in a loop, as the cache's worker does at a first sighting: the poll
// does not wait for it.
func BenchmarkPollWhileVerifying(b *testing.B) {
	sentry := fixture.SentryCLI(b)
	bin := fixture.BuildGo(b, "arm64", "known")
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "verifying"
		}
		b.Run(name, func(b *testing.B) {
			c := codesign.NewCache(codesign.CacheOptions{Verify: codesign.Options{Arch: "arm64"}})
			defer c.Close()
			if _, k, ok := c.Lookup(bin); !ok {
				c.Await(k, time.Minute)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if busy {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
							codesign.VerifyFile(sentry, codesign.Options{Arch: "arm64"})
						}
					}
				})
			}
			s, fp, _, _ := newFixture()
			s.opt.Now = time.Now
			s.opt.Signatures = c
			poll(b, s)
			pid := int32(1000)
			for b.Loop() {
				b.StopTimer()
				for range 10 {
					pid++
					fp.add(pid, 400, time.Now().UnixNano(), "known", bin, bin)
				}
				b.StartTimer()
				if evs := poll(b, s); len(evs) != 10 || evs[0].Process.CodeSignature.SigningID != "a.out" {
					b.Fatalf("%d events", len(evs))
				}
				b.StopTimer()
				for p := pid - 9; p <= pid; p++ {
					fp.remove(p)
				}
				poll(b, s)
				b.StartTimer()
			}
			close(stop)
			wg.Wait()
		})
	}
}

// BenchmarkFillSignature is the per-event work of a final record: a copy.
func BenchmarkFillSignature(b *testing.B) {
	r := sigRecord{state: sigFinal, checked: true, cs: sentryCS, sha256: sentrySHA256}
	ev := &ecs.Event{}
	b.ReportAllocs()
	for b.Loop() {
		fillSignature(ev, &r, true)
		fillParentSignature(ev, &r)
	}
}

// gateSignatures keeps every verification pending until open is set; it
// is safe for the Loop's goroutine and the test's.
type gateSignatures struct{ open atomic.Bool }

func (g *gateSignatures) Lookup(path string) (codesign.Info, codesign.Key, bool) {
	return codesign.Info{Status: codesign.StatusPending}, codesign.Key{Ino: uint64(len(path))}, false
}

func (g *gateSignatures) Await(codesign.Key, time.Duration) (codesign.Info, bool) {
	if g.open.Load() {
		return slowInfo, true
	}
	return codesign.Info{Status: codesign.StatusPending}, false
}

// Under a Loop the poll does not wait: while the batch of a pending exec
// is held, the next process is read at once; when the results come both
// batches leave, in order, with the fields.
func TestLoopHoldsBatchForSignatures(t *testing.T) {
	g := &gateSignatures{}
	q := NewProcessEvents(0)
	l := startLoopWith(t, Options{Signatures: g, SignatureBudget: time.Hour}, LoopOptions{ProcessEvents: q}, nil)
	now := time.Now().UnixNano()
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) { fp.add(812, 400, now, "slow", "/slow", "/slow") })
	q.Put([]procevents.Event{fork(812, 400), execEv(812)})
	l.waitStats(t, "the first exec held", func(st Stats, _ LoopStats) bool { return st.ProcessEvents == 1 })
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) { fp.add(813, 400, now+1, "slow", "/slower", "/slower") })
	q.Put([]procevents.Event{fork(813, 400), execEv(813)})
	st, ls := l.waitStats(t, "the second exec read while the first is held", func(st Stats, _ LoopStats) bool { return st.ProcessEvents == 2 })
	if ls.Batches != 1 { // the first poll's only
		t.Fatalf("a held batch left: %+v", ls)
	}
	g.open.Store(true)
	evs, _ := l.events(t, 2)
	want := ecs.CodeSignature{Exists: true, Trusted: true, Status: "trusted", SigningID: "com.example.slow"}
	for i, pid := range []int64{812, 813} {
		ev := evs[i]
		if ev.Process.PID != pid || ev.Process.CodeSignature != want || ev.Has&(csBits|parentBits) != csBits|parentBits || ev.Process.Hash.SHA256 != "ab" {
			t.Fatalf("event %d: pid %d %+v", i, ev.Process.PID, ev.Process.CodeSignature)
		}
	}
	if st.Signatures.PendingAtEmit != 0 {
		t.Fatalf("%+v", st.Signatures)
	}
}

// A verification that does not end within the budget: the batch leaves
// without the fields, counted.
func TestLoopReleasesHeldBatchAfterBudget(t *testing.T) {
	g := &gateSignatures{}
	q := NewProcessEvents(0)
	l := startLoopWith(t, Options{Signatures: g, SignatureBudget: time.Millisecond}, LoopOptions{ProcessEvents: q}, nil)
	l.w.edit(func(fp *fakeProcs, _ *fakeSocks) { fp.add(812, 400, time.Now().UnixNano(), "slow", "/slow", "/slow") })
	q.Put([]procevents.Event{fork(812, 400), execEv(812)})
	evs, _ := l.events(t, 1)
	if ev := evs[0]; ev.Process.PID != 812 || ev.Process.CodeSignature != (ecs.CodeSignature{}) || ev.Has&(csBits|parentBits) != 0 {
		t.Fatalf("%+v", ev.Process)
	}
	l.waitStats(t, "the count", func(st Stats, _ LoopStats) bool { return st.Signatures.PendingAtEmit == 1 })
}

// droppingSignatures refuses the first n lookups (queue full), then
// answers at once.
type droppingSignatures struct{ n, lookups int }

func (f *droppingSignatures) Lookup(string) (codesign.Info, codesign.Key, bool) {
	f.lookups++
	if f.lookups <= f.n {
		return codesign.Info{Status: codesign.StatusDropped}, codesign.Key{}, false
	}
	return slowInfo, codesign.Key{}, true
}

func (f *droppingSignatures) Await(codesign.Key, time.Duration) (codesign.Info, bool) {
	return codesign.Info{}, false
}

// A record refused by a full queue says so on its event and is looked up
// again at its next one; SetSignatures makes every record look up again.
func TestSignatureDroppedRetriedAndSetSignatures(t *testing.T) {
	s, fp, fs, clk := newFixture()
	f := &droppingSignatures{n: 4} // the process's and the shell's, at their read and again at the event
	s.opt.Signatures = f
	poll(t, s)
	clk.t = t0.Add(time.Second)
	fp.add(812, 400, t0.Add(500*time.Millisecond).UnixNano(), "x", "/x", "/x")
	ev := byPID(poll(t, s), 812, "exec")
	if ev == nil || ev.Process.CodeSignature != (ecs.CodeSignature{Status: codesign.StatusDropped}) || ev.Has&csBits != 0 {
		t.Fatalf("%+v", ev)
	}
	clk.t = t0.Add(2 * time.Second)
	fs.conns = append(fs.conns, conn(protoTCP, "192.168.1.10:52000", "93.184.216.34:443", socket.SynSent, 812))
	net := byPID(poll(t, s), 812, "connection_attempted")
	if net == nil || net.Process.CodeSignature.SigningID != "com.example.slow" || net.Has&csBits != csBits {
		t.Fatalf("%+v", net)
	}
	g := &droppingSignatures{}
	s.SetSignatures(g, 0)
	clk.t = t0.Add(3 * time.Second)
	fs.conns = append(fs.conns, conn(protoTCP, "192.168.1.10:52001", "93.184.216.34:443", socket.SynSent, 812))
	if net := byPID(poll(t, s), 812, "connection_attempted"); net == nil || net.Process.CodeSignature.SigningID != "com.example.slow" || g.lookups != 1 {
		t.Fatalf("after SetSignatures: %+v, %d lookups", net, g.lookups)
	}
}
