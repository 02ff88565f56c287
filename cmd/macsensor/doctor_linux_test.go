//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/macsensor/macsensor/internal/doctor"
)

// The doctor end to end: the built binary run as root, as nobody, without
// loopback, with a read-only temporary folder and beside a running daemon.

// doctorChecks are the checks of a run, in order.
var doctorChecks = []string{"workdir", "host.identity", "loopback", "capture.open", "process.poll", "process.decode",
	"process.events", "network.connection", "network.decode", "capture.syn", "capture.dns", "engine.seed",
	"codesign", "install.files", "install.alert_log", "install.status"}

// doctorEnvSecret is put in the doctor's environment: it must reach no
// child and no bundle.
const doctorEnvSecret = "MACSENSOR_DOCTOR_TEST_SECRET=hunter2-7f3a9c"

type doctorRun struct {
	code   int
	report doctor.Report
	stdout string
	stderr string
}

// runDoctor runs `macsensor doctor --json args...` as cred (nil: as this
// process) with tmp as TMPDIR, in a new network namespace when newNet.
func runDoctor(t *testing.T, bin string, cred *syscall.Credential, tmp string, newNet bool, args ...string) doctorRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"doctor", "--json"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp, doctorEnvSecret}
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if newNet {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run doctor: %v", err)
	}
	r := doctorRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if err := json.Unmarshal(stdout.Bytes(), &r.report); err != nil {
		t.Fatalf("doctor --json: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		t.Errorf("the doctor (built with -race) reported a data race:\n%s", r.stderr)
	}
	return r
}

// statuses returns status by check name and fails unless the report names
// exactly doctorChecks, in order.
func (r doctorRun) statuses(t *testing.T) map[string]doctor.Result {
	t.Helper()
	var names []string
	m := map[string]doctor.Result{}
	for _, c := range r.report.Checks {
		names = append(names, c.Name)
		m[c.Name] = c
	}
	if !slices.Equal(names, doctorChecks) {
		t.Errorf("checks %q, want %q", names, doctorChecks)
	}
	return m
}

// expect compares statuses and, where given, a substring of the reason.
func (r doctorRun) expect(t *testing.T, want map[string]doctor.Status, reasons map[string]string) {
	t.Helper()
	got := r.statuses(t)
	for name, st := range want {
		if got[name].Status != st {
			t.Errorf("%s: %s (%s%s), want %s", name, got[name].Status, got[name].Value, got[name].Reason, st)
		}
	}
	for name, sub := range reasons {
		if !strings.Contains(got[name].Reason, sub) {
			t.Errorf("%s: reason %q, want it to contain %q", name, got[name].Reason, sub)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// doctorEnv builds the binary (with -race when the tests run with it) and
// copies it into a folder anyone can read, so that nobody can run it. The
// e2e environment holds the host-wide e2e lock for the test: the doctor's
// children are named automator, and another test's daemon must not see them.
func doctorEnv(t *testing.T) (e *e2eEnv, bin, tmp string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("doctor e2e: needs root (it runs the doctor as root and as nobody)")
	}
	e = newE2E(t, e2eRaceEnabled()) // skips in -short mode
	built := e.bins.daemon
	dir, err := os.MkdirTemp("", "macsensor-doctor-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "macsensor")
	data, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp = filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o1777)
	return e, bin, tmp
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// TestDoctorRoot: as root every check that applies passes, the bundle is
// 0600, replays, and holds no environment and no other process's args.
func TestDoctorRoot(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	bundle := filepath.Join(t.TempDir(), "doctor.tar.gz")
	r := runDoctor(t, bin, nil, tmp, false, "--bundle", bundle)
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	notInstalled := "not installed: no /Library/LaunchDaemons/com.macsensor.daemon.plist"
	want := map[string]doctor.Status{}
	for _, n := range doctorChecks {
		want[n] = doctor.Pass
	}
	want["install.files"], want["install.alert_log"], want["install.status"] = doctor.Skip, doctor.Skip, doctor.Skip
	r.expect(t, want, map[string]string{
		"install.files": notInstalled, "install.alert_log": notInstalled, "install.status": notInstalled})
	if !r.report.System.Root || r.report.System.GOOS != "linux" || !r.report.Summary.OK ||
		r.report.Summary.Passed != 13 || r.report.Summary.Skipped != 3 {
		t.Errorf("system %+v summary %+v", r.report.System, r.report.Summary)
	}

	fi, err := os.Stat(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode %04o, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	b, err := doctor.ReadBundle(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range b.Replay() {
		if res.Status != doctor.Pass {
			t.Errorf("replay %s: %s %s", res.Name, res.Status, res.Reason)
		}
	}
	// Every file, decompressed, is free of the doctor's environment.
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		data, _ := io.ReadAll(tr)
		if bytes.Contains(data, []byte("hunter2-7f3a9c")) {
			t.Errorf("%s holds the doctor's environment", h.Name)
		}
		if h.Mode != 0o600 {
			t.Errorf("%s: mode %o in the tar", h.Name, h.Mode)
		}
	}
	f := b.Report.Facts
	for _, n := range names {
		if pid, ok := strings.CutPrefix(n, "proc/cmdline/"); ok && pid != itoa32(f.Automator.PID) && pid != itoa32(f.Runner.PID) {
			t.Errorf("%s: arguments of a process that is not the doctor's child", n)
		}
	}
	for _, n := range []string{"README.txt", "system.json", "report.json", "socket/index.json", "capture/lo.pcap",
		"procevents/events.json", "procevents/connector/00",
		"proc/cmdline/" + itoa32(f.Automator.PID), "proc/cmdline/" + itoa32(f.Runner.PID)} {
		if !slices.Contains(names, n) {
			t.Errorf("bundle has no %s (has %q)", n, names)
		}
	}
	if !bytes.Contains(b.Files["README.txt"], []byte("No argument of any other process")) {
		t.Error("the README does not say that other processes' arguments are left out")
	}
}

// TestDoctorNobody: run as nobody, the checks that need root are skipped
// and say so; the others pass; the exit status is 0.
func TestDoctorNobody(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	r := runDoctor(t, bin, nobody, tmp, false)
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	want := map[string]doctor.Status{
		"workdir": doctor.Pass, "host.identity": doctor.Pass, "loopback": doctor.Pass,
		"capture.open": doctor.Skip, "process.poll": doctor.Pass, "process.decode": doctor.Pass,
		"network.connection": doctor.Pass, "network.decode": doctor.Pass,
		"capture.syn": doctor.Skip, "capture.dns": doctor.Skip, "engine.seed": doctor.Pass, "codesign": doctor.Pass,
		"install.files": doctor.Skip, "install.alert_log": doctor.Skip, "install.status": doctor.Skip,
	}
	const needsRoot = "needs root: run it with sudo"
	r.expect(t, want, map[string]string{"capture.open": needsRoot, "capture.syn": needsRoot, "capture.dns": needsRoot})
	// The proc connector may or may not admit a process without
	// CAP_NET_ADMIN (it does on some kernels): pass, or skipped saying why.
	if pe := r.statuses(t)["process.events"]; pe.Status == doctor.Fail {
		t.Errorf("process.events as nobody: %s %s", pe.Status, pe.Reason)
	}
	if r.report.System.Root || r.report.System.UID != 65534 {
		t.Errorf("system %+v", r.report.System)
	}
	if f := r.report.Facts.Automator; f == nil || f.UID != 65534 {
		t.Errorf("automator fact %+v, want uid 65534", f)
	}
}

// TestDoctorNoLoopback: in a network namespace of its own, loopback is
// down: the loopback check fails with the next step, the checks that need
// it are skipped, the rest run, and the exit status is 1.
func TestDoctorNoLoopback(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	r := runDoctor(t, bin, nil, tmp, true)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	r.expect(t, map[string]doctor.Status{
		"loopback": doctor.Fail, "capture.open": doctor.Skip, "network.connection": doctor.Skip,
		"capture.syn": doctor.Skip, "engine.seed": doctor.Skip, "process.poll": doctor.Pass, "host.identity": doctor.Pass,
	}, map[string]string{"loopback": "127.0.0.1", "network.connection": "needs loopback", "capture.open": "needs loopback"})
	if res := r.statuses(t)["loopback"]; res.Next == "" {
		t.Error("the loopback failure gives no next step")
	}
}

// TestDoctorReadOnlyTemp: with a temporary folder it cannot write, the
// doctor says so and what to do, skips what needs the folder, and exits 1.
func TestDoctorReadOnlyTemp(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	ro := filepath.Join(tmp, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	r := runDoctor(t, bin, nobody, ro, false)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	r.expect(t, map[string]doctor.Status{
		"workdir": doctor.Fail, "process.poll": doctor.Skip, "network.connection": doctor.Skip,
		"engine.seed": doctor.Skip, "host.identity": doctor.Pass, "loopback": doctor.Pass,
	}, map[string]string{"workdir": "cannot make a temporary folder in " + ro, "process.poll": "needs workdir"})
	if res := r.statuses(t)["workdir"]; !strings.Contains(res.Next, "TMPDIR") {
		t.Errorf("workdir next step %q, want it to name TMPDIR", res.Next)
	}
}

// TestDoctorBesideDaemon: a daemon already running is not disturbed: the
// doctor passes, the daemon keeps polling and writing its status, and the
// doctor touched none of the daemon's files.
func TestDoctorBesideDaemon(t *testing.T) {
	e, bin, tmp := doctorEnv(t)
	cfg := e2eFast()
	cfg.Builtin = true // the macOS seed rule: it cannot fire on Linux
	d := e.start(e.newState(&cfg))
	before := listFiles(t, d.state)
	polls := d.polls()
	r := runDoctor(t, bin, nil, tmp, false)
	if r.code != 0 || !r.report.Summary.OK {
		t.Errorf("exit %d, summary %+v", r.code, r.report.Summary)
	}
	d.waitStatus("polls after the doctor", e2eWithin, func(st *Status) bool { return st.Polls.Process > polls+3 })
	if d.hasExited() {
		t.Fatal("the daemon exited during the doctor's run")
	}
	after := listFiles(t, d.state)
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("a new file in the daemon's state folder: %s", name)
		}
	}
	if n := len(d.alerts()); n != 0 {
		t.Errorf("%d alerts in the daemon's log", n)
	}
}

func listFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !strings.HasPrefix(fi.Name(), ".status-") {
			m[p] = true
		}
		return nil
	})
	return m
}

func itoa32(n int32) string { return strconv.Itoa(int(n)) }

// TestDoctorTimeout: a --timeout too short for the run cuts it: every check
// is still reported, those cut off fail as not run (or as abandoned at the
// deadline), and the exit status is 1.
func TestDoctorTimeout(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	r := runDoctor(t, bin, nil, tmp, false, "--timeout", "50ms")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	cut := 0
	for _, c := range r.statuses(t) {
		if c.Status == doctor.Fail && (strings.Contains(c.Reason, "--timeout") || strings.Contains(c.Reason, "deadline")) {
			cut++
		}
	}
	if cut == 0 {
		t.Errorf("no check says the run's deadline cut it:\n%s", r.stdout)
	}
}

// TestDoctorDNSPortTaken: with 127.0.0.1:53 held by another program (an
// enterprise DNS client does that), the DNS check runs its responder on
// [::1]:53 instead, and the bundle's capture replays.
func TestDoctorDNSPortTaken(t *testing.T) {
	_, bin, tmp := doctorEnv(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Skipf("cannot hold 127.0.0.1:53 for the test: %v", err)
	}
	defer pc.Close()
	bundle := filepath.Join(t.TempDir(), "doctor.tar.gz")
	r := runDoctor(t, bin, nil, tmp, false, "--bundle", bundle)
	dns := r.statuses(t)["capture.dns"]
	if dns.Status != doctor.Pass || !strings.Contains(dns.Value, "from [::1]:53") {
		t.Fatalf("capture.dns: %s %q %q", dns.Status, dns.Value, dns.Reason)
	}
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := doctor.ReadBundle(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range b.Replay() {
		if res.Name == "replay.capture" && res.Status != doctor.Pass {
			t.Errorf("replay.capture: %s %s", res.Status, res.Reason)
		}
	}
}
