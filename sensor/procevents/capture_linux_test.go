package procevents

import (
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var capture = flag.Bool("capture", false, "rewrite testdata/connector/*.bin from this machine's kernel")

// TestCaptureFixtures rewrites the proc connector fixtures from the live
// kernel. Run as root with
//
//	go test ./sensor/procevents/ -run TestCaptureFixtures -args -capture
//
// It subscribes, runs known commands and keeps, for each kind of message,
// the first datagram of one of those commands (see testdata/README.md);
// then update the expected values in connector_test.go (pids and
// timestamps change with every capture).
func TestCaptureFixtures(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite the proc connector fixtures")
	}
	src := openLive(t)
	var (
		mu  sync.Mutex
		all [][]byte
	)
	src.raw = func(b []byte) {
		mu.Lock()
		all = append(all, append([]byte(nil), b...))
		mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var evs []Event
		for {
			var err error
			if evs, err = src.Read(evs); errors.Is(err, ErrClosed) {
				return
			}
		}
	}()
	run := func(name string, args ...string) int32 {
		cmd := exec.Command(name, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := int32(cmd.Process.Pid)
		cmd.Wait()
		return pid
	}
	exit3 := run("/bin/sh", "-c", "exit 3")
	killed := run("/bin/sh", "-c", "kill -9 $$")
	comm := run("/bin/sh", "-c", "printf renamed > /proc/self/comm")
	thread := run("python3", "-c", "import threading; t = threading.Thread(target=lambda: None); t.start(); t.join()")
	time.Sleep(300 * time.Millisecond) // let the last messages arrive
	src.Close()
	<-done

	ne := binary.NativeEndian
	want := map[string]func(b []byte) bool{}
	ev := func(b []byte) (what uint32, d []byte, ok bool) {
		if len(b) < nlmsgHdrLen+cnMsgLen+offData {
			return 0, nil, false
		}
		e := b[nlmsgHdrLen+cnMsgLen:]
		return ne.Uint32(e), e[offData:], true
	}
	i32 := func(d []byte, off int) int32 {
		if len(d) < off+4 {
			return -1
		}
		return int32(ne.Uint32(d[off:]))
	}
	want["ack"] = func(b []byte) bool { w, _, ok := ev(b); return ok && w == procEventNone }
	want["fork"] = func(b []byte) bool { w, d, ok := ev(b); return ok && w == procEventFork && i32(d, 12) == exit3 }
	want["exec"] = func(b []byte) bool { w, d, ok := ev(b); return ok && w == procEventExec && i32(d, 4) == exit3 }
	want["exit"] = func(b []byte) bool { w, d, ok := ev(b); return ok && w == procEventExit && i32(d, 4) == exit3 }
	want["exit_killed"] = func(b []byte) bool { w, d, ok := ev(b); return ok && w == procEventExit && i32(d, 4) == killed }
	want["comm"] = func(b []byte) bool { w, d, ok := ev(b); return ok && w == 0x200 && i32(d, 4) == comm }
	want["thread_fork"] = func(b []byte) bool {
		w, d, ok := ev(b)
		return ok && w == procEventFork && i32(d, 12) == thread && i32(d, 8) != thread
	}
	want["thread_exit"] = func(b []byte) bool {
		w, d, ok := ev(b)
		return ok && w == procEventExit && i32(d, 4) == thread && i32(d, 0) != thread
	}
	dir := filepath.Join("testdata", "connector")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, match := range want {
		found := false
		for _, b := range all {
			if match(b) {
				if err := os.WriteFile(filepath.Join(dir, name+".bin"), b, 0o644); err != nil {
					t.Fatal(err)
				}
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s message among %d captured", name, len(all))
		}
	}
	t.Logf("pids: exit3 %d killed %d comm %d thread %d; %d datagrams", exit3, killed, comm, thread, len(all))
}
