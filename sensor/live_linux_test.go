//go:build linux

package sensor

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// buildHelper compiles testdata/helper and copies it into a fresh folder
// under the given name.
func buildHelper(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/helper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build helper: %v\n%s", err, out)
	}
	return bin
}

// startHelper starts bin with args and waits for its "ready" line. The
// helper lives until the test ends (its stdin is closed then).
func startHelper(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper %s: %q, %v", filepath.Base(bin), line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd
}

// loopbackListener accepts and holds connections on 127.0.0.1 until the
// test ends.
func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln
}

// TestLiveRunnerConnection runs the real Linux collectors against a real
// process named com.apple.automator.runner that connects to a loopback
// listener, and checks the start and network events the pipeline emits.
func TestLiveRunnerConnection(t *testing.T) {
	runner := buildHelper(t, "com.apple.automator.runner")
	ln := loopbackListener(t)
	port := ln.Addr().(*net.TCPAddr).Port

	pt, err := proc.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	st, err := socket.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hi, err := host.Read()
	if err != nil {
		t.Fatal(err)
	}
	s := New(pt, st, Options{Host: hi, UserName: UserName})
	if _, err := s.Poll(nil); err != nil { // learn what already runs
		t.Fatal(err)
	}

	cmd := startHelper(t, runner, "connect", ln.Addr().String())
	pid := int64(cmd.Process.Pid)

	var start, connect *ecs.Event
	const maxPolls = 100
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for polls := 0; polls < maxPolls && (start == nil || connect == nil); polls++ {
		evs, err := s.Poll(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Process.PID != pid {
				continue
			}
			switch ev.Event.Action {
			case "exec":
				start = ev
			case "connection_attempted":
				if ev.Destination.Port == int64(port) {
					connect = ev
				}
			}
		}
		<-tick.C
	}
	if start == nil || connect == nil {
		t.Fatalf("after %d polls: start=%v connect=%v (stats %+v)", maxPolls, start != nil, connect != nil, s.Stats())
	}
	if start.Process.Name != "com.apple.automator.runner" || start.Process.Executable != runner ||
		start.Process.Parent.PID != int64(os.Getpid()) || start.Host.OS.Type != "linux" {
		t.Errorf("start event: name %q executable %q parent %d os %q", start.Process.Name, start.Process.Executable,
			start.Process.Parent.PID, start.Host.OS.Type)
	}
	if len(start.Process.Args) != 3 || start.Process.Args[1] != "connect" {
		t.Errorf("start args %q", start.Process.Args)
	}
	if connect.Process.EntityID != start.Process.EntityID || connect.Process.Name != "com.apple.automator.runner" ||
		connect.Destination.IP != "127.0.0.1" || connect.Network.Transport != "tcp" || connect.Network.Direction != "egress" ||
		connect.Network.Type != "ipv4" || connect.Source.IP != "127.0.0.1" {
		t.Errorf("network event: %+v", connect)
	}
	if connect.Event.Sequence <= start.Event.Sequence {
		t.Errorf("sequence: start %d, connect %d", start.Event.Sequence, connect.Event.Sequence)
	}
	if connect.User.ID != strconv.Itoa(os.Getuid()) {
		t.Errorf("user.id %q", connect.User.ID)
	}
}

// BenchmarkPollLinux is one full poll of this machine's real process and
// socket tables (list both, diff, attribute): the cost the daemon pays
// every interval when nothing changes.
func BenchmarkPollLinux(b *testing.B) {
	pt, err := proc.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer pt.Close()
	st, err := socket.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	hi, err := host.Read()
	if err != nil {
		b.Fatal(err)
	}
	s := New(pt, st, Options{Host: hi, UserName: UserName})
	var evs []*ecs.Event
	for range 3 {
		evs, _ = s.Poll(evs[:0])
	}
	b.ReportAllocs()
	for b.Loop() {
		evs, err = s.Poll(evs[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	st2 := s.Stats()
	b.ReportMetric(float64(st2.Processes), "procs")
	b.ReportMetric(float64(st2.Connections), "conns")
}
