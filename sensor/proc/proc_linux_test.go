package proc

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary, re-executed under another name, act as a
// child that says "ready" and blocks until its stdin is closed.
const helperEnv = "PROC_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "block" {
		os.Stdout.WriteString("ready\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const runnerName = "com.apple.automator.runner"

// child is a running copy of the test binary named com.apple.automator.runner.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	path  string
}

// startChild copies the test binary to a temporary directory under the long
// name and starts it with awkward arguments; it returns once the child has
// exec'd and said so.
func startChild(t *testing.T) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), runnerName)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:   path,
		Args:   []string{runnerName, "-e", "arg with spaces", "", "caf\xe9 \u2603"},
		Env:    append(os.Environ(), helperEnv+"=block", "PROC_TEST_SECRET=must-not-appear"),
		Dir:    filepath.Dir(path),
		Stdout: w,
		Stderr: os.Stderr,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := &child{cmd: cmd, stdin: stdin, path: path}
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Wait()
	})
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	return c
}

// waitExited blocks until pid has exited, without reaping it (waitid with
// WNOWAIT): it is then a zombie.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		var info unix.Siginfo
		done <- unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waitid %d: %v", pid, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pid %d did not exit", pid)
	}
}

func openTable(t testing.TB) *Table {
	t.Helper()
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tbl.Close(); err != nil {
			t.Error(err)
		}
	})
	return tbl
}

func find(list []Entry, pid int32) (Entry, bool) {
	i := slices.IndexFunc(list, func(e Entry) bool { return e.PID == pid })
	if i < 0 {
		return Entry{}, false
	}
	return list[i], true
}

func TestListSelf(t *testing.T) {
	tbl := openTable(t)
	list, err := tbl.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 2 {
		t.Fatalf("%d processes", len(list))
	}
	for i := 1; i < len(list); i++ {
		if list[i].PID <= list[i-1].PID {
			t.Fatalf("pid %d after %d", list[i].PID, list[i-1].PID)
		}
	}
	self, ok := find(list, int32(os.Getpid()))
	if !ok {
		t.Fatalf("own pid %d not listed", os.Getpid())
	}
	if self.PPID != int32(os.Getppid()) || self.UID != uint32(os.Geteuid()) {
		t.Errorf("self = %+v, want ppid %d uid %d", self, os.Getppid(), os.Geteuid())
	}
	if want := filepath.Base(os.Args[0]); !strings.HasPrefix(want, self.CommString()) || self.CommString() == "" {
		t.Errorf("comm %q is not a prefix of %q", self.CommString(), want)
	}
}

// TestChild follows one process through its life: listed and detailed while
// it runs, gone once it has exited (zombie) and once it is reaped.
func TestChild(t *testing.T) {
	tbl := openTable(t)
	before := time.Now()
	c := startChild(t)
	pid := int32(c.cmd.Process.Pid)

	list, err := tbl.List(make([]Entry, 0, 512))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := find(list, pid)
	if !ok {
		t.Fatalf("child %d not listed", pid)
	}
	if e.PPID != int32(os.Getpid()) {
		t.Errorf("PPID = %d, want %d", e.PPID, os.Getpid())
	}
	if e.UID != uint32(os.Geteuid()) {
		t.Errorf("UID = %d, want %d", e.UID, os.Geteuid())
	}
	// btime is whole seconds and starttime is in 10 ms ticks: Start may
	// read up to a second early.
	if start := time.Unix(0, e.Start); start.Before(before.Add(-time.Minute)) || start.After(time.Now().Add(time.Second)) {
		t.Errorf("Start = %v, not within the last minute (test began %v)", start, before)
	}
	if got, want := e.CommString(), runnerName[:15]; got != want {
		t.Errorf("Comm = %q, want the kernel's 15 bytes %q", got, want)
	}

	// The one-pid read gives what the listing gave.
	var one Entry
	if err := tbl.Read(pid, &one); err != nil || one != e {
		t.Errorf("Read = %+v, %v; List had %+v", one, err, e)
	}
	if pgid, _ := unix.Getpgid(0); e.PGID != int32(pgid) {
		t.Errorf("PGID = %d, want the test's %d", e.PGID, pgid)
	}
	if sid, _ := unix.Getsid(0); e.SID != int32(sid) {
		t.Errorf("SID = %d, want the test's %d", e.SID, sid)
	}

	var d Details
	if err := tbl.Details(pid, &d); err != nil {
		t.Fatal(err)
	}
	if d.Cwd != filepath.Dir(c.path) {
		t.Errorf("Cwd = %q, want %q", d.Cwd, filepath.Dir(c.path))
	}
	if d.Path != c.path || filepath.Base(d.Path) != runnerName {
		t.Errorf("Path = %q, want %q (basename %q)", d.Path, c.path, runnerName)
	}
	if d.ExecPath != "" {
		t.Errorf("ExecPath = %q on Linux", d.ExecPath)
	}
	if !slices.Equal(d.Args, c.cmd.Args) || d.ArgsTruncated {
		t.Errorf("Args = %q (truncated %v), want %q", d.Args, d.ArgsTruncated, c.cmd.Args)
	}
	for _, a := range d.Args {
		if strings.Contains(a, "must-not-appear") {
			t.Errorf("environment in args: %q", a)
		}
	}

	// Exited, not reaped: a zombie. Listed, but its details are gone.
	c.stdin.Close()
	waitExited(t, int(pid))
	if list, err = tbl.List(list); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(list, pid); !ok {
		t.Errorf("zombie %d not listed", pid)
	}
	d = Details{Path: "stale", Args: []string{"stale"}}
	if err := tbl.Details(pid, &d); !errors.Is(err, ErrGone) {
		t.Errorf("zombie: Details err = %v, want ErrGone", err)
	}
	if d.Path != "" || d.Args != nil {
		t.Errorf("zombie: Details left %+v", d)
	}

	// Reaped: gone from the table.
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if list, err = tbl.List(list); err != nil {
		t.Fatal(err)
	}
	if e2, ok := find(list, pid); ok && e2.Start == e.Start {
		t.Errorf("reaped child still listed: %+v", e2)
	}
	if err := tbl.Details(pid, &d); !errors.Is(err, ErrGone) {
		t.Errorf("reaped: Details err = %v, want ErrGone", err)
	}
	if err := tbl.Read(pid, &one); !errors.Is(err, ErrGone) {
		t.Errorf("reaped: Read err = %v, want ErrGone", err)
	}
}

// A kernel thread has no exe link and no cmdline: Details succeeds, empty.
func TestDetailsKernelThread(t *testing.T) {
	stat, err := os.ReadFile("/proc/2/stat")
	if err != nil || !strings.HasPrefix(string(stat), "2 (kthreadd) ") {
		t.Skipf("pid 2 is not kthreadd here (%q, %v)", stat, err)
	}
	tbl := openTable(t)
	d := Details{Path: "stale"}
	if err := tbl.Details(2, &d); err != nil {
		t.Fatal(err)
	}
	if d.Path != "" || d.Args != nil || d.ArgsTruncated {
		t.Errorf("kthreadd: %+v", d)
	}
}

// TestListAllocs pins the design goal: a poll allocates nothing once warm.
func TestListAllocs(t *testing.T) {
	tbl := openTable(t)
	dst, err := tbl.List(make([]Entry, 0, 8192))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if dst, err = tbl.List(dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("List allocates %v times per call, want 0", allocs)
	}
}

func TestCloseTwice(t *testing.T) {
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func BenchmarkListLinux(b *testing.B) {
	tbl := openTable(b)
	dst := make([]Entry, 0, 8192)
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if dst, err = tbl.List(dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(dst)), "procs")
}

func BenchmarkDetailsLinux(b *testing.B) {
	tbl := openTable(b)
	pid := int32(os.Getpid())
	b.ReportAllocs()
	var d Details
	for b.Loop() {
		if err := tbl.Details(pid, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadOne is the read a process event triggers on Linux: one
// pid's entry (statx, stat) and details (exe, cmdline, cwd) — the test
// process itself.
func BenchmarkReadOne(b *testing.B) {
	tbl, err := Open()
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	pid := int32(os.Getpid())
	var e Entry
	var d Details
	b.ReportAllocs()
	for b.Loop() {
		if err := tbl.Read(pid, &e); err != nil {
			b.Fatal(err)
		}
		if err := tbl.Details(pid, &d); err != nil {
			b.Fatal(err)
		}
	}
}
